"""Command-line flags shared by several scripts, defined once so every script spells them the same."""
import argparse

from utils.parallel import default_workers
from utils.voc import NUM_CLASSES

MODEL_VARIANTS = ('resnet_v2_50', 'resnet_v2_101', 'xception_65')
NORMALIZATIONS = ('inception', 'mean_subtraction')
DEFAULT_ATROUS_RATES = {8: [12, 24, 36], 16: [6, 12, 18]}


def add_model_flags(parser):
    """Flags that define the network; the same for train, evaluate, inference and export."""
    group = parser.add_argument_group('model')
    group.add_argument('--model_variant', '--base_architecture', dest='model_variant', default='resnet_v2_101',
                       choices=MODEL_VARIANTS, help='Backbone network (default: %(default)s).')
    group.add_argument('--output_stride', type=int, default=16, choices=(8, 16),
                       help='Ratio of input to backbone output resolution (default: %(default)s).')
    group.add_argument('--atrous_rates', type=int, nargs=3, default=None, metavar='RATE',
                       help='ASPP atrous rates (default: 6 12 18 at output stride 16, 12 24 36 at 8).')
    group.add_argument('--multi_grid', type=int, nargs=3, default=[1, 2, 4], metavar='M',
                       help='ResNet block4 unit rate multipliers, as in the DeepLabv3 paper (default: 1 2 4).')
    group.add_argument('--decoder_output_stride', type=int, default=None,
                       help='Add the DeepLabv3+ decoder at this stride, e.g. 4 (default: no decoder).')
    group.add_argument('--num_classes', type=int, default=NUM_CLASSES,
                       help='Number of classes, background included (default: %(default)s).')
    group.add_argument('--input_normalization', default='inception', choices=NORMALIZATIONS,
                       help='inception: x/127.5-1, as the slim ResNet-v2 and Xception checkpoints were trained; '
                            'mean_subtraction: x - VOC RGB mean, the upstream v3 behaviour (default: %(default)s).')
    group.add_argument('--batch_norm_decay', type=float, default=0.9997,
                       help='Moving-average decay of batch norm statistics (default: %(default)s).')
    return group


def model_params(args):
    """The model description (a plain dict, as tf.estimator `params`) from parsed flags."""
    rates = args.atrous_rates or DEFAULT_ATROUS_RATES[args.output_stride]
    normalization = 'inception' if args.model_variant == 'xception_65' else args.input_normalization
    return {
        'model_variant': args.model_variant,
        'output_stride': args.output_stride,
        'atrous_rates': list(rates),
        'multi_grid': list(args.multi_grid),
        'decoder_output_stride': args.decoder_output_stride,
        'num_classes': args.num_classes,
        'input_normalization': normalization,
        'batch_norm_decay': args.batch_norm_decay,
    }


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
