"""The model's configuration, in one place: backbones, strides, rates and the other defaults, their checks, and
deeplab_params.json, the description train.py stores beside the checkpoints. No TensorFlow: the scripts' --help
and the data tools read it too."""
import json
import os
import re

from utils.common.errors import UserError
from utils.common.files import atomic_path, read_json_object
from utils.data.voc import IGNORE_LABEL, NUM_CLASSES

MODEL_VARIANTS = ('resnet_v2_50', 'resnet_v2_101', 'xception_65')
# Variable layouts of the head: 'deeplab', upstream DeepLab's (the model zoo's names: image_pooling, aspp0-3,
# concat_projection, logits/semantic); 'original', the original project's DeepLabv3 (aspp/conv_1x1, aspp/conv_3x3_N,
# aspp/image_level_features, aspp/conv_1x1_concat, upsampling_logits/conv_1x1 on ResNet block4), its released model
# among them. Each computes as the code that wrote it (docs/usage.md, "Checkpoint layouts").
LAYOUTS = ('deeplab', 'original')
ORIGINAL_VARIANTS = ('resnet_v2_50', 'resnet_v2_101')
NORMALIZATIONS = ('inception', 'mean_subtraction')
OUTPUT_STRIDES = (8, 16)
DECODER_OUTPUT_STRIDES = (4,)  # the stride of the low-level end point of every backbone here, as upstream
DEFAULT_ATROUS_RATES = {8: [12, 24, 36], 16: [6, 12, 18]}
# ResNet: the DeepLabv3 paper's block4 multi-grid; Xception: none, as the DeepLab model zoo was trained.
DEFAULT_MULTI_GRID = {'resnet_v2_50': [1, 2, 4], 'resnet_v2_101': [1, 2, 4], 'xception_65': [1, 1, 1]}
# slim's and DeepLab's batch-norm moving-average decay (the epsilon is nets.layers.BATCH_NORM_EPSILON).
BATCH_NORM_DECAY = 0.9997
# DeepLab's 'poly' learning rate: (initial - end) * (1 - step / max_iter) ** power + end.
POLY_POWER = 0.9
# The momentum of the SGD optimiser: the original train.py's and upstream DeepLab's.
MOMENTUM = 0.9
# L2 weight decay by backbone: slim's resnet_arg_scope (the ImageNet checkpoints' training), upstream DeepLab's
# train.py for Xception; the original layout trains with its own train.py's default.
DEFAULT_WEIGHT_DECAY = {'resnet_v2_50': 1e-4, 'resnet_v2_101': 1e-4, 'xception_65': 4e-5}
ORIGINAL_WEIGHT_DECAY = 2e-4
# What the weight decay multiplies: 'kernels', upstream DeepLab's (slim's weights_regularizer: convolution kernels,
# not depthwise ones, not batch norm, not biases); 'all_trainable', the original project's (the sum of
# tf.nn.l2_loss over every trainable variable: kernels, batch-norm beta and gamma and the logits' biases).
REGULARIZATIONS = ('kernels', 'all_trainable')
DEFAULT_REGULARIZATION = {'deeplab': 'kernels', 'original': 'all_trainable'}
# None: derived from the other values by resolve_model_params.
MODEL_DEFAULTS = {
    'layout': 'deeplab',
    'model_variant': 'resnet_v2_101',
    'output_stride': 16,
    'atrous_rates': None,
    'multi_grid': None,
    'decoder_output_stride': None,
    'num_classes': NUM_CLASSES,
    'input_normalization': None,
    'batch_norm_decay': BATCH_NORM_DECAY,
}
# Arithmetic of the network: variables, checkpoints, batch-norm statistics, loss and softmax stay float32 in
# every one (utils.runtime.precision). float32 is the default: the published numbers are float32.
PRECISIONS = ('float32', 'bfloat16', 'float16')
DEFAULT_PRECISION = 'float32'
PARAMS_FILE = 'deeplab_params.json'
DEFAULT_EVAL_CROP_SIZE = [513, 513]  # upstream eval.py's eval_crop_size
# The test-time padding by layout when --eval_crop_size is not given: upstream's crop for the DeepLab layout; none
# for the original layout, whose evaluate.py and inference.py ran every image whole (its published numbers).
DEFAULT_EVAL_CROP_SIZES = {'deeplab': DEFAULT_EVAL_CROP_SIZE, 'original': None}
DEFAULT_PREDICT_BATCH_SIZE = 4  # images per session run in evaluate.py and inference.py (BENCHMARKS.md)


def backbone_scope(params):
    """The variable scope of the backbone, which is also the scope of its ImageNet checkpoint."""
    return params['model_variant']


def params_path(model_dir):
    """The deeplab_params.json of a model folder, or of the folder of a checkpoint prefix (run/model.ckpt-27000)."""
    folder = model_dir if os.path.isdir(model_dir) else os.path.dirname(model_dir)
    return os.path.join(folder, PARAMS_FILE)


