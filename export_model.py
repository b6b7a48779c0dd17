"""Export a trained checkpoint as a frozen inference graph with the DeepLab model-zoo interface.

Input `ImageTensor:0` (uint8 [1, H, W, 3], RGB); outputs `SemanticPredictions:0` (int32 [1, H, W]) and
`SemanticProbabilities:0` (float32 [1, H, W, C]) in every --precision (the network between computes in it).
Run it with `inference.py --frozen_graph FILE.pb`.

    python export_model.py --model_dir MODEL_DIR --export_path model/frozen_inference_graph.pb \\
        --model_variant xception_65 --decoder_output_stride 4
"""
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_export_flags, eval_crop_size_of, model_params, parser_for
from utils.common.errors import run_cli

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--export_path', required=True, help='Where to write the frozen graph (.pb).')
    parser.add_argument('--saved_model_dir', default=None,
                        help='Also write a SavedModel (serving_default signature, same tensors) to this folder.')
    parser.add_argument('--onnx_path', default=None,
                        help='Also write an ONNX model of the graph for ONNX Runtime (float32 only; needs tf2onnx and '
                             'onnx from requirements-dev.txt).')
    add_export_flags(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import deeplab_model  # imports TensorFlow: after argument parsing, so --help stays instant
    from utils.runtime import export
    from utils.runtime.checkpoint_description import model_description
    params = dict(model_params(args, model_description(args.model_dir)), precision=args.precision)
    export.export(args.model_dir, args.export_path, params, deeplab_model.predict_probabilities,
                  eval_crop_size_of(args, params), args.saved_model_dir, args.onnx_path)
    written = [args.export_path, args.saved_model_dir and f'SavedModel {args.saved_model_dir}', args.onnx_path]
    print(f'wrote {" and ".join(filter(None, written))}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
