"""Convert PASCAL VOC (or SBD-augmented) images and labels to TFRecords for train.py.

Writes voc_train.record and voc_val.record (or voc_<split>.record-00000-of-0000N shards with --num_shards N)
into --data_dir. Every image/label pair is checked first (missing file, unreadable image, size mismatch,
label values outside 0..NUM_CLASSES-1 and the void 255); if any is bad nothing is written and every bad pair
is listed.
"""
import os
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_num_classes_flag, add_overwrite_flag, add_workers_flag, original_name, parser_for
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list, require_dir
from utils.data.voc import IGNORE_LABEL, NUM_CLASSES

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def default_list(image_data_dir, split):
    """The VOC list file for `split` beside the image folder; train_aug.txt is preferred for training."""
    folder = os.path.join(os.path.dirname(os.path.abspath(image_data_dir)), 'ImageSets', 'Segmentation')
    names = ['train_aug.txt', 'train.txt'] if split == 'train' else ['val.txt']
    paths = [os.path.join(folder, name) for name in names]
    return next((p for p in paths if os.path.isfile(p)), paths[-1])


def build_parser():
    """Command-line flags (the original project's names)."""
    parser = parser_for(__doc__)
    parser.add_argument('--data_dir', default='./dataset',
                        help='Output folder of the TFRecord files (default: %(default)s).')
    parser.add_argument('--image_data_dir', required=True,
                        help='Folder of the images, e.g. VOCdevkit/VOC2012/JPEGImages.')
    truth = parser.add_argument('--ground_truth_dir', required=True,
                                help='Folder of the label PNGs: SBD SegmentationClassAug (grayscale) or VOC '
                                     'SegmentationClass (palette).')
    original_name(parser, truth, '--label_data_dir')
    parser.add_argument('--train_data_list', default=None,
                        help='List of training ids (default: <image_data_dir>/../ImageSets/Segmentation/'
                             'train_aug.txt if it exists, else train.txt there).')
    parser.add_argument('--valid_data_list', default=None,
                        help='List of validation ids (default: <image_data_dir>/../ImageSets/Segmentation/val.txt).')
    add_num_classes_flag(parser, f'Number of classes: label values must be 0..NUM_CLASSES-1 or the void '
                                 f'{IGNORE_LABEL}; {NUM_CLASSES} is PASCAL VOC')
    parser.add_argument('--num_shards', type=int, default=1,
                        help='Files per split; above 1 they are named voc_train.record-00000-of-0000N '
                             '(default: %(default)s, one voc_train.record).')
    add_workers_flag(parser, 'Worker processes for checking and encoding')
    add_overwrite_flag(parser, 'Replace existing records of the same splits (default: refuse and write nothing)')
    return parser


def main(argv=None):
    """Check every pair of both lists, then write the records."""
    args = build_parser().parse_args(argv)
    if args.num_shards < 1 or args.num_workers < 1:
        raise UserError('--num_shards and --num_workers must be at least 1')
    if not 1 <= args.num_classes <= IGNORE_LABEL:
        raise UserError(f'--num_classes must be 1..{IGNORE_LABEL} ({IGNORE_LABEL} is the void label), '
                        f'got {args.num_classes}')
    require_dir(args.image_data_dir, 'image folder')
    require_dir(args.ground_truth_dir, 'label folder')
    lists = {'train': args.train_data_list or default_list(args.image_data_dir, 'train'),
             'val': args.valid_data_list or default_list(args.image_data_dir, 'val')}
    ids = {split: read_id_list(path) for split, path in lists.items()}
    from utils.records.tfrecords import find_pairs, write_records  # imports TensorFlow: after the argument checks
    splits = {split: find_pairs(split_ids, args.image_data_dir, args.ground_truth_dir)
              for split, split_ids in ids.items()}
    outputs = write_records(args.data_dir, splits, args.num_shards, args.num_workers, args.overwrite,
                            args.num_classes)
    for split, paths in outputs.items():
        files = paths[0] if len(paths) == 1 else f'{len(paths)} shards {paths[0]} ...'
        print(f'{split}: {len(splits[split])} images from {lists[split]} -> {files}')


if __name__ == '__main__':
    sys.exit(run_cli(main))
