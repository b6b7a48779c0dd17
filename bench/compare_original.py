"""This suite against the original code itself, on the original project's checkpoints.

The original rishizek/tensorflow-deeplab-v3 code (run unedited in a TensorFlow 2.12 + tf_slim venv by
original_worker.py) makes Estimator checkpoint folders of its DeepLabv3 with random values (every variable,
batch-norm statistics, Momentum slots and global_step included), evaluates generated VOC-like images with its own
evaluation graph (whole images, batch 1) and its evaluate.py, and takes one training step on a fixed batch. This
suite's evaluate.py and inference.py --save_probabilities then run on the same folders with the original README's
command lines, and their labels, probabilities and mIoU are compared with the original's; probabilities also in
float32, through inference.py's own flags and prediction code. Its train.py resumes a copy of the folder for the
same step (records of the same batch, no augmentation that changes it), and the two updated checkpoints are compared
variable by variable. The images are PNG data under the .jpg names the original evaluate.py appends, so both sides
decode the same pixels.

With --upstream_code, upstream DeepLab's own model.py likewise makes a random Xception-65 + decoder checkpoint of the
model zoo's layout, and its eval.py computation (padding to 513x513, predict_labels_multi_scale at scales 0.5 to 1.75
with flips) is compared with this suite's --inference_scales ... --add_flipped_images.

Usage: .venv/bin/python bench/compare_original.py --reference_python /tmp/refvenv/bin/python \\
           --original_code /path/to/tensorflow-deeplab-v3 [--upstream_code /path/to/models] [--work_dir DIR]
"""
import argparse
import concurrent.futures
import glob
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from workers import MARK, first_line  # noqa: E402

NUM_CLASSES = 21
IMAGE_SIZES = ((150, 200), (250, 333), (375, 500), (131, 97), (256, 256), (301, 120))  # (height, width)
CASES = ('resnet_v2_101:16', 'resnet_v2_101:8', 'resnet_v2_50:16', 'resnet_v2_50:8')
UPSTREAM_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
TRAIN_BATCH = (2, 65)  # images, side
DEFAULT_JSON = os.path.join(HERE, 'results', 'compare_original.json')