def checkpoint_name(model_dir):
    """The checkpoint `model_dir` gives, read without TensorFlow: a prefix as it is, a folder's latest as the folder's
    `checkpoint` file names it (None without one), so results can be told from another checkpoint's cheaply."""
    if not os.path.isdir(model_dir):
        return os.path.abspath(model_dir)
    try:
        with open(os.path.join(model_dir, 'checkpoint'), encoding='utf-8') as handle:
            latest = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', handle.read(), re.MULTILINE)
    except OSError:
        return None
    return os.path.abspath(os.path.join(model_dir, latest.group(1))) if latest else None


def saved_model_params(model_dir):
    """The model description train.py stored for `model_dir` (folder or checkpoint prefix), or {}."""
    path = params_path(model_dir) if model_dir else None
    if not path or not os.path.isfile(path):
        return {}
    return read_json_object(path, 'model description')


def save_model_params(model_dir, params):
    """Record the model description next to the checkpoints, and the --precision and --regularization of the
    training run that wrote it (`training_precision`, `regularization`; the description alone decides how the
    checkpoints are read, the regularization is what a resumed run continues)."""
    record = {key: params[key] for key in MODEL_DEFAULTS}
    if params.get('precision'):
        record['training_precision'] = params['precision']
    if params.get('regularization'):
        record['regularization'] = params['regularization']
    with atomic_path(os.path.join(model_dir, PARAMS_FILE)) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(record, handle, indent=2, sort_keys=True)


def _check_triple(params, key):
    value = params[key]
    if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, int) and v >= 1 for v in value)):
        raise UserError(f'--{key} takes three positive integers, not {value}')
    return list(value)


def _check_original(params):
    """UserError for a setting the original layout's network does not have: its head sits on ResNet-v2's block4
    and has no decoder."""
    if params['model_variant'] not in ORIGINAL_VARIANTS:
        raise UserError(f'--layout original: the original project\'s DeepLabv3 is built on '
                        f'{" or ".join(ORIGINAL_VARIANTS)}, not {params["model_variant"]}')
    if params['decoder_output_stride']:
        raise UserError('--layout original: the original project\'s DeepLabv3 has no decoder; leave '
                        '--decoder_output_stride unset')


def default_weight_decay(params):
    """The weight decay of a resolved model description when --weight_decay is not given."""
    if params['layout'] == 'original':
        return ORIGINAL_WEIGHT_DECAY
    return DEFAULT_WEIGHT_DECAY[params['model_variant']]


def resolve_model_params(params):
    """`params` with the model description complete and checked: atrous rates from the output stride, the
    backbone's multi-grid and normalisation filled in where None; a UserError names a value that cannot be built.
    Keys other than the model description (training settings) pass through unchanged."""
    resolved = dict(params)
    for key, default in MODEL_DEFAULTS.items():
        if resolved.get(key) is None:
            resolved[key] = default
    variant, layout = resolved['model_variant'], resolved['layout']
    if variant not in MODEL_VARIANTS:
        raise UserError(f'--model_variant {variant} is not one of {", ".join(MODEL_VARIANTS)}')
    if layout not in LAYOUTS:
        raise UserError(f'--layout {layout} is not one of {", ".join(LAYOUTS)}')
    if layout == 'original':
        _check_original(resolved)
    if resolved['output_stride'] not in OUTPUT_STRIDES:
        raise UserError(f'--output_stride {resolved["output_stride"]}: {variant} reaches '
                        f'{" or ".join(map(str, OUTPUT_STRIDES))}')
    if resolved['decoder_output_stride'] not in (None, *DECODER_OUTPUT_STRIDES):
        raise UserError(f'--decoder_output_stride {resolved["decoder_output_stride"]}: the decoder is built at '
                        f'stride {" or ".join(map(str, DECODER_OUTPUT_STRIDES))} (or leave it unset for none)')
    if resolved['atrous_rates'] is None:
        resolved['atrous_rates'] = DEFAULT_ATROUS_RATES[resolved['output_stride']]
    if resolved['multi_grid'] is None:
        resolved['multi_grid'] = [1, 1, 1] if layout == 'original' else DEFAULT_MULTI_GRID[variant]
    resolved['atrous_rates'] = _check_triple(resolved, 'atrous_rates')
    resolved['multi_grid'] = _check_triple(resolved, 'multi_grid')
    if not 2 <= resolved['num_classes'] <= IGNORE_LABEL:
        raise UserError(f'--num_classes {resolved["num_classes"]}: between 2 and {IGNORE_LABEL} classes '
                        f'({IGNORE_LABEL} is the void label)')
    normalization = resolved['input_normalization'] or ('mean_subtraction' if layout == 'original' else 'inception')
    if normalization not in NORMALIZATIONS:
        raise UserError(f'--input_normalization {normalization} is not one of {", ".join(NORMALIZATIONS)}')
    if variant == 'xception_65' and normalization != 'inception':
        raise UserError(f'--input_normalization {normalization}: xception_65 takes inception (x/127.5-1) only')
    resolved['input_normalization'] = normalization
    if not 0.0 < resolved['batch_norm_decay'] < 1.0:
        raise UserError(f'--batch_norm_decay {resolved["batch_norm_decay"]} must be between 0 and 1')
    return resolved
