"""Run the whole suite end to end on generated VOC-layout data (no downloads).

    python demo.py --output_dir demo_output

Every stage is printed as the shell command it equals and run through that script's main(), so the demo
doubles as a tour of the scripts. Stages: data -> records -> train DeepLabv3 and DeepLabv3+ -> evaluate ->
inference (plain, decoder, 3-scale + flip) -> pixel stacking -> DenseCRF on probabilities -> one table scoring
every stage and the background-everywhere baseline -> test-set tarball.

Training is seeded and runs with TensorFlow's op determinism (train.py --deterministic), so the demo gives
bit-identical checkpoints (and so the same table) on every run on the same hardware and software. Another CPU
(oneDNN picks its kernels by instruction set; CPUs without oneDNN use other convolution kernels) or another
TensorFlow gives other rounding: oneDNN on against off moved every row by less than 1 point (README), since
DeepLabv3+ starts from the trained DeepLabv3. Test time pads images to the 81x81 training crop, so image pooling
sees what it saw in training.
"""
import json
import os
import sys
import time

import numpy as np

import create_tf_record
import densecrf_inference
import evaluate
import inference
import make_submission
import pixel_stacking
import train
from utils.cli.commands import Command, run_command
from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_precision_flag, parser_for
from utils.common.errors import run_cli
from utils.common.files import read_id_list
from utils.data.demo_data import make_demo_voc
from utils.data.voc import read_label, save_label
from utils.runtime.model_config import DEFAULT_PRECISION

tensorflow_defaults()  # before TensorFlow's first import, which reads them once

# (name, extra train flags, the model it warm-starts from) of the two demo models: ResNet-v2-50 DeepLabv3 from
# scratch, then v3+ from that DeepLabv3, as DeepLab fine-tunes from a trained backbone (from scratch, v3+ left
# the background-only plateau at a step that followed the rounding: 75 to 98 mIoU over seeds and schedules).
# A short run needs a faster batch-norm moving average than DeepLab's 0.9997 (set in run_demo).
MODELS = (
    ('deeplabv3', ['--model_variant', 'resnet_v2_50', '--seed', '1'], None),
    ('deeplabv3plus', ['--model_variant', 'resnet_v2_50', '--decoder_output_stride', '4', '--seed', '2'],
     'deeplabv3'),
)
TTA_FLAGS = ['--inference_scales', '0.75', '1.0', '1.25', '--add_flipped_images']

# The final table: one row per scored stage, in this order, with what the stage is.
STAGE_DESCRIPTIONS = {
    'deeplabv3': 'DeepLabv3, single scale',
    'deeplabv3plus': 'DeepLabv3+ (decoder at stride 4), single scale',
    'deeplabv3_tta': 'DeepLabv3, scales 0.75/1.0/1.25 + flip',
    'stacking': 'per-pixel vote of the three above',
    'densecrf': '21-class DenseCRF on the TTA probabilities',
    'background_only': 'the trivial baseline: background everywhere',
}


def run(title, script, argv):
    """Print a stage as the shell command it equals, then run that command's main()."""
    print(f'\n=== {title}', flush=True)
    started = time.time()
    run_command(Command(script.__name__, argv))
    print(f'--- {title}: {time.time() - started:.0f} s', flush=True)


def write_background_baseline(data, folder):
    """The trivial baseline every model must beat: background everywhere, at each val image's size."""
    for image_id in read_id_list(data['val_list']):
        save_label(os.path.join(folder, image_id + '.png'), np.zeros_like(read_label(
            os.path.join(data['label_dir'], image_id + '.png'))))
    return folder


def _percent(value):
    return 'n/a' if value is None else f'{100 * value:.2f}'


def summary_table(scores):
    """The README's markdown table (mIoU and pixel accuracy in %) from evaluate.py's --output_json of several
    folders: {stage: {"miou", "pixel_accuracy", "per_class_iou"}}. Stages in STAGE_DESCRIPTIONS order, then any
    other stage with an empty description; an undefined score (null) is n/a."""
    stages = [s for s in STAGE_DESCRIPTIONS if s in scores] + [s for s in scores if s not in STAGE_DESCRIPTIONS]
    lines = ['| stage | what it is | val mIoU | pixel accuracy |', '| --- | --- | --- | --- |']
    for stage in stages:
        miou, accuracy = _percent(scores[stage]['miou']), _percent(scores[stage]['pixel_accuracy'])
        lines.append(f'| {stage} | {STAGE_DESCRIPTIONS.get(stage, "")} | {miou} | {accuracy} |')
    return '\n'.join(lines)


