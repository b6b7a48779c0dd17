"""Check a published checkpoint by its content and describe it for the other scripts.

    python describe_checkpoint.py --checkpoint deeplabv3_pascal_train_aug/model.ckpt --output_stride 8

The checkpoint must hold the variables of one known backbone (--expect_variant: that one). A DeepLab
checkpoint (one with logits/semantic) also gets deeplab_params.json beside it, naming its backbone, decoder
and class count, so inference.py / evaluate.py / export_model.py need only --model_dir .../model.ckpt.
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
    from utils.runtime.checkpoint_description import check_and_describe  # imports TensorFlow: after the flags
    ckpt, description = check_and_describe(args.checkpoint, args.output_stride, args.expect_variant)
    head = ('DeepLab head, deeplab_params.json written' if description['num_classes'] is not None
            else 'backbone only')
    print(f'{ckpt}: {description["model_variant"]}'
          f'{" + decoder" if description["decoder_output_stride"] else ""}, {head}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
