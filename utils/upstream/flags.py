"""Upstream DeepLab's flag definitions (research/deeplab) and an absl-style parser, so its commands run here."""
import difflib
import sys

from utils.common.errors import UserError
from utils.runtime.model_config import BATCH_NORM_DECAY

# name: (absl kind, default[, enum choices]), as upstream's common.py defines them for every script.
COMMON = {
    'min_resize_value': ('integer', None), 'max_resize_value': ('integer', None), 'resize_factor': ('integer', None),
    'keep_aspect_ratio': ('boolean', True), 'logits_kernel_size': ('integer', 1),
    'model_variant': ('string', 'mobilenet_v2'), 'image_pyramid': ('multi_float', None),
    'add_image_level_feature': ('boolean', True), 'image_pooling_crop_size': ('list', None),
    'image_pooling_stride': ('list', ['1', '1']), 'aspp_with_batch_norm': ('boolean', True),
    'aspp_with_separable_conv': ('boolean', True), 'multi_grid': ('multi_integer', None),
    'depth_multiplier': ('float', 1.0), 'divisible_by': ('integer', None), 'decoder_output_stride': ('list', None),
    'decoder_use_separable_conv': ('boolean', True), 'merge_method': ('enum', 'max', ('max', 'avg')),
    'prediction_with_upsampled_logits': ('boolean', True), 'dense_prediction_cell_json': ('string', ''),
    'nas_stem_output_num_conv_filters': ('integer', 20), 'nas_use_classification_head': ('boolean', False),
    'nas_remove_os32_stride': ('boolean', False), 'use_bounded_activation': ('boolean', False),
    'aspp_with_concat_projection': ('boolean', True), 'aspp_with_squeeze_and_excitation': ('boolean', False),
    'aspp_convs_filters': ('integer', 256), 'decoder_use_sum_merge': ('boolean', False),
    'decoder_filters': ('integer', 256), 'decoder_output_is_logits': ('boolean', False),
    'image_se_uses_qsigmoid': ('boolean', False), 'label_weights': ('multi_float', None),
    'batch_norm_decay': ('float', BATCH_NORM_DECAY),  # upstream's 0.9997 is this suite's default too
}
# Flags of the evaluating scripts (eval.py and vis.py) besides their own.
_EVALUATING = {
    'master': ('string', ''), 'checkpoint_dir': ('string', None), 'eval_interval_secs': ('integer', 300),
    'atrous_rates': ('multi_integer', None), 'output_stride': ('integer', 16), 'eval_scales': ('multi_float', [1.0]),
    'add_flipped_images': ('boolean', False), 'quantize_delay_step': ('integer', -1),
    'dataset': ('string', 'pascal_voc_seg'), 'dataset_dir': ('string', None),
}
SCRIPT_FLAGS = {
    'train': {
        'num_clones': ('integer', 1), 'clone_on_cpu': ('boolean', False), 'num_replicas': ('integer', 1),
        'startup_delay_steps': ('integer', 15), 'num_ps_tasks': ('integer', 0), 'master': ('string', ''),
        'task': ('integer', 0), 'train_logdir': ('string', None), 'log_steps': ('integer', 10),
        'save_interval_secs': ('integer', 1200), 'save_summaries_secs': ('integer', 600),
        'save_summaries_images': ('boolean', False), 'profile_logdir': ('string', None),
        'optimizer': ('enum', 'momentum', ('momentum', 'adam')), 'adam_learning_rate': ('float', 0.001),
        'adam_epsilon': ('float', 1e-08), 'learning_policy': ('enum', 'poly', ('poly', 'step')),
        'base_learning_rate': ('float', 0.0001),
        'decay_steps': ('float', 0.0), 'end_learning_rate': ('float', 0.0),
        'learning_rate_decay_factor': ('float', 0.1), 'learning_rate_decay_step': ('integer', 2000),
        'learning_power': ('float', 0.9), 'training_number_of_steps': ('integer', 30000), 'momentum': ('float', 0.9),
        'train_batch_size': ('integer', 8), 'weight_decay': ('float', 0.00004),
        'train_crop_size': ('list', ['513', '513']), 'last_layer_gradient_multiplier': ('float', 1.0),
        'upsample_logits': ('boolean', True), 'drop_path_keep_prob': ('float', 1.0),
        'tf_initial_checkpoint': ('string', None), 'initialize_last_layer': ('boolean', True),
        'last_layers_contain_logits_only': ('boolean', False), 'slow_start_step': ('integer', 0),
        'slow_start_learning_rate': ('float', 1e-4), 'fine_tune_batch_norm': ('boolean', True),
        'min_scale_factor': ('float', 0.5), 'max_scale_factor': ('float', 2.0),
        'scale_factor_step_size': ('float', 0.25), 'atrous_rates': ('multi_integer', None),
        'output_stride': ('integer', 16), 'hard_example_mining_step': ('integer', 0),
        'top_k_percent_pixels': ('float', 1.0), 'quantize_delay_step': ('integer', -1),
        'dataset': ('string', 'pascal_voc_seg'), 'train_split': ('string', 'train'), 'dataset_dir': ('string', None),
    },
    'eval': dict(_EVALUATING, eval_logdir=('string', None), eval_batch_size=('integer', 1),
                 eval_crop_size=('list', ['513', '513']), eval_split=('string', 'val'),
                 max_number_of_evaluations=('integer', 0)),
    'vis': dict(_EVALUATING, vis_logdir=('string', None), vis_batch_size=('integer', 1),
                vis_crop_size=('list', ['513', '513']), vis_split=('string', 'val'),
                colormap_type=('enum', 'pascal', ('pascal', 'cityscapes', 'ade20k')),
                also_save_raw_predictions=('boolean', False), max_number_of_iterations=('integer', 0)),
    'export_model': {
        'checkpoint_path': ('string', None), 'export_path': ('string', None), 'num_classes': ('integer', 21),
        'crop_size': ('multi_integer', [513, 513]), 'atrous_rates': ('multi_integer', None),
        'output_stride': ('integer', 8), 'inference_scales': ('multi_float', [1.0]),
        'add_flipped_images': ('boolean', False), 'quantize_delay_step': ('integer', -1),
        'save_inference_graph': ('boolean', False),
    },
}
# absl's logging flags: accepted and ignored (this suite logs to stderr anyway).
LOGGING_FLAGS = {'logtostderr': 'boolean', 'alsologtostderr': 'boolean', 'v': 'integer', 'verbosity': 'integer',
                 'log_dir': 'string'}
