"""Export a model as the original project's export_inference_graph.py did: a SavedModel in a new timestamped folder
of --export_dir, signatures `preds` and `serving_default`, input `image_tensor` (float32 RGB [N, H, W, 3], 0..255),
outputs `classes` (int32 [N, H, W, 1]) and `probabilities` (float32 [N, H, W, C]).

    python export_inference_graph.py --model_dir MODEL_DIR --export_dir EXPORT_DIR

The network and its padding are evaluate.py's for the same checkpoint (an original-project model: each image whole).
For the model-zoo frozen graph interface use export_model.py.
"""
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_export_flags, eval_crop_size_of, model_params, parser_for
from utils.common.errors import run_cli

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--export_dir', default='dataset/export_output',
                        help='Folder under which the SavedModel\'s timestamped folder is written (default: '
                             '%(default)s, as the original).')
    add_export_flags(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import deeplab_model  # imports TensorFlow: after argument parsing, so --help stays instant
    from utils.runtime import export
    from utils.runtime.checkpoint_description import model_description
    params = dict(model_params(args, model_description(args.model_dir)), precision=args.precision)
    target = export.export_original_saved_model(args.model_dir, args.export_dir, params,
                                                deeplab_model.predict_probabilities, eval_crop_size_of(args, params))
    print(f'wrote SavedModel {target}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
