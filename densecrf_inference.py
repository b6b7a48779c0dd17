"""Refine segmentation results with a fully-connected CRF (pydensecrf), from hard labels or probabilities.

    python densecrf_inference.py --image_data_dir JPEGImages --prediction_dir RESULTS --output_dir OUT \\
        --image_list val.txt
    python densecrf_inference.py --image_data_dir JPEGImages --prob_dir PROBS --output_dir OUT
    python densecrf_inference.py --image_data_dir JPEGImages --prob_dir PROBS --tune \\
        --ground_truth_dir SegmentationClass --image_list val.txt --tune_output best.json
    python densecrf_inference.py --image_data_dir JPEGImages --prob_dir PROBS --output_dir OUT --params_json best.json

A 255 label carries no information (uniform unary); 0 is the real background class.
"""
import os
import sys
import textwrap

from utils.cli.flags import add_batch_flags, add_num_classes_flag, original_name, parser_for
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list, resume_settings
from utils.postprocess import crf
from utils.postprocess.metrics import mean_iou, pixel_accuracy

PROBS, LABELS, SEED = crf.PROBABILITY_DEFAULTS, crf.LABEL_DEFAULTS, crf.SEED_DEFAULTS
PARAM_MEANING = {
    'gt_prob': 'Confidence given to a hard label, in (0, 1)',
    'gauss_sxy': 'Spatial std of the Gaussian (smoothness) kernel, pixels',
    'gauss_compat': 'Weight of the Gaussian kernel',
    'bilateral_sxy': 'Spatial std of the bilateral (appearance) kernel, pixels',
    'bilateral_srgb': 'Colour std of the bilateral kernel',
    'bilateral_compat': 'Weight of the bilateral kernel',
    'iterations': 'Mean-field iterations',
}
DEFAULTS_TEXT = (
    f'Defaults with --prob_dir (the softmax .npz files of inference.py --save_probabilities): DeepLab-v2 '
    f'ResNet-101\'s VOC values (76.35 -> 77.69 val mIoU there), Gaussian sxy {PROBS.gauss_sxy:g}, compat '
    f'{PROBS.gauss_compat:g}; bilateral sxy {PROBS.bilateral_sxy:g}, srgb {PROBS.bilateral_srgb:g}, compat '
    f'{PROBS.bilateral_compat:g}; {PROBS.iterations} iterations. Defaults with hard labels (--prediction_dir): the '
    f'original project\'s, gt_prob {LABELS.gt_prob:g}; Gaussian sxy {LABELS.gauss_sxy:g}, compat '
    f'{LABELS.gauss_compat:g}; bilateral sxy {LABELS.bilateral_sxy:g}, srgb {LABELS.bilateral_srgb:g}, compat '
    f'{LABELS.bilateral_compat:g}; {LABELS.iterations} iterations ({SEED.iterations} with --seed_compat).')


def param_help(name):
    """A parameter flag's help with its defaults in each mode, read from utils.postprocess.crf."""
    probs, labels, seed = getattr(PROBS, name), getattr(LABELS, name), getattr(SEED, name)
    if name == 'gt_prob':
        default = f'{labels:g}; unused with --prob_dir'
    elif probs == labels == seed:
        default = f'{probs:g}'
    else:
        default = f'{probs:g} with --prob_dir, {labels:g} with hard labels'
        default += f', {seed:g} with --seed_compat' if seed != labels else ''
    return f'{PARAM_MEANING[name]} (default: {default}).'


def build_parser():
    parser = parser_for(f'{__doc__}\n{textwrap.fill(DEFAULTS_TEXT, 110)}')
    parser.add_argument('--image_data_dir', required=True, help='Folder of the RGB input images.')
    source = parser.add_mutually_exclusive_group(required=True)
    labels = source.add_argument('--prediction_dir',
                                 help='Folder of hard label PNGs to refine (e.g. stacking results).')
    original_name(parser, labels, '--label_data_dir', source)
    source.add_argument('--prob_dir', help='Folder of <id>.npz softmax probabilities (inference.py '
                                           '--save_probabilities) to refine; keeps the network\'s uncertainty, '
                                           'unlike hard labels.')
    parser.add_argument('--output_dir', help='Folder for the refined <id>.png results (not needed with --tune).')
    listed = parser.add_argument('--image_list', default=None,
                                 help='List file of ids to process (default: every file in the label/probability '
                                      'folder).')
    original_name(parser, listed, '--test_data_list')
    parser.add_argument('--seed_compat', action='store_true',
                        help='The original project\'s rule: a background-vs-one-class CRF, 1 iteration, on images '
                             'holding exactly background and one class; other images copied through (class ids '
                             'kept this time).')
    for name in PARAM_MEANING:
        parser.add_argument(f'--{name}', type=int if name == 'iterations' else float, default=None,
                            help=param_help(name))
    parser.add_argument('--params_json', default=None,
                        help='Start from the parameters in this JSON file (as --tune_output writes); parameter flags '
                             'given on top still win.')
    add_num_classes_flag(parser)
    tune = parser.add_argument_group('tuning (grid search over the bilateral kernel on a labelled split)')
    tune.add_argument('--tune', action='store_true',
                      help='Report the mIoU without CRF and for every grid setting, and the best one (the highest '
                           'mIoU; a tie goes to the earlier of no CRF, then grid order); write no labels.')
    truth = tune.add_argument('--ground_truth_dir', help='Ground-truth label folder for --tune.')
    original_name(parser, truth, '--label_gt_dir', tune)
    tune.add_argument('--tune_output', default=None,
                      help='Also write the best setting here as JSON, for --params_json (when no CRF is best, a file '
                           'that makes --params_json pass the inputs through unchanged).')
    for name, values in crf.TUNE_GRID.items():
        tune.add_argument(f'--tune_{name}', type=float, nargs='+', default=list(values), metavar='V',
                          help=f'Values of {name} to try (default: %(default)s).')
    add_batch_flags(parser)
    return parser


