"""Command-line flags shared by several scripts, defined once so every script spells them the same."""
import argparse

from utils.common.errors import UserError
from utils.common.parallel import default_workers
from utils.data.voc import NUM_CLASSES
from utils.runtime.model_config import (
    BATCH_NORM_DECAY,
    DECODER_OUTPUT_STRIDES,
    DEFAULT_EVAL_CROP_SIZES,
    DEFAULT_PRECISION,
    DEFAULT_PREDICT_BATCH_SIZE,
    LAYOUTS,
    MODEL_DEFAULTS,
    MODEL_VARIANTS,
    NORMALIZATIONS,
    OUTPUT_STRIDES,
    PRECISIONS,
    resolve_model_params,
    saved_model_params,
)


def add_model_flags(parser):
    """Flags that define the network; the same for train, evaluate, inference and export.

    Unset flags fall back to the model folder's deeplab_params.json (written by train.py), then to the
    defaults, so a trained model is evaluated and exported without repeating its flags.
    """
    group = parser.add_argument_group('model (unset flags: MODEL_DIR/deeplab_params.json, else what its checkpoint\'s '
                                      'variables say, then the default)')
    group.add_argument('--layout', choices=LAYOUTS,
                       help='Variable layout of the head: deeplab (the model zoo\'s names) or original (the original '
                            'project\'s DeepLabv3, its released model among them: ResNet-v2 block4, its ASPP, '
                            'mean-subtracted input, whole-image evaluation). Read from the checkpoint when there is '
                            'one (default: deeplab).')
    variant = group.add_argument('--model_variant', choices=MODEL_VARIANTS,
                                 help='Backbone network (default: resnet_v2_101).')
    original_name(parser, variant, '--base_architecture', group)
    group.add_argument('--output_stride', type=int, choices=OUTPUT_STRIDES,
                       help='Ratio of input to backbone output resolution (default: 16).')
    group.add_argument('--atrous_rates', type=int, nargs=3, metavar='RATE',
                       help='ASPP atrous rates (default: 6 12 18 at output stride 16, 12 24 36 at 8).')
    group.add_argument('--multi_grid', type=int, nargs=3, metavar='M',
                       help='Rate multipliers of the three units of ResNet block4 (DeepLabv3 paper) or of the three '
                            'separable convs of Xception exit_flow/block2 (DeepLab\'s unit_rate_list) '
                            '(default: 1 2 4 for ResNet, 1 1 1 for Xception, as the model zoo, and for the original '
                            'layout, which has none).')
    group.add_argument('--decoder_output_stride', type=int, choices=DECODER_OUTPUT_STRIDES,
                       help='Add the DeepLabv3+ decoder, at stride 4 (default: no decoder).')
    group.add_argument('--num_classes', type=int,
                       help=f'Number of classes, background included (default: {NUM_CLASSES}; train.py takes the count '
                            'of COCO records from their dataset.json).')
    group.add_argument('--input_normalization', choices=NORMALIZATIONS,
                       help='inception: x/127.5-1, as the slim ResNet-v2 and Xception checkpoints were trained; '
                            'mean_subtraction: x minus the ImageNet RGB mean (123.68, 116.78, 103.94), the upstream '
                            'v3 behaviour (default: inception; mean_subtraction for the original layout; Xception '
                            'takes inception only).')
    group.add_argument('--batch_norm_decay', type=float,
                       help=f'Moving-average decay of batch norm statistics (default: {BATCH_NORM_DECAY}).')
    return group


def model_params(args, saved=None):
    """The model description (a plain dict, as tf.estimator `params`): explicit flags win over the model
    folder's description (`saved`; default: its deeplab_params.json; the scripts pass
    utils.runtime.checkpoint_description.model_description, which also reads a checkpoint without one), which wins
    over the defaults."""
    saved = saved_model_params(getattr(args, 'model_dir', None)) if saved is None else saved
    params = {key: getattr(args, key) if getattr(args, key) is not None else saved.get(key, default)
              for key, default in MODEL_DEFAULTS.items()}
    if args.atrous_rates is None and args.output_stride is not None:
        params['atrous_rates'] = None  # a new output stride brings its own rates unless they are given too
    if args.multi_grid is None and args.model_variant is not None and args.model_variant != saved.get('model_variant'):
        params['multi_grid'] = None  # likewise a new backbone brings its own multi-grid
    return resolve_model_params(params)


RESUME = 'default: skip them, so a run can resume; a folder holding results made with other settings is refused'


def add_workers_flag(parser, what='Worker processes'):
    """`--num_workers`: the processes of a batch tool, every core by default."""
    parser.add_argument('--num_workers', type=int, default=default_workers(),
                        help=f'{what} (default: all %(default)s cores).')


def add_overwrite_flag(parser, what=f'Redo outputs that already exist ({RESUME})'):
    """`--overwrite`: redo what exists; `what` says what that means for the tool."""
    parser.add_argument('--overwrite', action='store_true', help=f'{what}.')


def add_num_classes_flag(parser, what='Number of classes'):
    """`--num_classes` of the tools that read label maps without a model (the model's is in add_model_flags)."""
    parser.add_argument('--num_classes', type=int, default=NUM_CLASSES, help=f'{what} (default: %(default)s).')


def add_batch_flags(parser):
    """`--num_workers` and `--overwrite`, for tools that process a folder of images."""
    add_workers_flag(parser)
    add_overwrite_flag(parser)


