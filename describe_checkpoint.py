"""Check a published checkpoint by its content and describe it for the other scripts.

    python describe_checkpoint.py --checkpoint deeplabv3_pascal_train_aug/model.ckpt --output_stride 8

The checkpoint must hold the variables of one known backbone (--expect_variant: that one). It says which layout
it found: upstream DeepLab's (the model zoo's logits/semantic), the original project's DeepLabv3 (aspp/...,
upsampling_logits), or a backbone only. A checkpoint with a head also gets deeplab_params.json beside it, naming
its layout, backbone, decoder and class count (the scripts read the same from the variables when it is missing).
"""
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import parser_for
from utils.common.errors import run_cli
from utils.runtime.model_config import MODEL_VARIANTS, OUTPUT_STRIDES

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--checkpoint', required=True, help='Checkpoint prefix (.../model.ckpt) or its folder.')
    parser.add_argument('--output_stride', type=int, choices=OUTPUT_STRIDES, default=8,
                        help='Output stride to run it at (default: %(default)s, as the model zoo evaluates).')
    parser.add_argument('--expect_variant', choices=MODEL_VARIANTS, default=None,
                        help='Refuse a checkpoint of another backbone (default: any known one).')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from utils.runtime.checkpoint_description import check_and_describe, layout_name  # imports TensorFlow
    ckpt, description = check_and_describe(args.checkpoint, args.output_stride, args.expect_variant)
    written = ', deeplab_params.json written' if description['num_classes'] is not None else ''
    print(f'{ckpt}: {description["model_variant"]}'
          f'{" + decoder" if description["decoder_output_stride"] else ""}, {layout_name(description)}{written}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