def smooth_image(rng, height, width, cells=7):
    """uint8 RGB with structure at several scales (bilinear-enlarged random cells plus noise), so the model's
    output varies across the image as on a photograph rather than pixel by pixel."""
    coarse = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8))
    base = np.asarray(coarse.resize((width, height), Image.BILINEAR), dtype=np.float64)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def random_label(rng, height, width, cells=5):
    """Class regions 0..20 with void (255) on their borders and in one rectangle, as VOC labels have."""
    coarse = Image.fromarray(rng.integers(0, NUM_CLASSES, (cells, cells), dtype=np.uint8))
    label = np.array(coarse.resize((width, height), Image.NEAREST))
    border = np.zeros_like(label, dtype=bool)
    border[:, 1:] |= label[:, 1:] != label[:, :-1]
    border[1:, :] |= label[1:, :] != label[:-1, :]
    label[border] = 255
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    label[top:top + height // 6, left:left + width // 6] = 255
    return label


def mirrored(array):
    """`array` made left-right symmetric about its middle column (odd widths), so a random flip leaves it as is."""
    half = array[:, :(array.shape[1] + 1) // 2]
    return np.concatenate([half, half[:, -2::-1]], axis=1)


def write_voc(root, sizes, seed, prefix, extension='.jpg', symmetric=False):
    """A VOC-like folder (JPEGImages, SegmentationClassAug, a list file) of generated images and labels; the
    labels are grayscale PNGs (as SBD's SegmentationClassAug, which the original code reads), the images PNG data
    under `extension`."""
    rng = np.random.default_rng(seed)
    folders = {'image_dir': os.path.join(root, 'JPEGImages'), 'label_dir': os.path.join(root, 'SegmentationClassAug')}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    ids = [f'{prefix}_{index:02d}' for index in range(len(sizes))]
    for image_id, (height, width) in zip(ids, sizes):
        image, label = smooth_image(rng, height, width), random_label(rng, height, width)
        if symmetric:
            image, label = mirrored(image), mirrored(label)
        Image.fromarray(image).save(os.path.join(folders['image_dir'], image_id + extension), format='PNG')
        Image.fromarray(label, mode='L').save(os.path.join(folders['label_dir'], image_id + '.png'))
    folders['list'] = os.path.join(root, f'{prefix}.txt')
    with open(folders['list'], 'w', encoding='utf-8') as handle:
        handle.write(''.join(i + '\n' for i in ids))
    folders['ids'] = ids
    return folders


def reference_variables(kind):
    """{name: shape} of a model as the suite's reference lists (tests/fixtures/reference) give it: `kind` is
    resnet_v2_101 or resnet_v2_50 (the original project's model on that backbone) or xception_65 (the model zoo's
    DeepLabv3+)."""
    def listed(name):
        with open(os.path.join(ROOT, 'tests', 'fixtures', 'reference', name + '_variables.json'),
                  encoding='utf-8') as handle:
            return {v['name']: v['shape'] for v in json.load(handle)['variables']}

    if kind == 'xception_65':
        return listed('deeplabv3plus_xception_65')
    original = listed('original_project_deeplabv3_resnet_v2_101')
    head = {name: shape for name, shape in original.items() if not name.startswith('resnet_v2_101/')}
    return dict(listed(kind), **head)


def checkpoint_contents(checkpoint, kind):
    """Whether a checkpoint made here holds exactly the reference list's variables (with their shapes), and how many
    Momentum slots and global_steps besides."""
    import tensorflow as tf

    shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    model = {name: shape for name, shape in shapes.items()
             if not name.endswith('/Momentum') and name != 'global_step'}
    return {'variables_as_reference_list': model == reference_variables(kind), 'model_variables': len(model),
            'momentum_slots': sum(name.endswith('/Momentum') for name in shapes),
            'global_step': 'global_step' in shapes}


def run_worker(args, command, *flags):
    """original_worker.py's report for one command in the reference venv, or {'error': its last line}."""
    argv = [args.reference_python, os.path.join(HERE, 'original_worker.py'), '--original_code', args.original_code,
            command, *flags]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {'error': last_line(proc.stderr) or f'exit status {proc.returncode}'}


def last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ''


def run_suite(script, flags):
    """None when this suite's `script` ran with `flags`, else its error (the last line of its stderr)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *flags], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode == 0:
        return None
    status = f'killed by signal {-proc.returncode}' if proc.returncode < 0 else f'exit status {proc.returncode}'
    return f'{script}: {status}: {last_line(proc.stderr)}'


def readme_flags(model_dir, architecture, output_stride):
    """The model flags of the original README's command lines."""
    return ['--model_dir', model_dir, '--base_architecture', architecture, '--output_stride', str(output_stride)]


def suite_float32(voc, flags):
    """{id: (labels, float32 probabilities)} from inference.py's own flag parsing and prediction code, in this
    process (the files inference.py writes hold probabilities in steps of 1/255)."""
    import deeplab_model
    import inference
    from utils.cli.flags import model_params, prediction_source
    from utils.runtime.checkpoint_description import model_description
    from utils.runtime.predict import iter_outputs

    args = inference.build_parser().parse_args(
        ['--data_dir', voc['image_dir'], '--infer_data_list', voc['list'], '--output_dir', 'unused', *flags])
    source = prediction_source(args, model_params(args, model_description(args.model_dir)), with_probabilities=True)
    return {image_id: (labels, probabilities) for image_id, _, labels, probabilities
            in iter_outputs(voc['image_dir'], voc['ids'], deeplab_model.predict_probabilities, **source)}


def in_child_process(function, *args):
    """function(*args) in a fresh process, so the memory of the models it builds goes back when it ends (the
    suite's scripts, run alongside, need it)."""
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def label_agreement(original, labels_of):
    """Per image: fraction of equal labels, and the largest top-2 probability margin (of the original) where they
    differ, which says whether the differences are near-ties."""
    rows = {}
    for image_id, (probabilities, labels) in original.items():
        other = labels_of(image_id)
        if other.shape != labels.shape:
            rows[image_id] = {'error': f'shape {other.shape}, original {labels.shape}'}
            continue
        differ = other != labels
        top2 = np.sort(probabilities, axis=2)[..., -2:]
        margin = float(np.max(top2[..., 1] - top2[..., 0], where=differ, initial=0.0))
        rows[image_id] = {'equal': float(1.0 - differ.mean()), 'differing_pixels': int(differ.sum()),
                          'max_margin_where_differing': margin}
    return rows


def max_probability_difference(original, probabilities_of):
    return max(float(np.max(np.abs(probabilities_of(image_id) - probabilities)))
               for image_id, (probabilities, _) in original.items())


def compare_case(args, voc, model_dir, architecture, output_stride, work):
    """One original checkpoint at one output stride: the original's evaluation against this suite's, run with the
    original README's flags."""
    name = f'{architecture}_os{output_stride}'
    original_dir = os.path.join(work, 'original', name)
    reference = run_worker(args, 'evaluate', '--model_dir', model_dir, '--base_architecture', architecture,
                           '--output_stride', str(output_stride), '--image_data_dir', voc['image_dir'],
                           '--label_data_dir', voc['label_dir'], '--evaluation_data_list', voc['list'],
                           '--output_dir', original_dir)
    result = compare_with_suite(voc, reference, original_dir, readme_flags(model_dir, architecture, output_stride),
                                os.path.join(work, 'suite', name))
    return dict({'case': f'{architecture} OS {output_stride}'}, **result)


def compare_upstream(args, voc, work):
    """Upstream DeepLab's multi-scale + flip evaluation of a random model-zoo style Xception-65 + decoder
    checkpoint (upstream model.py's own variables) against this suite's, with the same scales and flips."""
    ids = voc['ids'][:args.upstream_images]
    voc = dict(voc, ids=ids, list=os.path.join(work, 'upstream.txt'))
    with open(voc['list'], 'w', encoding='utf-8') as handle:
        handle.write(''.join(i + '\n' for i in ids))
    model_dir = os.path.join(work, 'models', 'xception_65_upstream')
    made = run_worker(args, 'upstream_checkpoint', '--upstream_code', args.upstream_code, '--model_dir', model_dir,
                      '--seed', str(args.seed + 100), '--calibration_image', calibration_image(voc))
    if 'error' in made:
        return {'case': 'upstream xception_65', 'original': made}
    made.update(checkpoint_contents(made['checkpoint'], 'xception_65'))
    original_dir = os.path.join(work, 'original', 'upstream_xception_65')
    scales = [str(scale) for scale in UPSTREAM_SCALES]
    reference = run_worker(args, 'upstream_evaluate', '--upstream_code', args.upstream_code, '--checkpoint',
                           made['checkpoint'], '--output_stride', '16', '--eval_scales', *scales,
                           '--add_flipped_images', '--image_data_dir', voc['image_dir'], '--label_data_dir',
                           voc['label_dir'], '--evaluation_data_list', voc['list'], '--output_dir', original_dir)
    # One image per run: results do not depend on the batch, and two 513x513 images at six scales with flips take
    # about 10 GB together.
    flags = ['--model_dir', made['checkpoint'], '--model_variant', 'xception_65', '--decoder_output_stride', '4',
             '--output_stride', '16', '--inference_scales', *scales, '--add_flipped_images', '--batch_size', '1']
    result = compare_with_suite(voc, reference, original_dir, flags, os.path.join(work, 'suite', 'upstream'))
    return dict({'case': f'upstream xception_65 OS 16, {len(ids)} images, scales {" ".join(scales)} + flips',
                 'checkpoint': made}, **result)


def compare_with_suite(voc, reference, original_dir, flags, out_dir):
    """The reference evaluation (`reference`, its per-image npz files in `original_dir`) against this suite's
    evaluate.py and inference.py --save_probabilities with `flags`, and its float32 probabilities."""
    from utils.data.voc import read_label
    from utils.postprocess.probabilities import read_probabilities

    result = {'original': reference}
    if 'error' in reference:
        return result
    original = {}
    for image_id in voc['ids']:
        with np.load(os.path.join(original_dir, image_id + '.npz')) as data:
            original[image_id] = (data['probabilities'], data['labels'])
    reference['classes_predicted'] = len(np.unique(np.concatenate([lab.ravel() for _, lab in original.values()])))

    eval_json = os.path.join(out_dir, 'evaluate.json')
    shutil.rmtree(out_dir, ignore_errors=True)  # a reused --work_dir: inference.py would keep earlier results
    os.makedirs(out_dir)
    error = run_suite('evaluate.py', ['--image_data_dir', voc['image_dir'], '--label_data_dir', voc['label_dir'],
                                      '--evaluation_data_list', voc['list'], *flags, '--output_json', eval_json])
    if error:
        result['evaluate'] = {'error': error}
    else:
        with open(eval_json, encoding='utf-8') as handle:
            miou = json.load(handle)['miou']
        result['evaluate'] = {'miou': miou, 'miou_difference': miou - reference['miou']}

    labels_dir = os.path.join(out_dir, 'inference')
    error = run_suite('inference.py', ['--data_dir', voc['image_dir'], '--infer_data_list', voc['list'], *flags,
                                       '--output_dir', labels_dir, '--save_probabilities'])
    if error:
        result['inference'] = {'error': error}
    else:
        result['inference'] = {
            'labels': label_agreement(original, lambda i: read_label(os.path.join(labels_dir, i + '.png'))),
            'max_probability_difference_files': max_probability_difference(
                original, lambda i: read_probabilities(os.path.join(labels_dir, 'probabilities', i + '.npz'),
                                                       NUM_CLASSES))}
    try:
        outputs = in_child_process(suite_float32, voc, flags)
    except Exception as err:  # reported: the suite refusing a checkpoint is a result
        result['float32'] = {'error': first_line(err)}
    else:
        result['float32'] = {'labels': label_agreement(original, lambda i: outputs[i][0]),
                             'max_probability_difference': max_probability_difference(original,
                                                                                      lambda i: outputs[i][1])}
    return result


def calibration_image(voc):
    """The image the random models' logits are calibrated on: the first of the set."""
    return os.path.join(voc['image_dir'], voc['ids'][0] + '.jpg')


def write_train_batch(root, seed):
    """The fixed training batch: an .npz for the original side and a VOC-like folder for this suite's records. The
    images and labels are left-right symmetric, so this suite's random flip cannot change them, and exactly the
    crop size, so its crop (at scale 1) is the whole image."""
    count, side = TRAIN_BATCH
    voc = write_voc(root, [(side, side)] * count, seed, 'train', extension='.png', symmetric=True)
    images = np.stack([np.asarray(Image.open(os.path.join(voc['image_dir'], i + '.png')).convert('RGB'))
                       for i in voc['ids']])
    labels = np.stack([np.asarray(Image.open(os.path.join(voc['label_dir'], i + '.png'))) for i in voc['ids']])
    voc['npz'] = os.path.join(root, 'batch.npz')
    np.savez(voc['npz'], images=images, labels=labels)
    return voc


def original_training(args, model_dir, work):
    """The original's one training step from `model_dir` on the fixed batch; the report with its checkpoint."""
    voc = write_train_batch(os.path.join(work, 'train_data'), args.seed + 1)
    out_dir = os.path.join(work, 'original', 'train_step')
    report = run_worker(args, 'train_step', '--model_dir', model_dir, '--base_architecture', 'resnet_v2_101',
                        '--output_stride', '16', '--batch_npz', voc['npz'], '--output_dir', out_dir)
    return report, voc


def suite_training(model_dir, reference, voc, work):
    """This suite's train.py resuming a copy of `model_dir` for the same one step on the same batch with the
    original objective, compared variable by variable with the original's step; or why it could not run."""
    import tensorflow as tf

    help_text = subprocess.run([sys.executable, os.path.join(ROOT, 'train.py'), '--help'], capture_output=True,
                               text=True, cwd=ROOT).stdout
    if '--regularization' not in help_text or 'all_trainable' not in help_text:
        return {'error': 'train.py has no --regularization all_trainable (the original weight-decay objective)'}
    records = os.path.join(work, 'suite', 'train_records')
    shutil.rmtree(records, ignore_errors=True)
    error = run_suite('create_pascal_tf_record.py', ['--data_dir', records, '--image_data_dir', voc['image_dir'],
                                                     '--ground_truth_dir', voc['label_dir'],
                                                     '--train_data_list', voc['list'],
                                                     '--valid_data_list', voc['list']])
    if error:
        return {'error': error}
    train_dir = os.path.join(work, 'suite', 'train_step')
    shutil.rmtree(train_dir, ignore_errors=True)
    shutil.copytree(model_dir, train_dir)
    params = reference['params']
    count, side = TRAIN_BATCH
    error = run_suite('train.py', [
        '--model_dir', train_dir, '--data_dir', records, '--base_architecture', 'resnet_v2_101', '--output_stride',
        '16', '--regularization', 'all_trainable', '--weight_decay', str(params['weight_decay']),
        '--batch_size', str(count), '--crop_size', str(side), str(side), '--min_scale', '1', '--max_scale', '1',
        '--max_iter', str(reference['step_before'] + 1), '--initial_learning_rate',
        str(params['initial_learning_rate']), '--end_learning_rate', str(params['end_learning_rate']),
        '--learning_power', str(params['power']), '--momentum', str(params['momentum']), '--no_eval'])
    if error:
        return {'error': error}
    ours, theirs = tf.train.load_checkpoint(train_dir), tf.train.load_checkpoint(reference['checkpoint'])
    before = tf.train.load_checkpoint(model_dir)
    names = sorted(theirs.get_variable_to_shape_map())
    missing = [n for n in names if not ours.has_tensor(n)]
    rows = {n: {'difference': float(np.max(np.abs(ours.get_tensor(n) - theirs.get_tensor(n)))),
                'change': float(np.max(np.abs(theirs.get_tensor(n) - before.get_tensor(n)))),
                'largest_value': float(np.max(np.abs(theirs.get_tensor(n))))}
            for n in names if n not in missing}
    worst = max(rows, key=lambda n: rows[n]['difference'])
    worst_relative = max(rows, key=lambda n: rows[n]['difference'] / (rows[n]['change'] or 1.0))
    logged = logged_scalars(train_dir, ('loss', 'cross_entropy', 'learning_rate'))
    return {'checkpoint': tf.train.latest_checkpoint(train_dir), 'variables_compared': len(rows),
            'missing_variables': missing, 'logged': logged,
            'loss_difference': logged['loss'] - reference['loss'] if 'loss' in logged else None,
            'max_variable_difference': dict(rows[worst], name=worst),
            'worst_difference_relative_to_change': dict(rows[worst_relative], name=worst_relative)}


def logged_scalars(model_dir, tags):
    """{tag: value} of the TensorBoard scalars `tags` that train.py logged in `model_dir` (its last value of each)."""
    import tensorflow as tf

    values = {}
    for path in sorted(glob.glob(os.path.join(model_dir, 'events.out.tfevents.*'))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag in tags and value.HasField('simple_value'):
                    values[value.tag] = value.simple_value
    return values


def short(text, limit=160):
    return text if len(text) <= limit else text[:limit - 3] + '...'


def print_table(results):
    """The results as a Markdown table, one row per case, and a line for the training step."""
    print('| case | reference mIoU (original evaluate.py prints) | suite evaluate.py mIoU (difference) | '
          'labels equal, worst image | max abs probability difference: float32 / saved files |')
    print('| --- | --- | --- | --- | --- |')
    for row in results['cases']:
        original = row['original']
        if 'error' in original:
            print(f'| {row["case"]} | reference fails: {short(original["error"])} | | | |')
            continue
        printed = f' ({original["script_miou"]})' if 'script_miou' in original else ''
        evaluate = row['evaluate']
        suite_miou = (short(evaluate['error']) if 'error' in evaluate else
                      f'{evaluate["miou"]:.6f} ({evaluate["miou_difference"]:+.1e})')
        float32, inference = row['float32'], row['inference']
        labels = float32.get('labels') or inference.get('labels')
        equal = f'{min(v["equal"] for v in labels.values()):.6f}' if labels else '-'
        errors = '; '.join(short(part['error']) for part in (float32, inference) if 'error' in part)
        probs = errors or (f'{float32["max_probability_difference"]:.1e} / '
                           f'{inference["max_probability_difference_files"]:.1e}')
        print(f'| {row["case"]} | {original["miou"]:.6f}{printed} | {suite_miou} | {equal} | {probs} |')
    train = results.get('training')
    if not train:
        return
    original, suite = train['original'], train.get('suite', {})
    if 'error' in original:
        print(f'training step: reference fails: {short(original["error"])}')
        return
    print(f'training step: original loss {original["loss"]:.6f} (cross entropy {original["cross_entropy"]:.6f}, '
          f'learning rate {original["learning_rate"]:.2e}); suite: ' + (short(suite['error']) if 'error' in suite else
                                                                        training_summary(suite)))


def training_summary(suite):
    logged, worst = suite['logged'], suite['max_variable_difference']
    relative = suite['worst_difference_relative_to_change']
    nan = float('nan')
    return (f'loss {logged.get("loss", nan):.6f} (cross entropy {logged.get("cross_entropy", nan):.6f}); '
            f'{suite["variables_compared"]} variables, {len(suite["missing_variables"])} missing; largest difference '
            f'{worst["difference"]:.1e} ({worst["name"]}, changed by {worst["change"]:.2e}); largest relative to the '
            f'step\'s change {relative["difference"] / (relative["change"] or 1.0):.1e} ({relative["name"]})')


def missing_prerequisite(args):
    """What the comparison lacks to run (one line), or None."""
    if not args.reference_python or not os.access(args.reference_python, os.X_OK):
        return ('needs --reference_python: a venv python with tensorflow-cpu==2.12.1, tf-slim==1.1.0, numpy<1.24 '
                'and Pillow')
    if not args.original_code or not os.path.isfile(os.path.join(args.original_code, 'deeplab_model.py')):
        return 'needs --original_code: a checkout of rishizek/tensorflow-deeplab-v3 (with its deeplab_model.py)'
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reference_python', default=None, help='Python of the TF 2.12 + tf_slim reference venv.')
    parser.add_argument('--original_code', default=None, help='Checkout of rishizek/tensorflow-deeplab-v3.')
    parser.add_argument('--cases', nargs='*', default=list(CASES), metavar='ARCH:OS',
                        help='Checkpoints and output strides to compare (default: %(default)s).')
    parser.add_argument('--no_training', action='store_true', help='Skip the training-step comparison.')
    parser.add_argument('--upstream_code', default=None,
                        help='A tensorflow/models checkout whose research/deeplab predict_labels_multi_scale runs '
                             '(e.g. revision 2c962110, 2019-02): also compare its multi-scale + flip evaluation of an '
                             'Xception-65 + decoder model (minutes per image on two cores).')
    parser.add_argument('--upstream_images', type=int, default=2,
                        help='Images of the upstream comparison (default: %(default)s).')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work_dir', default=None, help='Keep checkpoints, images and outputs here (default: a '
                                                         'temporary folder, removed at the end).')
    parser.add_argument('--output_json', default=DEFAULT_JSON, help='Results file (default: %(default)s).')
    args = parser.parse_args(argv)
    problem = missing_prerequisite(args)
    if problem:
        print(f'compare_original: {problem}')
        return 2
    args.original_code = os.path.abspath(args.original_code)
    with tempfile.TemporaryDirectory() as scratch:
        work = os.path.abspath(args.work_dir or scratch)
        voc = write_voc(os.path.join(work, 'voc'), IMAGE_SIZES, args.seed, 'val')
        cases = [(arch, int(stride)) for arch, stride in (case.split(':') for case in args.cases)]
        results = {'images': {i: list(size) for i, size in zip(voc['ids'], IMAGE_SIZES)}, 'checkpoints': {},
                   'cases': []}
        model_dirs = {}
        for index, architecture in enumerate(dict.fromkeys(arch for arch, _ in cases)):
            model_dirs[architecture] = os.path.join(work, 'models', architecture)
            made = {'reused': True}
            if not glob.glob(os.path.join(model_dirs[architecture], 'model.ckpt-*.index')):
                made = run_worker(
                    args, 'checkpoint', '--architecture', architecture, '--model_dir', model_dirs[architecture],
                    '--seed', str(args.seed + 10 * index), '--calibration_image', calibration_image(voc))
            if 'error' not in made:
                made.update(checkpoint_contents(model_dirs[architecture], architecture))
            results['checkpoints'][architecture] = made
            print(f'{architecture}: {made}', flush=True)
        for architecture, stride in cases:
            results['cases'].append(compare_case(args, voc, model_dirs[architecture], architecture, stride, work))
            print(json.dumps(results['cases'][-1])[:400], flush=True)
        if args.upstream_code:
            results['cases'].append(compare_upstream(args, voc, work))
            print(json.dumps(results['cases'][-1])[:400], flush=True)
        if not args.no_training:
            model_dir = model_dirs.get('resnet_v2_101')
            reference, train_voc = original_training(args, model_dir, work) if model_dir else (
                {'error': 'needs the resnet_v2_101 case'}, None)
            results['training'] = {'original': reference}
            if 'error' not in reference:
                results['training']['suite'] = suite_training(model_dir, reference, train_voc, work)
    os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
    with open(args.output_json, 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1)
    print_table(results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