def params_from(args):
    """The mode's defaults with every parameter flag given on top; NO_CRF when --params_json says so."""
    crf.check_mode(args.prob_dir, args.seed_compat)
    params = crf.default_params(args.prob_dir is not None, args.seed_compat)
    if args.params_json:
        params = crf.read_params(args.params_json, params)
    given = {name: getattr(args, name) for name in PARAM_MEANING if getattr(args, name) is not None}
    if params == crf.NO_CRF:
        if given:
            raise UserError(f'{args.params_json}: says no CRF (tuning found no setting better than the inputs); '
                            f'--{next(iter(given))} cannot apply on top of it')
        return params
    params = params._replace(**given)
    if not 0 < params.gt_prob < 1:
        raise UserError(f'--gt_prob must be in (0, 1), got {params.gt_prob}')
    if params.iterations < 1:
        raise UserError(f'--iterations must be at least 1, got {params.iterations}')
    return params


def run_settings(args, params):
    """What decides the refined results, recorded in the output folder so that a rerun with other settings is refused:
    the inputs and the parameters in effect (from the flags or --params_json)."""
    def absolute(path):
        return os.path.abspath(path) if path else None

    settings = {'tool': 'densecrf_inference.py', 'image_data_dir': absolute(args.image_data_dir),
                'prediction_dir': absolute(args.prediction_dir), 'prob_dir': absolute(args.prob_dir),
                'seed_compat': args.seed_compat, 'num_classes': args.num_classes}
    if params == crf.NO_CRF:
        return dict(settings, crf=crf.NO_CRF)
    settings.update(params._asdict())
    if args.prob_dir:  # a hard label's confidence: probabilities have none
        del settings['gt_prob']
    return settings


def run_tune(args, params, ids):
    """Print the mIoU and pixel accuracy of every setting, the chosen one last, and write what was chosen."""
    if not args.ground_truth_dir:
        raise UserError('--tune needs --ground_truth_dir and usually --image_list')
    grid = {name: getattr(args, f'tune_{name}') for name in crf.TUNE_GRID}
    scores, settings = crf.tune(args.image_data_dir, args.ground_truth_dir, ids, args.prediction_dir, args.prob_dir,
                                params, grid, args.num_classes, args.seed_compat, args.num_workers)
    confusion = scores.confusion
    best = crf.best_setting(confusion)
    order = list(confusion)
    ranked = sorted(order, key=lambda name: (mean_iou(confusion[name]), -order.index(name)))
    width = max(len(name) for name in order)
    print(f'{"setting".ljust(width)}  mIoU %  pixel acc %')
    for name in ranked:
        conf = confusion[name]
        print(f'{name.ljust(width)}  {100 * mean_iou(conf):6.2f}  {100 * pixel_accuracy(conf):11.2f}')
    baseline = mean_iou(confusion[crf.NO_CRF])
    if best == crf.NO_CRF:
        print(f'best: {crf.NO_CRF} ({100 * baseline:.2f} mIoU): no setting beats the inputs on these images, so none '
              'is applied')
    else:
        print(f'best: {best} ({100 * mean_iou(confusion[best]):.2f} mIoU, '
              f'{100 * (mean_iou(confusion[best]) - baseline):+.2f} against no CRF)')
    if args.tune_output:
        crf.write_params(args.tune_output, crf.NO_CRF if best == crf.NO_CRF else settings[best])
        print(f'{args.tune_output}: {best} written')


def main(argv=None):
    args = build_parser().parse_args(argv)
    params = params_from(args)
    ids = read_id_list(args.image_list) if args.image_list else None
    if args.tune:
        run_tune(args, params, ids)
        return 0
    if not args.output_dir:
        raise UserError('--output_dir is required (except with --tune)')
    with resume_settings(args.output_dir, run_settings(args, params), args.overwrite) as record:
        written, skipped = crf.refine_folder(args.image_data_dir, args.output_dir, ids, args.prediction_dir,
                                             args.prob_dir, params, args.num_classes, args.seed_compat,
                                             args.num_workers, args.overwrite, record)
    how = f'{args.params_json} says no CRF: inputs passed through' if params == crf.NO_CRF else params
    print(f'{written} refined results written to {args.output_dir}, {skipped} existed already ({how})')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