def run_demo(out, train_steps, num_train, num_val, crop_size, batch_size, learning_rate, precision=DEFAULT_PRECISION):
    """Run every stage into `out`, print the scores table; returns the paths of the final score JSON and chart.
    The models train and predict in `precision`."""
    # Test time pads images to the training crop (not upstream's 513): image pooling then averages over what the
    # models saw in training; padding 150-pixel images to 513 moved v3's mIoU by up to 17 points between seeds.
    network_flags = ['--precision', precision, '--eval_crop_size', str(crop_size), str(crop_size)]
    data = make_demo_voc(os.path.join(out, 'VOC2012'), num_train=num_train, num_val=num_val, num_test=4)
    records = os.path.join(out, 'records')
    run('TFRecords', create_tf_record, [
        '--data_dir', records, '--image_data_dir', data['image_dir'], '--ground_truth_dir', data['aug_label_dir'],
        '--num_shards', '2', '--overwrite'])
    for name, flags, start in MODELS:
        warm_start = ['--pre_trained_model', os.path.join(out, 'models', start)] if start else []
        run(f'train {name}', train, [
            '--model_dir', os.path.join(out, 'models', name), '--clean_model_dir', '--data_dir', records,
            '--batch_size', str(batch_size), '--max_iter', str(train_steps), '--train_epochs', '1000',
            '--epochs_per_eval', '1000', '--crop_size', str(crop_size), str(crop_size),
            '--initial_learning_rate', str(learning_rate), '--batch_norm_decay', '0.99', '--log_every_n_steps', '20',
            '--deterministic',
            # Later stages need only the final checkpoint: one save at the end (none on a timer), and keeping
            # one removes the Estimator's step-0 checkpoint once the final one is written.
            '--save_checkpoints_steps', str(train_steps), '--keep_checkpoints', '1', *network_flags, *flags,
            *warm_start])
    first_model = os.path.join(out, 'models', MODELS[0][0])
    run('evaluate deeplabv3 checkpoint', evaluate, [
        '--image_data_dir', data['image_dir'], '--ground_truth_dir', data['label_dir'],
        '--image_list', data['val_list'], '--model_dir', first_model, *network_flags])

    results = os.path.join(out, 'results')
    stages = {name: os.path.join(results, name) for name, _, _ in MODELS}
    stages['deeplabv3_tta'] = os.path.join(results, 'deeplabv3_tta')
    predict_args = [('deeplabv3', first_model, []),
                    ('deeplabv3plus', os.path.join(out, 'models', 'deeplabv3plus'), []),
                    ('deeplabv3_tta', first_model, TTA_FLAGS)]
    for stage, model_dir, flags in predict_args:
        run(f'inference {stage}', inference, [
            '--image_data_dir', data['image_dir'], '--image_list', data['val_list'], '--model_dir', model_dir,
            '--output_dir', stages[stage], '--save_probabilities', '--panel_dir', os.path.join(out, 'panels', stage),
            '--num_panels', '4', '--ground_truth_dir', data['label_dir'], '--overwrite', *network_flags, *flags])

    stages['stacking'] = os.path.join(results, 'stacking')
    run('pixel stacking', pixel_stacking, [
        '--prediction_dir', stages['deeplabv3plus'], stages['deeplabv3_tta'], stages['deeplabv3'],
        '--output_dir', stages['stacking'], '--image_list', data['val_list'], '--overwrite'])
    stages['densecrf'] = os.path.join(results, 'densecrf')
    run('DenseCRF on deeplabv3_tta probabilities', densecrf_inference, [
        '--image_data_dir', data['image_dir'], '--prob_dir', os.path.join(stages['deeplabv3_tta'], 'probabilities'),
        '--output_dir', stages['densecrf'], '--image_list', data['val_list'], '--overwrite'])

    stages['background_only'] = write_background_baseline(data, os.path.join(results, 'background_only'))
    scores, chart = os.path.join(out, 'scores.json'), os.path.join(out, 'iou_stacking.png')
    run('score every stage on val', evaluate, [
        '--prediction_dir', *stages.values(), '--ground_truth_dir', data['label_dir'],
        '--image_list', data['val_list'], '--output_json', scores,
        '--per_image_csv', os.path.join(out, 'per_image.csv'), '--plot', chart])

    test_results = os.path.join(results, 'test')
    run('inference on test', inference, [
        '--image_data_dir', data['image_dir'], '--image_list', data['test_list'], '--model_dir', first_model,
        '--output_dir', test_results, '--overwrite', *network_flags])
    run('evaluation-server tarball', make_submission, [
        '--prediction_dir', test_results, '--output', os.path.join(out, 'voc2012_test_results.tar.gz'),
        '--comp', 'comp6', '--image_list', data['test_list'], '--image_data_dir', data['image_dir']])
    with open(scores, encoding='utf-8') as handle:
        table = summary_table(json.load(handle))
    print(f'\nDemo outputs in {out}: results/ (palette PNGs per stage), panels/ (image | prediction | ground '
          f'truth), {os.path.basename(chart)}, scores.json, voc2012_test_results.tar.gz', file=sys.stderr)
    print(f'\nEvery stage scored on val (%, from {scores}):\n\n{table}', flush=True)
    return scores, chart


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--output_dir', default='demo_output', help='Folder for everything the demo makes '
                        '(default: %(default)s).')
    parser.add_argument('--train_steps', type=int, default=400, help='Training steps per model (default: %(default)s).')
    parser.add_argument('--num_train', type=int, default=80, help='Generated training images (default: %(default)s).')
    parser.add_argument('--num_val', type=int, default=20, help='Generated val images (default: %(default)s).')
    parser.add_argument('--crop_size', type=int, default=81, help='Square training crop (default: %(default)s).')
    parser.add_argument('--batch_size', type=int, default=8, help='Training batch (default: %(default)s).')
    parser.add_argument('--learning_rate', type=float, default=0.02,
                        help='Initial learning rate (default: %(default)s).')
    add_precision_flag(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_demo(args.output_dir, args.train_steps, args.num_train, args.num_val, args.crop_size, args.batch_size,
             args.learning_rate, args.precision)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
