"""Throughput and memory of create_coco_tf_record.py on generated COCO-sized data: 640x480 JPEGs with about 7
polygon instances each, --classes all (every instance rasterised).

    .venv/bin/python bench/bench_coco_records.py [--images 400] [--repeats 3] [--json_images 11829]

Measured in the same run:
- the whole conversion (check pass + write pass) with all workers against one worker, rounds interleaved, each
  conversion in a process of its own so that its peak memory (main process and largest worker) is its own;
- what each part of the work costs per image in one process: checking (full JPEG decode and polygon -> RLE),
  mask rasterisation with the label rule, label PNG encoding, and reading the JPEG bytes + serialising +
  writing the example;
- parsing and indexing an instances file of --json_images images (time and memory), to scale to the
  2017 train file.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.common.parallel import default_workers
from utils.data.coco_classes import CATEGORIES

HEIGHT, WIDTH = 480, 640
MEAN_INSTANCES = 7
TRAIN2017_IMAGES = 118287
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def polygon(rng):
    """A star-shaped polygon of 16-48 points, 20-160 pixels across, somewhere in the image."""
    points = rng.integers(16, 49)
    cx, cy, radius = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(10, 80)
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = radius * rng.uniform(0.5, 1.0, points)
    xs = np.clip(cx + radii * np.cos(angles), 0, WIDTH - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, HEIGHT - 1)
    return [round(float(v), 2) for v in np.stack([xs, ys], axis=1).ravel()]


def instances(rng, count):
    """A COCO instances file's content for `count` 640x480 images with Poisson(7) polygon annotations each."""
    data = {'images': [], 'annotations': [], 'categories': [{'id': i, 'name': n} for i, n in CATEGORIES.items()]}
    ids = sorted(CATEGORIES)
    for image_id in range(1, count + 1):
        data['images'].append({'id': image_id, 'file_name': f'{image_id:012d}.jpg', 'height': HEIGHT, 'width': WIDTH})
        for _ in range(rng.poisson(MEAN_INSTANCES)):
            data['annotations'].append({
                'id': len(data['annotations']) + 1, 'image_id': image_id, 'category_id': int(rng.choice(ids)),
                'segmentation': [polygon(rng)], 'area': float(rng.uniform(200, 20000)), 'iscrowd': 0,
                'bbox': [0.0, 0.0, 1.0, 1.0]})
    return data


def photo_like(rng):
    """A 640x480 image with smooth colour regions and fine noise, so its JPEG is about COCO's size."""
    coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float64)
    return np.clip(field + rng.normal(0, 14, size=field.shape), 0, 255).astype(np.uint8)


def make_data(root, count):
    """train2017-like folder of `count` JPEGs (quality 90) and its instances file; returns the mean JPEG bytes."""
    rng = np.random.default_rng(0)
    image_dir = os.path.join(root, 'images')
    os.makedirs(image_dir)
    data = instances(rng, count)
    for image in data['images']:
        Image.fromarray(photo_like(rng)).save(os.path.join(image_dir, image['file_name']), quality=90)
    with open(os.path.join(root, 'instances.json'), 'w', encoding='utf-8') as handle:
        json.dump(data, handle)
    sizes = [os.path.getsize(os.path.join(image_dir, i['file_name'])) for i in data['images']]
    return float(np.mean(sizes)), len(data['annotations'])


def status_kb(pid, field):
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM), or 0 for a process that has gone."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as handle:
            return next((int(line.split()[1]) for line in handle if line.startswith(field + ':')), 0)
    except OSError:
        return 0


def tree_pss_kb(pid):
    """Proportional set size (shared pages split among their users) of a process and its descendants, in kB:
    what the conversion really occupies, the forked workers' pages shared with the main process counted once."""
    parents = {}
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat', encoding='ascii') as handle:
                parents[int(entry)] = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for member in tree:
        try:
            with open(f'/proc/{member}/smaps_rollup', encoding='ascii') as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith('Pss:'))
        except (OSError, StopIteration):
            continue
    return total


