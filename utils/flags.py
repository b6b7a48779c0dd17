"""Command-line flags shared by several scripts, defined once so every script spells them the same."""
import argparse
import json
import os

from utils.files import atomic_path
from utils.parallel import default_workers
from utils.voc import NUM_CLASSES

MODEL_VARIANTS = ('resnet_v2_50', 'resnet_v2_101', 'xception_65')
NORMALIZATIONS = ('inception', 'mean_subtraction')
DEFAULT_ATROUS_RATES = {8: [12, 24, 36], 16: [6, 12, 18]}
MODEL_DEFAULTS = {
    'model_variant': 'resnet_v2_101',
    'output_stride': 16,
    'atrous_rates': None,
    'multi_grid': [1, 2, 4],
    'decoder_output_stride': None,
    'num_classes': NUM_CLASSES,
    'input_normalization': 'inception',
    'batch_norm_decay': 0.9997,
}
PARAMS_FILE = 'deeplab_params.json'


def add_model_flags(parser):
    """Flags that define the network; the same for train, evaluate, inference and export.

    Unset flags fall back to the model folder's deeplab_params.json (written by train.py), then to the
    defaults, so a trained model is evaluated and exported without repeating its flags.
    """
    group = parser.add_argument_group('model (unset flags: MODEL_DIR/deeplab_params.json, then the default)')
    group.add_argument('--model_variant', '--base_architecture', dest='model_variant', choices=MODEL_VARIANTS,
                       help='Backbone network (default: resnet_v2_101).')
    group.add_argument('--output_stride', type=int, choices=(8, 16),
                       help='Ratio of input to backbone output resolution (default: 16).')
    group.add_argument('--atrous_rates', type=int, nargs=3, metavar='RATE',
                       help='ASPP atrous rates (default: 6 12 18 at output stride 16, 12 24 36 at 8).')
    group.add_argument('--multi_grid', type=int, nargs=3, metavar='M',
                       help='ResNet block4 unit rate multipliers, as in the DeepLabv3 paper (default: 1 2 4).')
    group.add_argument('--decoder_output_stride', type=int,
                       help='Add the DeepLabv3+ decoder at this stride, e.g. 4 (default: no decoder).')
    group.add_argument('--num_classes', type=int, help=f'Number of classes, background included (default: {NUM_CLASSES}).')
    group.add_argument('--input_normalization', choices=NORMALIZATIONS,
                       help='inception: x/127.5-1, as the slim ResNet-v2 and Xception checkpoints were trained; '
                            'mean_subtraction: x - VOC RGB mean, the upstream v3 behaviour (default: inception; '
                            'Xception always uses inception).')
    group.add_argument('--batch_norm_decay', type=float,
                       help='Moving-average decay of batch norm statistics (default: 0.9997).')
    return group


def saved_model_params(model_dir):
    """The model description train.py stored in `model_dir`, or {} (no folder, or a checkpoint prefix)."""
    path = os.path.join(model_dir, PARAMS_FILE) if model_dir and os.path.isdir(model_dir) else None
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def save_model_params(model_dir, params):
    """Record the model description next to the checkpoints."""
    with atomic_path(os.path.join(model_dir, PARAMS_FILE)) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(params, handle, indent=2, sort_keys=True)


def model_params(args, saved=None):
    """The model description (a plain dict, as tf.estimator `params`): explicit flags win over the model
    folder's saved description (default: read from `args.model_dir`), which wins over the defaults."""
    saved = saved_model_params(getattr(args, 'model_dir', None)) if saved is None else saved
    params = {key: getattr(args, key) if getattr(args, key) is not None else saved.get(key, default)
              for key, default in MODEL_DEFAULTS.items()}
    if args.atrous_rates is None and args.output_stride is not None:
        params['atrous_rates'] = None  # a new output stride brings its own rates unless they are given too
    params['atrous_rates'] = list(params['atrous_rates'] or DEFAULT_ATROUS_RATES[params['output_stride']])
    params['multi_grid'] = list(params['multi_grid'])
    if params['model_variant'] == 'xception_65':
        params['input_normalization'] = 'inception'
    return params


def add_batch_flags(parser):
    """`--num_workers` and `--overwrite`, for tools that process a folder of images."""
    parser.add_argument('--num_workers', type=int, default=default_workers(),
                        help='Worker processes (default: all %(default)s cores).')
    parser.add_argument('--overwrite', action='store_true',
                        help='Redo outputs that already exist (default: skip them, so a run can resume).')


def parser_for(description):
    """An ArgumentParser that shows defaults and keeps the docstring's line breaks."""
    return argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_predict_flags(parser):
    """Where predictions come from (a checkpoint folder or a frozen graph) and test-time augmentation."""
    parser.add_argument('--model_dir', default='./model',
                        help='Folder of training checkpoints (the latest is used), or a model-zoo model.ckpt '
                             'prefix (default: %(default)s).')
    parser.add_argument('--frozen_graph', default=None,
                        help='Run this frozen inference graph (ImageTensor:0 -> SemanticPredictions:0, as the '
                             'DeepLab model zoo ships) instead of a checkpoint.')
    parser.add_argument('--inference_scales', type=float, nargs='+', default=[1.0], metavar='SCALE',
                        help='Average probabilities over these input scales, e.g. 0.5 0.75 1.0 1.25 1.5 1.75 '
                             '(default: 1.0).')
    parser.add_argument('--add_flipped_images', action='store_true',
                        help='Also average over left-right flipped inputs.')
    add_model_flags(parser)