_TRUE, _FALSE = ('true', 't', '1'), ('false', 'f', '0')
_MULTI = ('list', 'multi_integer', 'multi_float')  # repeated flags add up; a comma separates values too
_SCALARS = {'integer': int, 'float': float, 'multi_integer': int, 'multi_float': float, 'list': str}


def flag_table(script):
    """Every upstream flag of `script` (train, eval, vis, export_model): {name: (kind, default[, choices])}."""
    return dict(COMMON, **SCRIPT_FLAGS[script])


def _convert(name, spec, text):
    """One flag value from its text, as absl parses it; a UserError names a value of the wrong kind."""
    kind = spec[0]
    if kind == 'boolean':
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise UserError(f'--{name}={text}: a boolean flag takes true or false')
    if kind == 'enum' and text not in spec[2]:
        raise UserError(f'--{name}={text}: one of {", ".join(spec[2])}')
    if kind in ('string', 'enum'):
        return text
    try:
        if kind in _MULTI:
            return [_SCALARS[kind](part) for part in text.split(',')]
        return _SCALARS[kind](text)
    except ValueError:
        raise UserError(f'--{name}={text}: not {"an integer" if "integer" in kind else "a number"}') from None


def _split(token):
    """('name', 'value' or None) of a `--name[=value]` token."""
    name, has_value, value = token.lstrip('-').partition('=')
    return name, value if has_value else None


def usage(script, description):
    """--help: the script's description, then every upstream flag with its kind and default."""
    rows = [f'  --{name} ({spec[0]}, default {spec[1]!r})' for name, spec in sorted(flag_table(script).items())]
    return '\n'.join([description, '', 'flags (upstream\'s definitions; absl syntax):', *rows])


def parse(script, argv, description):
    """(values, given): every flag's value (upstream's default unless given) and the names given in `argv`;
    --help prints `usage` and exits."""
    table = flag_table(script)
    if any(token in ('-h', '--help', '--helpfull') for token in argv):
        print(usage(script, description))
        sys.exit(0)
    values = {name: spec[1] for name, spec in table.items()}
    given, index = set(), 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith('-') or token in ('-', '--'):
            raise UserError(f'deeplab/{script}.py takes --flag=value arguments only, not {token}')
        name, value = _split(token)
        if name.startswith('no') and LOGGING_FLAGS.get(name[2:]) == 'boolean' and value is None:
            name = name[2:]
        if name in LOGGING_FLAGS:
            if value is None and LOGGING_FLAGS[name] != 'boolean':
                index += 1
            print(f'note: --{name} is absl logging; ignored (this suite logs to stderr)', file=sys.stderr)
            continue
        if name not in table and name.startswith('no') and table.get(name[2:], ('',))[0] == 'boolean' \
                and value is None:
            name, value = name[2:], 'false'
        if name not in table:
            close = difflib.get_close_matches(name, table, n=1)
            hint = f' (did you mean --{close[0]}?)' if close else ''
            raise UserError(f'--{name}: not a flag of upstream deeplab/{script}.py{hint}')
        spec = table[name]
        if value is None:
            if spec[0] == 'boolean':
                value = 'true'
            elif index < len(argv):
                value, index = argv[index], index + 1
            else:
                raise UserError(f'--{name} needs a value')
        converted = _convert(name, spec, value)
        if spec[0] in _MULTI:
            converted = (values[name] if name in given else []) + converted
        values[name] = converted
        given.add(name)
    return values, given
