"""Throughput over a data set: evaluate.py's checkpoint mode (read, predict, score) over generated 500x375 images
(VOC val's typical size; 1,449 is its count), in float32 and bfloat16, single scale and 6 scales + flip.

Parts:
  batch  images per session run: the same 8 images through CheckpointPredictor.predict_batch in batches of each
         of --batch_sizes, one warmed-up process per configuration, interleaved for --repeats rounds (one
         precision's batch sizes at a time, for memory);
  pass   one evaluation pass per configuration, each its own process, in turn: wall time from the process start
         (TensorFlow import, graph, restore included) to the last image scored, and the times at which a quarter
         and a half of the images were scored, so the growth with the image count shows. Single scale runs
         --num_images images, 6 scales + flip --tta_images (the first ones of the same list).
DeepLabv3 ResNet-v2-101 OS16 with random weights (the time does not depend on them), images padded to the
513x513 eval crop as evaluate.py pads them; demo-generator images and labels, nothing downloaded.

Usage: .venv/bin/python bench/bench_dataset.py [--parts batch pass] [--num_images 1449] [--tta_images 24]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

STARTED = time.perf_counter()  # the pass worker's clock starts before TensorFlow is imported
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import cpu_flags_of_interest, cpu_model, interleave, median, report, serve  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
IMAGE_SIZE = (375, 500)  # height, width
TTA = ['--inference_scales', '0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '--add_flipped_images']
BATCH_IMAGES = 8
MODEL = {'model_variant': 'resnet_v2_101', 'output_stride': 16}


def make_data(work_dir, num_images):
    """Demo-generator images and labels of IMAGE_SIZE under work_dir/data, and a random model in work_dir/model;
    reused when already there."""
    sys.path.insert(0, ROOT)
    from utils.data.demo_data import make_demo_voc
    data_dir, model_dir = os.path.join(work_dir, 'data'), os.path.join(work_dir, 'model')
    list_path = os.path.join(data_dir, 'ImageSets', 'Segmentation', 'val.txt')
    if not os.path.exists(list_path) or len(open(list_path).read().split()) < num_images:
        make_demo_voc(data_dir, num_train=0, num_val=num_images, num_test=0, seed=3, image_size=IMAGE_SIZE)
    if not os.path.isdir(model_dir):
        from workloads import write_random_checkpoint

        from utils.runtime.model_config import resolve_model_params, save_model_params
        params = resolve_model_params(MODEL)
        write_random_checkpoint(model_dir, params)
        save_model_params(model_dir, params)
    return data_dir, model_dir, list_path


def batch_worker(data_dir, model_dir, precision, batch_size):
    """serve() a run that predicts the first BATCH_IMAGES images, batch_size per session run."""
    sys.path.insert(0, ROOT)
    import numpy as np
    from PIL import Image

    import deeplab_model
    from utils.runtime import predict
    from utils.runtime.model_config import DEFAULT_EVAL_CROP_SIZE, saved_model_params
    ids = open(os.path.join(data_dir, 'ImageSets', 'Segmentation', 'val.txt')).read().split()[:BATCH_IMAGES]
    images = [np.asarray(Image.open(os.path.join(data_dir, 'JPEGImages', i + '.jpg'))) for i in ids]

    def build():
        predictor = predict.CheckpointPredictor(model_dir, dict(saved_model_params(model_dir), precision=precision),
                                                deeplab_model.predict_probabilities,
                                                eval_crop_size=DEFAULT_EVAL_CROP_SIZE)

        def run():
            for start in range(0, len(images), batch_size):
                predictor.predict_batch(images[start:start + batch_size])
        return run
    return serve(build)


def pass_worker(data_dir, model_dir, list_path, precision, batch_size, count, tta):
    """Report the seconds since the process started at which each quarter of `count` images was scored, running
    evaluate.py's checkpoint mode (evaluate.checkpoint_confusions) as evaluate.main runs it."""
    sys.path.insert(0, ROOT)
    import evaluate
    from utils.common.files import read_id_list
    argv = ['--image_data_dir', os.path.join(data_dir, 'JPEGImages'), '--ground_truth_dir',
            os.path.join(data_dir, 'SegmentationClass'), '--image_list', list_path, '--model_dir', model_dir,
            '--precision', precision, '--batch_size', str(batch_size), *(TTA if tta else [])]
    args = evaluate.build_parser().parse_args(argv)
    model = evaluate.checkpoint_model(args)
    args.num_classes = model['num_classes']
    ids = read_id_list(list_path)[:count]
    marks = {count // 4, count // 2, count}
    times, total = {}, None
    for done, (_, [confusion]) in enumerate(evaluate.checkpoint_confusions(args, ids, model), 1):
        total = confusion if total is None else total + confusion
        if done == 1:
            times[1] = time.perf_counter() - STARTED
        if done in marks:
            times[done] = time.perf_counter() - STARTED
    report(times=times, pixels=int(total.sum()))
    return 0


def batch_part(args, data_dir, model_dir, log):
    results = {}
    for precision in args.precisions:  # one precision at a time: eight workers did not fit in 24 GiB
        specs = {f'{precision} batch {size}': ([sys.executable, os.path.abspath(__file__), '--work_dir',
                                                args.work_dir, '--batch_worker', precision, str(size)],
                                               {'TF_CPP_MIN_LOG_LEVEL': '2'}) for size in args.batch_sizes}
        results.update(interleave(specs, args.repeats, log, 'batch'))
    lines = [f'seconds per image over {BATCH_IMAGES} images ({IMAGE_SIZE[1]}x{IMAGE_SIZE[0]} padded to 513x513), '
             f'median / min of {args.repeats} rounds', '| configuration | s/img median / min | x batch 1 |',
             '| --- | --- | --- |']
    for label, info in results.items():
        if 'error' in info:
            lines.append(f'| {label} | fails: `{info["error"]}` | |')
            continue
        base = median(results.get(label.rsplit(' ', 1)[0] + ' 1'))
        lines.append(f'| {label} | {median(info) / BATCH_IMAGES:.3f} / {min(info["times"]) / BATCH_IMAGES:.3f} | '
                     f'{median(info) / base:.2f} |' if base else f'| {label} | {median(info) / BATCH_IMAGES:.3f} | |')
    return results, '\n'.join(lines)


def pass_part(args, data_dir, model_dir, list_path, log):
    results, lines = {}, ['| configuration | images | first image (s) | 1/4 (s) | 1/2 (s) | all (s) | images/s '
                          '(after the first) | wall (s) |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for tta in (False, True):
        count = args.tta_images if tta else args.num_images
        if not count:
            continue
        for precision in args.precisions:
            label = f'{precision} {"6 scales + flip" if tta else "1 scale"} batch {args.batch_size}'
            argv = [sys.executable, os.path.abspath(__file__), '--work_dir', args.work_dir, '--pass_worker',
                    precision, str(args.batch_size), str(count), '1' if tta else '0']
            begin = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
            wall = time.perf_counter() - begin
            reports = [json.loads(line[len('BENCH '):]) for line in done.stdout.splitlines()
                       if line.startswith('BENCH ')]
            if done.returncode or not reports:
                log(f'  pass {label}: FAILS: {done.stderr.strip().splitlines()[-1:]}')
                results[label] = {'error': done.stderr[-2000:]}
                continue
            times = {int(k): v for k, v in reports[-1]['times'].items()}
            results[label] = {'times': times, 'wall_s': wall, 'images': count}
            rate = (count - 1) / (times[count] - times[1]) if count > 1 else float('nan')
            log(f'  pass {label}: {count} images in {times[count]:.0f} s ({rate:.2f} images/s), wall {wall:.0f} s')
            lines.append(f'| {label} | {count} | {times[1]:.1f} | {times[count // 4]:.0f} | {times[count // 2]:.0f} | '
                         f'{times[count]:.0f} | {rate:.3f} | {wall:.0f} |')
    return results, '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--parts', nargs='+', choices=['batch', 'pass'], default=['batch', 'pass'],
                        help='What to measure (default: both).')
    parser.add_argument('--num_images', type=int, default=1449, help='Images of a single-scale pass (default: '
                        '%(default)s, VOC val\'s count).')
    parser.add_argument('--tta_images', type=int, default=24,
                        help='Images of a 6-scale + flip pass, 0 to skip it (default: %(default)s).')
    parser.add_argument('--precisions', nargs='+', default=['float32', 'bfloat16'], help='Default: %(default)s.')
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 2, 4, 8],
                        help='Batch sizes of the batch part (default: %(default)s).')
    parser.add_argument('--batch_size', type=int, default=None,
                        help='Batch size of the passes (default: evaluate.py\'s default).')
    parser.add_argument('--repeats', type=int, default=3, help='Rounds of the batch part (default: %(default)s).')
    parser.add_argument('--work_dir', default=os.path.join(tempfile.gettempdir(), 'bench_dataset'),
                        help='Where the generated data and model are kept for the next run (default: %(default)s).')
    parser.add_argument('--json', default=None, help='Also write every time to this JSON file.')
    parser.add_argument('--batch_worker', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--pass_worker', nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_dir, model_dir = os.path.join(args.work_dir, 'data'), os.path.join(args.work_dir, 'model')
    list_path = os.path.join(data_dir, 'ImageSets', 'Segmentation', 'val.txt')
    if args.batch_worker:
        return batch_worker(data_dir, model_dir, args.batch_worker[0], int(args.batch_worker[1]))
    if args.pass_worker:
        precision, batch_size, count, tta = args.pass_worker
        return pass_worker(data_dir, model_dir, list_path, precision, int(batch_size), int(count), tta == '1')
    if args.batch_size is None:
        sys.path.insert(0, ROOT)
        from utils.runtime.model_config import DEFAULT_PREDICT_BATCH_SIZE
        args.batch_size = DEFAULT_PREDICT_BATCH_SIZE

    def log(text):
        print(text, file=sys.stderr, flush=True)

    log(f'generating {max(args.num_images, args.tta_images, BATCH_IMAGES)} images in {data_dir} (kept for reruns)')
    make_data(args.work_dir, max(args.num_images, args.tta_images, BATCH_IMAGES))
    start, load_before = datetime.datetime.now(), os.getloadavg()
    results, tables = {}, []
    if 'batch' in args.parts:
        results['batch'], text = batch_part(args, data_dir, model_dir, log)
        tables.append(text)
    if 'pass' in args.parts:
        results['pass'], text = pass_part(args, data_dir, model_dir, list_path, log)
        tables.append(text)
    end, load_after = datetime.datetime.now(), os.getloadavg()
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores, flags {" ".join(cpu_flags_of_interest())}; '
          f'{start:%Y-%m-%d %H:%M}-{end:%H:%M}; load average (1/5/15 min) before '
          f'{"/".join(f"{x:.1f}" for x in load_before)}, after {"/".join(f"{x:.1f}" for x in load_after)}; '
          f'TF_ENABLE_ONEDNN_OPTS={os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")}')
    print('\n\n'.join(tables))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump({'results': results, 'cpu': cpu_model()}, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
