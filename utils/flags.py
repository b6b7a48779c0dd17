"""Command-line flags shared by several scripts, defined once so every script spells them the same."""
import argparse
import json
import os

from utils.errors import UserError
from utils.files import atomic_path, read_json_object
from utils.parallel import default_workers
from utils.voc import IGNORE_LABEL, NUM_CLASSES

MODEL_VARIANTS = ('resnet_v2_50', 'resnet_v2_101', 'xception_65')
NORMALIZATIONS = ('inception', 'mean_subtraction')
OUTPUT_STRIDES = (8, 16)
DECODER_OUTPUT_STRIDES = (4,)  # the stride of the low-level end point of every backbone here, as upstream
DEFAULT_ATROUS_RATES = {8: [12, 24, 36], 16: [6, 12, 18]}
# ResNet: the DeepLabv3 paper's block4 multi-grid; Xception: none, as the DeepLab model zoo was trained.
DEFAULT_MULTI_GRID = {'resnet_v2_50': [1, 2, 4], 'resnet_v2_101': [1, 2, 4], 'xception_65': [1, 1, 1]}
# None: derived from the other values by resolve_model_params.
MODEL_DEFAULTS = {
    'model_variant': 'resnet_v2_101',
    'output_stride': 16,
    'atrous_rates': None,
    'multi_grid': None,
    'decoder_output_stride': None,
    'num_classes': NUM_CLASSES,
    'input_normalization': None,
    'batch_norm_decay': 0.9997,
}
PARAMS_FILE = 'deeplab_params.json'
DEFAULT_EVAL_CROP_SIZE = [513, 513]


def add_model_flags(parser):
    """Flags that define the network; the same for train, evaluate, inference and export.

    Unset flags fall back to the model folder's deeplab_params.json (written by train.py), then to the
    defaults, so a trained model is evaluated and exported without repeating its flags.
    """
    group = parser.add_argument_group('model (unset flags: MODEL_DIR/deeplab_params.json, then the default)')
    group.add_argument('--model_variant', '--base_architecture', dest='model_variant', choices=MODEL_VARIANTS,
                       help='Backbone network (default: resnet_v2_101).')
    group.add_argument('--output_stride', type=int, choices=OUTPUT_STRIDES,
                       help='Ratio of input to backbone output resolution (default: 16).')
    group.add_argument('--atrous_rates', type=int, nargs=3, metavar='RATE',
                       help='ASPP atrous rates (default: 6 12 18 at output stride 16, 12 24 36 at 8).')
    group.add_argument('--multi_grid', type=int, nargs=3, metavar='M',
                       help='Rate multipliers of the three units of ResNet block4 (DeepLabv3 paper) or of the three '
                            'separable convs of Xception exit_flow/block2 (DeepLab\'s unit_rate_list) '
                            '(default: 1 2 4 for ResNet, 1 1 1 for Xception, as the model zoo).')
    group.add_argument('--decoder_output_stride', type=int, choices=DECODER_OUTPUT_STRIDES,
                       help='Add the DeepLabv3+ decoder, at stride 4 (default: no decoder).')
    group.add_argument('--num_classes', type=int,
                       help=f'Number of classes, background included (default: {NUM_CLASSES}; train.py takes the count '
                            'of COCO records from their dataset.json).')
    group.add_argument('--input_normalization', choices=NORMALIZATIONS,
                       help='inception: x/127.5-1, as the slim ResNet-v2 and Xception checkpoints were trained; '
                            'mean_subtraction: x minus the ImageNet RGB mean (123.68, 116.78, 103.94), the upstream '
                            'v3 behaviour (default: inception; Xception takes inception only).')
    group.add_argument('--batch_norm_decay', type=float,
                       help='Moving-average decay of batch norm statistics (default: 0.9997).')
    return group


def params_path(model_dir):
    """The deeplab_params.json of a model folder, or of the folder of a checkpoint prefix (run/model.ckpt-27000)."""
    folder = model_dir if os.path.isdir(model_dir) else os.path.dirname(model_dir)
    return os.path.join(folder, PARAMS_FILE)


def saved_model_params(model_dir):
    """The model description train.py stored for `model_dir` (folder or checkpoint prefix), or {}."""
    path = params_path(model_dir) if model_dir else None
    if not path or not os.path.isfile(path):
        return {}
    return read_json_object(path, 'model description')


