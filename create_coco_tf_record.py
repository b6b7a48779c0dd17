"""Convert MS-COCO instance annotations (2014 or 2017) to semantic-segmentation TFRecords for train.py.

    python create_coco_tf_record.py --data_dir COCO_RECORDS \\
        --train_image_dir train2017 --train_annotations_file annotations/instances_train2017.json \\
        --val_image_dir val2017 --val_annotations_file annotations/instances_val2017.json

Writes coco_train.record and coco_val.record (-NNNNN-of-NNNNN shards from 1000 images on; the VOC records'
features plus image/filename) and dataset.json (the class mode and count, which train.py and evaluate.py read)
into --data_dir. A pixel takes the class of the selected instance covering it, and 255 where two or more
overlap (crowd instances count too), as torchvision's reference segmentation scripts. Everything is checked
before anything is written; an interrupted run goes on where it stopped when started again with the same flags.
"""
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_overwrite_flag, add_workers_flag, parser_for
from utils.common.errors import UserError, run_cli
from utils.common.files import require_dir
from utils.data.coco_classes import CLASS_MODES, NUM_CLASSES, VOC_CATEGORY_IDS

tensorflow_defaults()  # before TensorFlow's first import, which reads them once

DEFAULT_MIN_AREA = 1000  # torchvision's reference keeps a training image with more than 1000 annotated pixels


def build_parser():
    """Command-line flags (the split flags are named as TensorFlow's own COCO converter names them)."""
    parser = parser_for(__doc__)
    parser.add_argument('--data_dir', default='./coco_records',
                        help='Output folder of the TFRecord files (default: %(default)s).')
    for split, example in (('train', 'train2017'), ('val', 'val2017')):
        parser.add_argument(f'--{split}_image_dir', default=None, help=f'Folder of the {split} images, e.g. {example}.')
        parser.add_argument(f'--{split}_annotations_file', default=None,
                            help=f'Instances file of the {split} split, e.g. annotations/instances_{example}.json '
                                 '(give the image folder and the file of either split or of both).')
    parser.add_argument('--classes', choices=CLASS_MODES, default='voc',
                        help=f'voc: background and the {len(VOC_CATEGORY_IDS)} VOC classes by COCO category, every '
                             f'other category background ({NUM_CLASSES["voc"]} classes); all: background and the '
                             f'80 categories numbered 1..80 in id order ({NUM_CLASSES["all"]}); coco_ids: the label '
                             f'is the category id ({NUM_CLASSES["coco_ids"]}) (default: %(default)s).')
    parser.add_argument('--min_annotated_area', type=float, default=None,
                        help='Leave out training images whose selected annotations\' "area" values sum to no more '
                             f'than this (default: {DEFAULT_MIN_AREA} with --classes voc, as torchvision\'s reference; '
                             'with all and coco_ids every training image is kept unless this is given). Validation '
                             'keeps every image.')
    parser.add_argument('--label_output_dir', default=None,
                        help='Also write each image\'s label map as <image name>.png here (grayscale class indices, '
                             '255 void), with train.txt / val.txt id lists, for evaluate.py --prediction_dir.')
    parser.add_argument('--num_shards', type=int, default=None,
                        help='Record files per split (default: one per 1000 images); a shard is what an interrupted '
                             'run redoes.')
    add_workers_flag(parser, 'Worker processes for checking and encoding')
    add_overwrite_flag(parser, 'Redo the given splits\' records and label PNGs (default: keep finished shards and '
                               'labels of the same settings and write the rest, so a run resumes)')
    return parser


def sources_of(args):
    """{split: Source} of the splits given on the command line, each with its image folder and annotation file."""
    from utils.data.coco import Source
    sources = {}
    for split in ('train', 'val'):
        image_dir, annotations = getattr(args, f'{split}_image_dir'), getattr(args, f'{split}_annotations_file')
        if bool(image_dir) != bool(annotations):
            raise UserError(f'--{split}_image_dir and --{split}_annotations_file go together; give both or neither')
        if image_dir:
            sources[split] = Source(split, require_dir(image_dir, f'{split} image folder'), annotations)
    if not sources:
        raise UserError('give --train_image_dir and --train_annotations_file, --val_image_dir and '
                        '--val_annotations_file, or both pairs')
    return sources


def main(argv=None):
    """Check both splits' annotations and images, then write the records (and label PNGs)."""
    args = build_parser().parse_args(argv)
    if args.num_workers < 1 or (args.num_shards is not None and args.num_shards < 1):
        raise UserError('--num_shards and --num_workers must be at least 1')
    min_area = args.min_annotated_area
    if min_area is None and args.classes == 'voc':
        min_area = DEFAULT_MIN_AREA
    sources = sources_of(args)
    from utils.records import coco_records  # imports TensorFlow: after the argument checks
    done = coco_records.convert(sources, args.data_dir, args.classes, min_area, args.num_shards,
                                args.label_output_dir, args.num_workers, args.overwrite)
    for split, (images, paths, written) in done.items():
        files = paths[0] if len(paths) == 1 else f'{len(paths)} shards {paths[0]} ...'
        print(f'{split}: {images} images, {NUM_CLASSES[args.classes]} classes -> {files} ({written} of '
              f'{len(paths)} written now, the others existed)')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
