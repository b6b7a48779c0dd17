"""Run the whole suite end to end on generated VOC-layout data (no downloads).

    python demo.py --output_dir demo_output

Every stage is printed as the shell command it equals, so the demo doubles as a tour of the scripts.
"""
import sys

from utils.demo_pipeline import run_demo
from utils.errors import run_cli
from utils.flags import parser_for


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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_demo(args.output_dir, args.train_steps, args.num_train, args.num_val, args.crop_size, args.batch_size,
             args.learning_rate)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
