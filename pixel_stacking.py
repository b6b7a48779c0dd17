"""Pixel stacking: per-pixel weighted majority vote of several models' result folders.

    python pixel_stacking.py --prediction_dir A B C --weights 2 1 1 --output_dir OUT
    python pixel_stacking.py --probabilities --prediction_dir A/probabilities B/probabilities --weights 2 1 \\
        --output_dir OUT

The label with the largest total vote wins each pixel; a tie goes to the earliest-listed folder among the
tied ones (list the strongest model first), or with --tie_break smallest to the smallest class id, as the
original project's argmax(bincount) did. A 255 pixel casts no vote; a pixel without votes is 255. Outputs are
VOC-palette PNGs named <id>.png; b'<id>'.png names written by DeepLab's vis.py are matched to <id>.

With --probabilities the inputs are folders of saved softmax probabilities (inference.py --save_probabilities)
and the soft ensemble is taken instead: their weighted average gives the labels, and the fused probabilities
go to OUT/probabilities for densecrf_inference.py --prob_dir.
"""
import argparse
import os
import sys

from utils.cli.flags import add_batch_flags, add_num_classes_flag, original_name, parser_for
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list, resume_settings
from utils.postprocess.soft_voting import fuse_folders
from utils.postprocess.voting import TIE_BREAKS, stack_folders

ORIGINAL_FORM = ('--path_val', '--path_aug', '--path_ori')


def build_parser():
    parser = parser_for(__doc__)
    folders = parser.add_argument('--prediction_dir', nargs='+', metavar='DIR',
                                  help='Result folders, strongest first (any number).')
    original_name(parser, folders, '--inputs')
    for name in ORIGINAL_FORM:  # the original project's three folders, first to third in voting order
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.original_names[' '.join(f'{name} {name[7:].upper()}' for name in ORIGINAL_FORM)] = (
        '--prediction_dir ' + ' '.join(name[7:].upper() for name in ORIGINAL_FORM))
    parser.add_argument('--weights', nargs='+', type=float, metavar='W',
                        help='Votes per input folder, in input order (default: 1 each).')
    parser.add_argument('--probabilities', action='store_true',
                        help='Inputs are probability folders (.npz): average them (soft ensemble) instead of voting.')
    output = parser.add_argument('--output_dir', required=True, help='Folder for the stacked <id>.png results.')
    original_name(parser, output, '--path_stacking')
    parser.add_argument('--tie_break', choices=TIE_BREAKS, default='first',
                        help='Winner of a tie: label of the earliest-listed tied folder, or the smallest label id '
                             '(the original project\'s rule) (default: %(default)s).')
    parser.add_argument('--image_list', default=None,
                        help='List file of ids to stack (default: every name found in any input folder).')
    parser.add_argument('--allow_missing', action='store_true',
                        help='Let the present folders vote when a name is missing from some (default: error).')
    add_num_classes_flag(parser, 'Number of classes; other values than these and 255 are an error')
    add_batch_flags(parser)
    return parser


def input_dirs(args):
    """The input folders of either form, in voting order."""
    original = [getattr(args, name[2:]) for name in ORIGINAL_FORM]
    if args.prediction_dir and any(original):
        raise UserError('give either --prediction_dir or --path_val/--path_aug/--path_ori, not both')
    if args.prediction_dir:
        return args.prediction_dir
    if not all(original):
        raise UserError('give --prediction_dir DIR [DIR ...], or all of --path_val, --path_aug and --path_ori')
    return original


def run_settings(args, folders):
    """What decides the results, recorded in the output folder so that a rerun with other settings is refused; not
    --image_list or --allow_missing, which decide which images are made, not how."""
    settings = {'tool': 'pixel_stacking.py', 'probabilities': args.probabilities,
                'prediction_dir': [os.path.abspath(folder) for folder in folders],
                'weights': [float(w) for w in args.weights or [1] * len(folders)], 'num_classes': args.num_classes}
    if not args.probabilities:  # the soft ensemble has no ties to break
        settings['tie_break'] = args.tie_break
    return settings


def main(argv=None):
    args = build_parser().parse_args(argv)
    ids = read_id_list(args.image_list) if args.image_list else None
    if args.probabilities and args.allow_missing:
        raise UserError('--allow_missing is for voting; the soft ensemble needs every probability file')
    folders = input_dirs(args)
    with resume_settings(args.output_dir, run_settings(args, folders), args.overwrite) as record:
        if args.probabilities:
            written, skipped = fuse_folders(folders, args.output_dir, ids, args.weights, args.num_workers,
                                            args.overwrite, args.num_classes, record)
            print(f'{written} averaged results written to {args.output_dir}, {skipped} existed already')
            return 0
        summary = stack_folders(folders, args.output_dir, ids, args.weights, args.tie_break, args.allow_missing,
                                args.num_workers, args.overwrite, args.num_classes, record)
    for folder, missing in summary.missing.items():
        print(f'{folder}: {len(missing)} missing, voted without it: {" ".join(missing)}', file=sys.stderr)
    print(f'{summary.written} stacked results written to {args.output_dir}, {summary.skipped} existed already')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
