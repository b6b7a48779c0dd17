"""Upstream DeepLab flag values as the arguments of this suite's scripts; a flag it cannot honour is refused."""
from utils.common.errors import UserError
from utils.runtime.model_config import MODEL_VARIANTS
from utils.upstream.data import check_dataset
from utils.upstream.flags import flag_table

# Flags every script translates: the model description and where the data come from.
_MODEL = ('model_variant', 'atrous_rates', 'output_stride', 'multi_grid', 'decoder_output_stride', 'batch_norm_decay',
          'dataset', 'dataset_dir')
_EVALUATING = _MODEL + ('checkpoint_dir', 'eval_interval_secs', 'eval_scales', 'add_flipped_images')
HONOURED = {
    'train': _MODEL + ('train_logdir', 'training_number_of_steps', 'train_batch_size', 'base_learning_rate',
                       'end_learning_rate', 'momentum', 'weight_decay', 'train_crop_size', 'fine_tune_batch_norm',
                       'min_scale_factor', 'max_scale_factor', 'num_clones', 'clone_on_cpu', 'save_interval_secs',
                       'log_steps', 'tf_initial_checkpoint', 'train_split', 'initialize_last_layer',
                       'last_layers_contain_logits_only', 'learning_power', 'slow_start_step',
                       'slow_start_learning_rate'),
    'eval': _EVALUATING + ('eval_logdir', 'eval_crop_size', 'eval_split', 'eval_batch_size',
                           'max_number_of_evaluations'),
    'vis': _EVALUATING + ('vis_logdir', 'vis_crop_size', 'vis_split', 'vis_batch_size', 'also_save_raw_predictions',
                          'max_number_of_iterations'),
    'export_model': _MODEL + ('checkpoint_path', 'export_path', 'num_classes', 'crop_size'),
}
REQUIRED = {'train': ('train_logdir', 'dataset_dir'), 'eval': ('checkpoint_dir', 'eval_logdir', 'dataset_dir'),
            'vis': ('checkpoint_dir', 'vis_logdir', 'dataset_dir'), 'export_model': ('checkpoint_path', 'export_path')}
# upstream model.get_extra_layer_scopes: the scope prefixes --initialize_last_layer=false leaves out (logits first)
LAST_LAYERS = ('logits', 'image_pooling', 'aspp', 'concat_projection', 'decoder', 'meta_architecture')
# Honoured only at one value: flag -> (the value, why).
_ONLY = {'colormap_type': ('pascal', 'the prediction PNGs use the PASCAL palette'),
         'learning_policy': ('poly', 'the learning rate decays by poly here')}
# Refused whenever given, even at upstream's default, which this suite does not follow either: flag -> why.
_NEVER = {'scale_factor_step_size': 'training scales are drawn uniformly between --min_scale_factor and '
                                    '--max_scale_factor here, not in steps'}


def check_flags(script, values, given):
    """A UserError for the first flag given that this suite cannot honour (a value other than upstream's default
    of a flag it does not translate) and for a missing required flag."""
    table = flag_table(script)
    for name in sorted(given):
        if name in _NEVER:
            raise UserError(f'--{name}={values[name]}: cannot be honoured here ({_NEVER[name]})')
        if name in _ONLY and name in table and values[name] != _ONLY[name][0]:
            raise UserError(f'--{name}={values[name]}: cannot be honoured here ({_ONLY[name][1]})')
        if name not in HONOURED[script] and name not in _ONLY and values[name] != table[name][1]:
            raise UserError(f'--{name}={values[name]}: upstream {script}.py flag this suite cannot honour '
                            f'(only its default {table[name][1]})')
    for name in REQUIRED[script]:
        if not values[name]:
            raise UserError(f'--{name} is required')


def check_last_layers(values):
    """--initialize_last_layer=false is honoured when --tf_initial_checkpoint holds none of upstream's last layers
    that train.py would restore (none at all, or logits of another class count, which start fresh here anyway);
    else a UserError, since train.py restores every layer whose shape fits."""
    if values['initialize_last_layer'] or not values['tf_initial_checkpoint']:
        return
    from utils.runtime import checkpoints  # imports TensorFlow

    stored = checkpoints.checkpoint_shapes(checkpoints.resolve_checkpoint(values['tf_initial_checkpoint']))
    scopes = LAST_LAYERS[:1] if values['last_layers_contain_logits_only'] else LAST_LAYERS
    num_classes = check_dataset(values['dataset'])
    kept = sorted(name for name, shape in stored.items() if name.startswith(scopes)
                  and not checkpoints.is_training_state(name)
                  and not (name.startswith('logits/') and shape[-1] != num_classes))
    if kept:
        raise UserError(f'--initialize_last_layer=false: {values["tf_initial_checkpoint"]} holds {kept[0]} '
                        f'({len(kept)} such variables), which train.py restores; it cannot start them fresh')


