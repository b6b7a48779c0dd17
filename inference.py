"""Segment a list of images: VOC-palette PNGs of each image's size, optional probabilities and panels.

    python inference.py --image_data_dir JPEGImages --image_list val.txt --model_dir MODEL_DIR --output_dir OUT
"""
import os
import sys

from tqdm import tqdm

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import (
    RESUME,
    add_overwrite_flag,
    add_predict_flags,
    model_params,
    original_name,
    parser_for,
    prediction_source,
)
from utils.common.errors import UserError, problem_list, run_cli
from utils.common.files import find_file, list_ids, pending, read_id_list, require_dir, resume_settings
from utils.data import voc
from utils.postprocess import plots
from utils.postprocess.probabilities import save_probabilities
from utils.runtime.model_config import MODEL_DEFAULTS, checkpoint_name, saved_model_params

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    images = parser.add_argument('--image_data_dir', required=True,
                                 help='Folder of the input images, e.g. VOC JPEGImages.')
    original_name(parser, images, '--data_dir')
    listed = parser.add_argument('--image_list', default=None,
                                 help='List file of image ids to segment (default: every image in --image_data_dir).')
    original_name(parser, listed, '--infer_data_list')
    parser.add_argument('--output_dir', default='dataset/inference_output',
                        help='Folder for the <id>.png results (default: %(default)s, as the original inference.py).')
    parser.add_argument('--save_probabilities', action='store_true',
                        help='Also write per-class softmax probabilities (float16 .npz, key "probabilities") '
                             'for densecrf_inference.py --prob_dir.')
    parser.add_argument('--probabilities_dir', default=None,
                        help='Where --save_probabilities writes (default: OUTPUT_DIR/probabilities).')
    parser.add_argument('--panel_dir', default=None,
                        help='Also write image | prediction (| ground truth) pictures here.')
    parser.add_argument('--num_panels', type=int, default=8, help='How many panels to write (default: %(default)s).')
    truth = parser.add_argument('--ground_truth_dir', default=None,
                                help='Ground-truth label folder, to add a third column to the panels.')
    original_name(parser, truth, '--label_data_dir')
    add_overwrite_flag(parser, f'Redo images whose result exists ({RESUME})')
    add_predict_flags(parser)
    return parser


def image_ids(image_dir, image_list):
    """The ids to segment (the list's, else every image in the folder), each with its image file as
    utils.runtime.image_feed.image_path finds it; else a UserError naming every missing image, before anything
    is written."""
    require_dir(image_dir, 'image folder')
    if not image_list:
        ids = list_ids(image_dir, voc.IMAGE_EXTENSIONS)
        if not ids:
            raise UserError(f'{image_dir}: no images ({" ".join(voc.IMAGE_EXTENSIONS)}) in the image folder')
        return ids
    ids = read_id_list(image_list)
    missing = [f'{os.path.join(image_dir, i)}.jpg: image not found'
               for i in ids if find_file(image_dir, i, voc.IMAGE_EXTENSIONS) is None]
    if missing:
        raise UserError(problem_list(f'{image_list}: {len(missing)} of {len(ids)} listed images not found, '
                                     'nothing segmented:', missing))
    return ids


def panel_label_path(args, image_id):
    """The ground-truth label shown in the third panel column."""
    return os.path.join(args.ground_truth_dir, image_id + '.png')


def check_panel_labels(args, panel_ids):
    """A UserError naming every missing ground-truth label of the panels, before anything is written."""
    if not args.ground_truth_dir:
        return
    missing = [f'{path}: label not found' for path in (panel_label_path(args, i) for i in panel_ids)
               if not os.path.isfile(path)]
    if missing:
        raise UserError(problem_list(f'{len(missing)} of {len(panel_ids)} panel labels not found in '
                                     f'{args.ground_truth_dir}, nothing segmented:', missing))