def convert_in_child(root, out, workers):
    """Run one conversion in a fresh process, sampling its memory every 0.1 s; returns the conversion's wall and
    CPU seconds (main process and workers; TensorFlow's import left out), the main process's peak RSS and the
    peak PSS of it and its workers (MB)."""
    code = ('import json, resource, sys, time; sys.path.insert(0, sys.argv[1]); import create_coco_tf_record; '
            'import utils.records.coco_records; '  # TensorFlow's import (seconds) is not part of the conversion
            'cpu = lambda who: resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime; '
            'start, main, workers = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN); '
            'create_coco_tf_record.main(sys.argv[2:]); '
            'print(json.dumps({"seconds": time.perf_counter() - start, "main_cpu": cpu(resource.RUSAGE_SELF) - main, '
            '"worker_cpu": cpu(resource.RUSAGE_CHILDREN) - workers}))')
    argv = ['--train_image_dir', os.path.join(root, 'images'), '--train_annotations_file',
            os.path.join(root, 'instances.json'), '--classes', 'all', '--data_dir', out, '--num_workers', str(workers)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    child = subprocess.Popen([sys.executable, '-c', code, ROOT, *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env)
    peak_pss = peak_rss = 0
    while child.poll() is None:
        peak_pss = max(peak_pss, tree_pss_kb(child.pid))
        peak_rss = max(peak_rss, status_kb(child.pid, 'VmHWM'))
        time.sleep(0.1)
    if child.returncode:
        raise RuntimeError(f'conversion failed with exit code {child.returncode}')
    report = json.loads(child.stdout.read().strip().splitlines()[-1])
    return dict(report, main_mb=peak_rss / 1024, total_pss_mb=peak_pss / 1024)


def part_costs(root, count):
    """CPU milliseconds per image of each part of the conversion, in this process, over the first `count` images
    (CPU time, not wall time: other jobs on a shared machine slow the wall clock, not the work)."""
    import tensorflow as tf

    from utils.data import coco
    from utils.records import coco_records
    path = os.path.join(root, 'instances.json')
    start = time.process_time()
    entries = coco.index_images(coco.load_instances(path), path, 'all')
    parse = (time.process_time() - start) / len(entries)
    tasks = [coco_records.Task('train', k, os.path.join(root, 'images', e.file_name), e, True, None, None)
             for k, e in enumerate(entries[:count])]
    timings = {}

    def timed(name, fn, items):
        start = time.process_time()
        out = [fn(item) for item in items]
        timings[name] = 1000 * (time.process_time() - start) / len(items)
        return out

    checked = [task for task, _, _ in timed('check (JPEG decode, polygons -> RLE)', coco_records.check_image, tasks)]
    labels = timed('rasterise (masks + label rule)', lambda t: coco.label_map(t.entry), checked)
    pngs = timed('label PNG encode', coco_records.png_bytes, labels)
    with tempfile.TemporaryDirectory() as folder, tf.io.TFRecordWriter(os.path.join(folder, 'x.record')) as writer:
        def write(item):
            task, png = item
            with open(task.path, 'rb') as handle:
                image = handle.read()
            writer.write(coco_records.encode_example(image, task.image_format, HEIGHT, WIDTH, png,
                                                     task.entry.file_name))
        timed('read JPEG bytes + serialise + write', write, list(zip(checked, pngs)))
    timings['parse + index the instances file'] = 1000 * parse
    return timings


def json_cost(root, count):
    """CPU seconds and MB (peak RSS growth) to parse and index an instances file of `count` images, and its size."""
    rng = np.random.default_rng(1)
    path = os.path.join(root, 'big.json')
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(instances(rng, count), handle)
    code = ('import json, sys, time; sys.path.insert(0, sys.argv[1]); from utils.data import coco; '
            'hwm = lambda: int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]); '
            'base = hwm(); start = time.process_time(); '
            'entries = coco.index_images(coco.load_instances(sys.argv[2]), sys.argv[2], "all"); '
            'print(json.dumps({"seconds": time.process_time() - start, "mb": (hwm() - base) / 1024}))')
    result = subprocess.run([sys.executable, '-c', code, ROOT, path], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    report['file_mb'] = os.path.getsize(path) / 2 ** 20
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=400, help='Images converted per run (default: %(default)s).')
    parser.add_argument('--repeats', type=int, default=3, help='Interleaved rounds (default: %(default)s).')
    parser.add_argument('--part_images', type=int, default=100,
                        help='Images timed part by part (default: %(default)s).')
    parser.add_argument('--json_images', type=int, default=TRAIN2017_IMAGES // 10,
                        help='Images of the instances file timed for parsing (default: a tenth of train2017).')
    args = parser.parse_args(argv)
    workers = default_workers()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as root:
        jpeg_bytes, annotations = make_data(root, args.images)
        print(f'{args.images} images of {WIDTH}x{HEIGHT}, mean JPEG {jpeg_bytes / 1000:.0f} kB, {annotations} '
              f'instances ({annotations / args.images:.1f} per image); load average before: {load[0]:.1f}')
        runs = {1: [], workers: []}
        for round_ in range(args.repeats):
            for count in runs:
                report = convert_in_child(root, os.path.join(root, f'out_{round_}_{count}'), count)
                runs[count].append(report)
                print(f'round {round_ + 1}, {count} worker(s): {args.images / report["seconds"]:.1f} images/s, '
                      f'CPU ms/image {1000 * report["main_cpu"] / args.images:.1f} main + '
                      f'{1000 * report["worker_cpu"] / args.images:.1f} workers, peak RSS of the main process '
                      f'{report["main_mb"]:.0f} MB, peak PSS of all its processes {report["total_pss_mb"]:.0f} MB '
                      f'(load average {os.getloadavg()[0]:.1f})')
        best = {count: args.images / min(r['seconds'] for r in reports) for count, reports in runs.items()}
        rates = {count: sorted(args.images / r['seconds'] for r in reports) for count, reports in runs.items()}
        main_cpu = min(1000 * r['main_cpu'] / args.images for r in runs[workers])
        worker_cpu = min(1000 * r['worker_cpu'] / args.images for r in runs[workers])
        idle_rate = 1000 / max(main_cpu, worker_cpu / workers, (main_cpu + worker_cpu) / workers)
        print(f'best of {args.repeats}: {best[1]:.1f} images/s with 1 worker (range {rates[1][0]:.1f}-'
              f'{rates[1][-1]:.1f}), {best[workers]:.1f} with {workers} (range {rates[workers][0]:.1f}-'
              f'{rates[workers][-1]:.1f}), {best[workers] / best[1]:.2f}x')
        print(f'with {workers} workers, CPU per image: main process {main_cpu:.1f} ms, workers {worker_cpu:.1f} ms: '
              f'{workers} idle cores would give about {idle_rate:.0f} images/s')
        costs = part_costs(root, min(args.part_images, args.images))
        print('CPU cost of each part, one process:')
        for name, ms in costs.items():
            print(f'  {name}: {ms:.2f} ms/image')
        per_image = sum(costs.values())
        print(f'  sum: {per_image:.2f} ms/image = {1000 / per_image:.1f} images/s on one core')
        big = json_cost(root, args.json_images)
        scale = TRAIN2017_IMAGES / args.json_images
        print(f'instances file of {args.json_images} images ({big["file_mb"]:.0f} MB): parse + index '
              f'{big["seconds"]:.1f} CPU s, +{big["mb"]:.0f} MB RSS; x{scale:.1f} for train2017: about '
              f'{big["seconds"] * scale:.0f} s and {big["mb"] * scale / 1024:.1f} GB')
        hours = TRAIN2017_IMAGES / best[workers] / 3600
        idle_hours = TRAIN2017_IMAGES / idle_rate / 3600
        print(f'train2017 ({TRAIN2017_IMAGES} images) at {best[workers]:.1f} images/s: {hours:.2f} h of conversion '
              f'(on {workers} idle cores, by CPU time: {idle_hours:.2f} h)')
    print(f'load average after: {os.getloadavg()[0]:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