class SuiteParser(argparse.ArgumentParser):
    """An ArgumentParser that also takes the original project's flag names (`original_name`): they work, stay out
    of --help's list of options and are shown once, in a table at its end."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.original_names = {}  # old flag: new flag
        self.required_under_two_names = {}  # dest: new flag, for flags that are required under either name

    def format_help(self):
        if self.original_names:
            width = max(map(len, self.original_names))
            rows = [f'  {old.ljust(width)}  = {new}' for old, new in self.original_names.items()]
            self.epilog = '\n'.join(["Other names these flags answer to (the original project's, and this suite's "
                                     'earlier ones):', *rows])
        return super().format_help()

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        missing = [new for dest, new in self.required_under_two_names.items() if getattr(parsed, dest, None) is None]
        if missing:
            self.error(f'the following arguments are required: {", ".join(missing)}')
        return parsed, rest


def original_name(parser, action, old, container=None):
    """Let `old` (the original project's name, or an earlier one of this suite's) set `action`'s value too,
    hidden from the option list; `container` is the group `action` was added to, when it is in one."""
    kwargs = {'dest': action.dest, 'default': argparse.SUPPRESS, 'help': argparse.SUPPRESS}
    if action.nargs == 0:
        kwargs['action'] = 'store_true'
    else:
        kwargs.update(nargs=action.nargs, type=action.type, choices=action.choices, metavar=action.metavar)
    (container or parser).add_argument(old, **kwargs)
    if not isinstance(parser, SuiteParser):  # a plain ArgumentParser (a benchmark's): the name works, unlisted
        return action
    parser.original_names[old] = action.option_strings[0]
    if action.required:
        action.required = False
        parser.required_under_two_names[action.dest] = action.option_strings[0]
    return action


def parser_for(description):
    """The suite's ArgumentParser: keeps the docstring's line breaks and takes original flag names."""
    return SuiteParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


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
    parser.add_argument('--batch_size', type=int, default=None,
                        help='Images per session run: consecutive images of the same padded shape (every image up to '
                             '--eval_crop_size) run together; the results do not depend on it (default: '
                             f'{DEFAULT_PREDICT_BATCH_SIZE}; checkpoints only: a frozen graph takes one per run).')
    add_precision_flag(parser)
    add_model_flags(parser)


def add_export_flags(parser):
    """The flags of the scripts that export a checkpoint: where it is, its padding, precision and model flags."""
    parser.add_argument('--model_dir', default='./model',
                        help='Training folder (its latest checkpoint is exported) or a checkpoint prefix such as '
                             '.../model.ckpt (default: %(default)s).')
    add_eval_crop_flag(parser)
    add_precision_flag(parser)
    add_model_flags(parser)


def add_precision_flag(parser):
    """`--precision`: the arithmetic of the network's convolutions (utils.runtime.precision)."""
    parser.add_argument('--precision', choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help='Arithmetic of the network: bfloat16 on CPUs with AVX512-BF16 or AMX and on recent GPUs, '
                             'float16 on GPUs (training with dynamic loss scaling); variables, checkpoints, batch '
                             'norm, loss and softmax stay float32, so checkpoints move freely between precisions '
                             '(default: %(default)s, as the published numbers).')


def add_eval_crop_flag(parser):
    """`--eval_crop_size`: the padded size the network sees at test time, as upstream eval.py."""
    parser.add_argument('--eval_crop_size', type=int, nargs=2, metavar=('HEIGHT', 'WIDTH'),
                        help='Pad each image at the bottom/right to this size before the network (the padding '
                             'normalises to 0 and is cropped off again), so image pooling averages over the same '
                             'padded crop as in training; larger images run whole (default: 513 513, as upstream, '
                             'for the DeepLab layout; none for the original layout: each image whole, as the original '
                             'code evaluated).')


def prediction_source(args, params, with_probabilities=False):
    """utils.runtime.predict.iter_outputs's keywords from add_predict_flags's flags: a frozen graph (one scale,
    its own padding, labels only) or the checkpoint of --model_dir with its model description `params`."""
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f'--batch_size {args.batch_size}: give 1 or more images per run')
    if args.frozen_graph:
        if args.batch_size is not None:
            raise UserError(f'{args.frozen_graph}: --batch_size needs a checkpoint (--model_dir); a frozen graph takes '
                            'one image per run')
        if args.inference_scales != [1.0] or args.add_flipped_images or args.eval_crop_size:
            raise UserError(f'{args.frozen_graph}: --inference_scales, --add_flipped_images and --eval_crop_size '
                            'need a checkpoint (--model_dir); a frozen graph runs one scale with its own padding')
        if with_probabilities:
            raise UserError(f'{args.frozen_graph}: frozen graphs give labels only; pass the checkpoint '
                            '(--model_dir) to save probabilities')
        if args.precision != DEFAULT_PRECISION:
            raise UserError(f'{args.frozen_graph}: --precision needs a checkpoint (--model_dir); a frozen graph runs '
                            'in the precision it was exported in (export_model.py --precision)')
        return {'frozen_graph': args.frozen_graph}
    return {'model_dir': args.model_dir, 'params': dict(params, precision=args.precision),
            'scales': tuple(args.inference_scales),
            'flip': args.add_flipped_images, 'eval_crop_size': eval_crop_size_of(args, params),
            'with_probabilities': with_probabilities, 'batch_size': args.batch_size or DEFAULT_PREDICT_BATCH_SIZE}


def eval_crop_size_of(args, params):
    """--eval_crop_size, else the layout's default (DEFAULT_EVAL_CROP_SIZES): upstream's 513 513 for the DeepLab
    layout, None (each image whole, as the original code evaluated) for the original one."""
    size = args.eval_crop_size or DEFAULT_EVAL_CROP_SIZES[params['layout']]
    return list(size) if size else None