def run_settings(args, prob_dir):
    """What decides the results, recorded in --output_dir so that a rerun with other settings is refused: the images,
    the model and how it runs, where probabilities go; read without TensorFlow. Not --batch_size, nor the panels."""
    settings = {'tool': 'inference.py', 'image_data_dir': os.path.abspath(args.image_data_dir),
                'inference_scales': args.inference_scales, 'add_flipped_images': args.add_flipped_images,
                'eval_crop_size': args.eval_crop_size, 'precision': args.precision, 'save_probabilities': False}
    if args.save_probabilities:  # where they go, the output folder's own subfolder wherever that folder is
        inside = os.path.abspath(prob_dir) == os.path.abspath(os.path.join(args.output_dir, 'probabilities'))
        settings['save_probabilities'] = 'OUTPUT_DIR/probabilities' if inside else os.path.abspath(prob_dir)
    if args.frozen_graph:
        return dict(settings, frozen_graph=os.path.abspath(args.frozen_graph))
    saved = saved_model_params(args.model_dir)
    settings.update(model_dir=os.path.abspath(args.model_dir), checkpoint=checkpoint_name(args.model_dir),
                    deeplab_params={key: saved[key] for key in MODEL_DEFAULTS if key in saved})
    return dict(settings, **{key: getattr(args, key) for key in MODEL_DEFAULTS})  # the model flags as given


def main(argv=None):
    args = build_parser().parse_args(argv)
    ids = image_ids(args.image_data_dir, args.image_list)
    prob_dir = args.probabilities_dir or os.path.join(args.output_dir, 'probabilities')
    with resume_settings(args.output_dir, run_settings(args, prob_dir), args.overwrite) as record:
        segment(args, ids, prob_dir, record)
    return 0


def segment(args, ids, prob_dir, record):
    """Segment the ids without a result (every one with --overwrite); `record` is called before the first output."""
    def result_path(image_id):
        return os.path.join(args.output_dir, image_id + '.png')

    def probabilities_path(image_id):
        return os.path.join(prob_dir, image_id + '.npz')

    todo = set(pending(ids, result_path, args.overwrite))
    if args.save_probabilities:
        todo |= set(pending(ids, probabilities_path, args.overwrite))
    todo = [i for i in ids if i in todo]
    panel_ids = todo[:max(args.num_panels, 0)] if args.panel_dir else []
    check_panel_labels(args, panel_ids)
    print(f'{len(ids) - len(todo)} of {len(ids)} results exist already; segmenting {len(todo)}', file=sys.stderr)
    if not todo:
        return
    from utils.runtime.checkpoint_description import model_description  # imports TensorFlow
    model = model_params(args, model_description(args.model_dir))
    source = prediction_source(args, model, args.save_probabilities)
    import deeplab_model  # imports TensorFlow: after the checks above, so --help and errors stay instant
    from utils.runtime import predict
    outputs = predict.iter_outputs(args.image_data_dir, todo, deeplab_model.predict_probabilities, **source)
    for image_id, image, labels, probabilities in tqdm(outputs, total=len(todo), unit='img', disable=None):
        record()  # once, before the first output: the model was built and ran
        voc.save_label(result_path(image_id), labels)
        if probabilities is not None:
            save_probabilities(probabilities_path(image_id), probabilities)
        if image_id in panel_ids:
            write_panel(args, image_id, image, labels, model['num_classes'])


def write_panel(args, image_id, image, labels, num_classes):
    """image | prediction (| ground truth) side by side, over a legend named after the model's classes."""
    panels, titles = [image, labels], ['image', 'prediction']
    if args.ground_truth_dir:
        panels.append(voc.read_label(panel_label_path(args, image_id)))
        titles.append('ground truth')
    names = voc.class_names(num_classes)
    plots.side_by_side(os.path.join(args.panel_dir, image_id + '.png'), panels, titles, names)


if __name__ == '__main__':
    sys.exit(run_cli(main))