def _pair(name, values):
    """[height, width] of a crop-size flag (`513,513` or given twice)."""
    size = [int(v) for v in values[name]]
    if len(size) != 2:
        raise UserError(f'--{name}: takes height and width, not {",".join(map(str, size))}')
    return [str(v) for v in size]


def model_argv(values):
    """The model flags of this suite's scripts for upstream's model flags."""
    if values['model_variant'] not in MODEL_VARIANTS:
        raise UserError(f'--model_variant={values["model_variant"]}: this suite builds {", ".join(MODEL_VARIANTS)}')
    argv = ['--model_variant', values['model_variant'], '--output_stride', str(values['output_stride']),
            '--batch_norm_decay', str(values['batch_norm_decay'])]
    if values['atrous_rates'] is not None:
        argv += ['--atrous_rates', *map(str, values['atrous_rates'])]
    # upstream's unset multi-grid is none (rates 1 1 1), not the DeepLabv3 paper's 1 2 4 this suite gives ResNets
    argv += ['--multi_grid', *map(str, values['multi_grid'] or [1, 1, 1])]
    if values['decoder_output_stride']:
        if len(values['decoder_output_stride']) != 1:
            raise UserError('--decoder_output_stride: one stride here (a single decoder level)')
        argv += ['--decoder_output_stride', str(int(values['decoder_output_stride'][0]))]
    return argv


def train_argv(values, data_dir):
    """train.py's arguments for upstream train.py's values; `data_dir` holds the split's shards as train-*."""
    clones = values['num_clones']
    # one clone: no strategy, one device (a GPU when there is one, as upstream's soft placement)
    replicas = ['--num_cpu_replicas' if values['clone_on_cpu'] else '--num_gpus', str(clones if clones > 1 else 0)]
    argv = ['--model_dir', values['train_logdir'], '--data_dir', data_dir, '--no_eval',
            '--num_classes', str(check_dataset(values['dataset'])),
            '--max_iter', str(values['training_number_of_steps']), '--batch_size', str(values['train_batch_size']),
            '--initial_learning_rate', str(values['base_learning_rate']),
            '--end_learning_rate', str(values['end_learning_rate']), '--learning_power', str(values['learning_power']),
            '--slow_start_step', str(values['slow_start_step']),
            '--slow_start_learning_rate', str(values['slow_start_learning_rate']),
            '--momentum', str(values['momentum']),
            '--weight_decay', str(values['weight_decay']), '--crop_size', *_pair('train_crop_size', values),
            '--min_scale', str(values['min_scale_factor']), '--max_scale', str(values['max_scale_factor']),
            '--save_checkpoints_secs', str(values['save_interval_secs']),
            '--log_every_n_steps', str(values['log_steps']), *replicas, *model_argv(values)]
    if not values['fine_tune_batch_norm']:
        argv.append('--freeze_batch_norm')
    if values['tf_initial_checkpoint']:
        argv += ['--pre_trained_model', values['tf_initial_checkpoint']]
    return argv


def predict_argv(values, crop_flag, checkpoint):
    """The flags evaluate.py and inference.py share, for upstream eval.py's or vis.py's values."""
    argv = ['--model_dir', checkpoint, '--num_classes', str(check_dataset(values['dataset'])),
            '--eval_crop_size', *_pair(crop_flag, values), '--inference_scales', *map(str, values['eval_scales']),
            '--batch_size', str(values[crop_flag.replace('crop_size', 'batch_size')]), *model_argv(values)]
    return argv + (['--add_flipped_images'] if values['add_flipped_images'] else [])


def export_argv(values):
    """export_model.py's arguments for upstream export_model.py's values (upstream's output stride 8 default)."""
    return ['--model_dir', values['checkpoint_path'], '--export_path', values['export_path'],
            '--num_classes', str(values['num_classes']), '--eval_crop_size', *_pair('crop_size', values),
            *model_argv(values)]
