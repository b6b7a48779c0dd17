"""Pack test-set results for the PASCAL VOC evaluation server.

    python make_submission.py --prediction_dir OUT --output results.tar.gz --comp comp6 --image_list test.txt \\
        --image_data_dir JPEGImages

The tarball holds results/VOC2012/Segmentation/<comp>_test_cls/<id>.png, each a VOC-palette PNG. comp5 is for
methods trained on VOC data only, comp6 for methods using outside data (e.g. ImageNet/COCO pre-training). It
refuses, writing nothing, when a listed image has no result (VOC 2012 test has 1456 images), a result holds
a value outside 0..20, or a result does not have its test image's size (the server rejects such a package;
without --image_data_dir the sizes cannot be checked, so nothing is packed).
"""
import sys

from utils.cli.flags import add_workers_flag, original_name, parser_for
from utils.common.errors import UserError, run_cli
from utils.postprocess.submission import COMPETITIONS, VOC2012_TEST_IMAGES, make_submission


def build_parser():
    parser = parser_for(__doc__)
    results = parser.add_argument('--prediction_dir', required=True, help='Folder of <id>.png test results.')
    original_name(parser, results, '--results_dir')
    parser.add_argument('--output', required=True, help='The .tar.gz to write.')
    parser.add_argument('--comp', choices=COMPETITIONS, default='comp6',
                        help='comp5: VOC training data only; comp6: outside data too (default: %(default)s).')
    parser.add_argument('--image_list', default=None,
                        help='List file of the test ids that must all have a result (e.g. VOC2012 '
                             'ImageSets/Segmentation/test.txt; default: every PNG in --prediction_dir).')
    parser.add_argument('--image_data_dir', default=None,
                        help='Test image folder (required): every result must have its image\'s size, as the server '
                             'checks.')
    add_workers_flag(parser, 'Processes checking results')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.image_data_dir is None:
        raise UserError(f'{args.prediction_dir}: cannot check that each result has its test image\'s size (the server '
                        'rejects other sizes); give the test images with --image_data_dir')
    count = make_submission(args.prediction_dir, args.output, args.image_data_dir, args.comp, args.image_list,
                            args.num_workers)
    print(f'{args.output}: {count} results packed')
    if count != VOC2012_TEST_IMAGES:
        print(f'note: VOC 2012 test has {VOC2012_TEST_IMAGES} images; this package has {count}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
