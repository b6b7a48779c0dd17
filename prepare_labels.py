"""Make SegmentationClassAug and the train_aug list from VOC 2012 and SBD, plus the lists a run works on.

    python prepare_labels.py --voc_root VOCdevkit/VOC2012 --sbd_root benchmark_RELEASE/dataset \\
        --output_dir SegmentationClassAug --list_dir lists

SBD's cls/<id>.mat (GTcls.Segmentation) and VOC's palette PNGs become grayscale index PNGs in --output_dir
(VOC's label wins where both exist; a label holding other values than 0..20 and VOC's void 255 is refused).
train_aug = (VOC train + SBD train + SBD val) - VOC val: 10,582 images on the real data, a warning otherwise.
With --segmentation_class_aug a ready-made folder (e.g. DrSleep's) is used instead and train_aug is every label
in it that is not VOC val. --list_dir gets train_aug.txt and the run's lists: run_train, run_val, run_val_tune /
run_val_check (even / odd val positions), run_test and run_val_test; every list is made before any label is
converted, so an option that leaves one empty costs nothing.
--run_image_dir gets links to the images of run_val_test, so a model runs once over val and test.
"""
import os
import sys

from utils.cli.flags import add_workers_flag, parser_for
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list
from utils.data.train_aug import (
    build_label_folder,
    count_note,
    label_sources,
    ready_made_ids,
    run_lists,
    split_lists,
    train_aug_ids,
    write_list,
)
from utils.reproduce.image_links import link_images


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--voc_root', required=True, help='The VOC2012 folder (JPEGImages, SegmentationClass, ...).')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--sbd_root', help='SBD\'s benchmark_RELEASE/dataset folder (cls/, train.txt, val.txt).')
    source.add_argument('--segmentation_class_aug', help='A ready-made SegmentationClassAug folder to use as is.')
    parser.add_argument('--output_dir', help='Folder for the index PNGs (needed with --sbd_root).')
    parser.add_argument('--list_dir', required=True, help='Folder for train_aug.txt and the run_*.txt lists.')
    parser.add_argument('--voc_test_root', default=None,
                        help='VOC2012 folder of the test images (ImageSets/Segmentation/test.txt), for run_test.txt.')
    parser.add_argument('--run_image_dir', default=None,
                        help='Folder to fill with links to the run\'s val and test images (needs --voc_test_root).')
    for split in ('train', 'val', 'test'):
        parser.add_argument(f'--num_{split}', type=int, default=None,
                            help=f'Use only the first N images of {split} in the run lists (default: all).')
    add_workers_flag(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.run_image_dir and not args.voc_test_root:
        raise UserError('--run_image_dir needs --voc_test_root')
    if args.sbd_root and not args.output_dir:
        raise UserError('--sbd_root needs --output_dir for the converted labels')
    lists = split_lists(args.voc_root, args.sbd_root)
    if args.segmentation_class_aug:
        label_dir, sources = args.segmentation_class_aug, None
        train_aug = ready_made_ids(label_dir, lists['voc_val'])
        missing = [i for i in lists['voc_val'] if not os.path.isfile(os.path.join(label_dir, i + '.png'))]
        if missing:
            raise UserError(f'{label_dir}: {len(missing)} VOC val labels missing ({", ".join(missing[:5])})')
    else:
        label_dir = args.output_dir
        train_aug = train_aug_ids(lists['voc_train'], lists['voc_val'], lists['sbd_train'], lists['sbd_val'])
        sources = label_sources(os.path.join(args.voc_root, 'SegmentationClass'),
                                os.path.join(args.sbd_root, 'cls'), train_aug + lists['voc_val'])
    test = None
    if args.voc_test_root:
        test = read_id_list(os.path.join(args.voc_test_root, 'ImageSets', 'Segmentation', 'test.txt'))
    outputs = {'train_aug': train_aug}  # every list made before any label is converted: a bad option costs nothing
    outputs.update({f'run_{name}': ids for name, ids in run_lists(
        train_aug, lists['voc_val'], test, args.num_train, args.num_val, args.num_test).items()})
    if sources is not None:
        written = build_label_folder(sources, label_dir, args.num_workers)
        print(f'{label_dir}: {written} index PNGs written, {len(sources) - written} existed already')
    note = count_note(train_aug)
    if note:
        print(f'warning: {note}', file=sys.stderr)
    if args.run_image_dir:
        link_images({os.path.join(args.voc_root, 'JPEGImages'): outputs['run_val'],
                     os.path.join(args.voc_test_root, 'JPEGImages'): outputs['run_test']}, args.run_image_dir)
    for name, ids in outputs.items():
        write_list(os.path.join(args.list_dir, f'{name}.txt'), ids)
    print(f'train_aug: {len(train_aug)} images; run lists in {args.list_dir}: '
          + ', '.join(f'{name} {len(ids)}' for name, ids in outputs.items() if name != 'train_aug'))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