def save_model_params(model_dir, params):
    """Record the model description next to the checkpoints."""
    with atomic_path(os.path.join(model_dir, PARAMS_FILE)) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump({key: params[key] for key in MODEL_DEFAULTS}, handle, indent=2, sort_keys=True)


def _check_triple(params, key):
    value = params[key]
    if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, int) and v >= 1 for v in value)):
        raise UserError(f'--{key} takes three positive integers, not {value}')
    return list(value)


def resolve_model_params(params):
    """`params` with the model description complete and checked: atrous rates from the output stride, the
    backbone's multi-grid and normalisation filled in where None; a UserError names a value that cannot be built.
    Keys other than the model description (training settings) pass through unchanged."""
    resolved = dict(params)
    for key, default in MODEL_DEFAULTS.items():
        if resolved.get(key) is None:
            resolved[key] = default
    variant = resolved['model_variant']
    if variant not in MODEL_VARIANTS:
        raise UserError(f'--model_variant {variant} is not one of {", ".join(MODEL_VARIANTS)}')
    if resolved['output_stride'] not in OUTPUT_STRIDES:
        raise UserError(f'--output_stride {resolved["output_stride"]}: {variant} reaches '
                        f'{" or ".join(map(str, OUTPUT_STRIDES))}')
    if resolved['decoder_output_stride'] not in (None, *DECODER_OUTPUT_STRIDES):
        raise UserError(f'--decoder_output_stride {resolved["decoder_output_stride"]}: the decoder is built at '
                        f'stride {" or ".join(map(str, DECODER_OUTPUT_STRIDES))} (or leave it unset for none)')
    if resolved['atrous_rates'] is None:
        resolved['atrous_rates'] = DEFAULT_ATROUS_RATES[resolved['output_stride']]
    if resolved['multi_grid'] is None:
        resolved['multi_grid'] = DEFAULT_MULTI_GRID[variant]
    resolved['atrous_rates'] = _check_triple(resolved, 'atrous_rates')
    resolved['multi_grid'] = _check_triple(resolved, 'multi_grid')
    if not 2 <= resolved['num_classes'] <= IGNORE_LABEL:
        raise UserError(f'--num_classes {resolved["num_classes"]}: between 2 and {IGNORE_LABEL} classes '
                        f'({IGNORE_LABEL} is the void label)')
    normalization = resolved['input_normalization'] or 'inception'
    if normalization not in NORMALIZATIONS:
        raise UserError(f'--input_normalization {normalization} is not one of {", ".join(NORMALIZATIONS)}')
    if variant == 'xception_65' and normalization != 'inception':
        raise UserError(f'--input_normalization {normalization}: xception_65 takes inception (x/127.5-1) only')
    resolved['input_normalization'] = normalization
    if not 0.0 < resolved['batch_norm_decay'] < 1.0:
        raise UserError(f'--batch_norm_decay {resolved["batch_norm_decay"]} must be between 0 and 1')
    return resolved


def model_params(args, saved=None):
    """The model description (a plain dict, as tf.estimator `params`): explicit flags win over the model
    folder's saved description (default: read from `args.model_dir`), which wins over the defaults."""
    saved = saved_model_params(getattr(args, 'model_dir', None)) if saved is None else saved
    params = {key: getattr(args, key) if getattr(args, key) is not None else saved.get(key, default)
              for key, default in MODEL_DEFAULTS.items()}
    if args.atrous_rates is None and args.output_stride is not None:
        params['atrous_rates'] = None  # a new output stride brings its own rates unless they are given too
    if args.multi_grid is None and args.model_variant is not None and args.model_variant != saved.get('model_variant'):
        params['multi_grid'] = None  # likewise a new backbone brings its own multi-grid
    return resolve_model_params(params)


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
    add_eval_crop_flag(parser)
    add_model_flags(parser)


def add_eval_crop_flag(parser):
    """`--eval_crop_size`: the padded size the network sees at test time, as upstream eval.py."""
    parser.add_argument('--eval_crop_size', type=int, nargs=2, metavar=('HEIGHT', 'WIDTH'),
                        help='Pad each image at the bottom/right to this size before the network (the padding '
                             'normalises to 0 and is cropped off again), so image pooling averages over the same '
                             'padded crop as in training; larger images run whole (default: 513 513, as upstream).')


def eval_crop_size_of(args):
    """--eval_crop_size, or upstream's 513 513 when it is not given."""
    return list(args.eval_crop_size or DEFAULT_EVAL_CROP_SIZE)
