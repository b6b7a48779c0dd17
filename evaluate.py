"""Score predictions with the VOC devkit metric: per-class IoU, mIoU and pixel accuracy.

Result folders (stacking, CRF or model-zoo PNGs), one table column per folder:
    python evaluate.py --prediction_dir OUT_A OUT_B --ground_truth_dir SegmentationClass --image_list val.txt
A checkpoint (predictions computed here, scored by the same code):
    python evaluate.py --image_data_dir JPEGImages --ground_truth_dir SegmentationClass \\
        --image_list val.txt --model_dir MODEL_DIR

Ground-truth void (255) is ignored, a predicted value outside 0..C-1 counts as wrong, and a class absent from
both ground truth and predictions has no IoU (n/a) and is left out of the mean.
"""
import os
import sys

from tqdm import tqdm

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import (
    add_predict_flags,
    add_workers_flag,
    model_params,
    original_name,
    parser_for,
    prediction_source,
)
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list, require_dir
from utils.data.dataset_info import dataset_num_classes
from utils.data.voc import NUM_CLASSES, read_label
from utils.postprocess.scoring import (
    collect,
    image_confusion,
    missing_message,
    result_files,
    score_folders,
    write_outputs,
)

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--prediction_dir', nargs='+', metavar='DIR', default=None,
                        help='Score these result folders of <id>.png label maps instead of a checkpoint.')
    parser.add_argument('--image_data_dir', default=None, help='Folder of the input images (checkpoint mode).')
    truth = parser.add_argument('--ground_truth_dir', required=True, help='Folder of the ground-truth label PNGs.')
    original_name(parser, truth, '--label_data_dir')
    listed = parser.add_argument('--image_list', required=True, help='List file of the image ids to score.')
    original_name(parser, listed, '--evaluation_data_list')
    parser.add_argument('--output_json', default=None,
                        help='Write {"miou", "pixel_accuracy", "per_class_iou"} here (keyed by folder when several; '
                             'with the "precision" of a checkpoint\'s predictions).')
    parser.add_argument('--per_image_csv', default=None,
                        help='Write each image\'s pixel accuracy and mIoU here, worst first.')
    parser.add_argument('--plot', default=None, help='Write a per-class IoU bar chart PNG here.')
    add_workers_flag(parser, 'Processes reading result folders')
    add_predict_flags(parser)
    return parser


def checkpoint_confusions(args, ids, model):
    """Yield (image id, [confusion]) for the predictions of the model in --model_dir (description `model`) or
    --frozen_graph."""
    gt_index = result_files(args.ground_truth_dir, 'ground-truth folder')
    missing = [i for i in ids if i not in gt_index]
    if missing:
        raise UserError(missing_message({args.ground_truth_dir: missing}, 'labels'))
    source = prediction_source(args, model)
    import deeplab_model  # imports TensorFlow, so only in this mode
    from utils.runtime import predict

    predictions = predict.iter_predictions(args.image_data_dir, ids, deeplab_model.predict_probabilities, **source)
    for image_id, pred in tqdm(predictions, total=len(ids), desc='evaluating', unit='img', disable=None):
        gt = read_label(gt_index[image_id])
        yield image_id, [image_confusion(gt, pred, gt_index[image_id], f'prediction for {image_id}', args.num_classes)]


def checkpoint_model(args):
    """The model description of checkpoint mode: flags over the model folder's description (its
    deeplab_params.json, else its checkpoint's variables)."""
    from utils.runtime.checkpoint_description import model_description  # imports TensorFlow
    return model_params(args, model_description(args.model_dir))


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = None if args.prediction_dir else checkpoint_model(args)
    # result folders: --num_classes, else the data set description of the ground-truth folder (against
    # create_coco_tf_record.py --label_output_dir), else 21
    args.num_classes = (model['num_classes'] if model else
                        args.num_classes or dataset_num_classes(args.ground_truth_dir) or NUM_CLASSES)
    require_dir(args.ground_truth_dir, 'ground-truth folder')
    ids = read_id_list(args.image_list)
    if args.prediction_dir:
        scores = score_folders(args.prediction_dir, args.ground_truth_dir, ids, args.num_classes, args.num_workers)
    else:
        if not args.image_data_dir:
            raise UserError('give --prediction_dir to score result folders, or --image_data_dir to run a model')
        require_dir(args.image_data_dir, 'image folder')
        name = os.path.basename(os.path.normpath(args.frozen_graph or args.model_dir))
        scores = collect(checkpoint_confusions(args, ids, model), [name], args.num_classes)
    settings = None if args.prediction_dir or args.frozen_graph else {'precision': args.precision}
    write_outputs(scores, args.output_json, args.per_image_csv, args.plot, settings)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
