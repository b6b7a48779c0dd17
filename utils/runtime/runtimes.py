"""Run export_model.py's graphs in other runtimes: OpenVINO, and ONNX Runtime through tf2onnx (requirements-dev.txt).

Each predictor takes one RGB uint8 image [H, W, 3] of any size and returns (labels int32 [H, W], probabilities
float32 [H, W, C]), as the exported graph's SemanticPredictions and SemanticProbabilities. The runtimes are
imported inside the functions, so this module loads without them.
"""
import os

import numpy as np

from utils.common.errors import UserError
from utils.runtime.frozen_graph import INPUT_TENSOR, PREDICTIONS_NAME, PROBABILITIES_NAME

OUTPUT_NAMES = (PREDICTIONS_NAME, PROBABILITIES_NAME)
OUTPUT_TENSORS = tuple(name + ':0' for name in OUTPUT_NAMES)
# OpenVINO's CPU inference precision per --precision. Unset, it is bf16 on CPUs with AVX512-BF16 or AMX, so
# float32 has to be asked for.
OPENVINO_PRECISIONS = {'float32': 'f32', 'bfloat16': 'bf16'}


def openvino_output(model, name):
    """The output of an OpenVINO model (or compiled model) for an exported tensor: a .pb's outputs are named
    'SemanticPredictions:0', a SavedModel's by its signature, 'SemanticPredictions'. None when absent."""
    return next((output for output in model.outputs if output.names & {name, name + ':0'}), None)


def openvino_model(path):
    """An OpenVINO model of an exported frozen graph (.pb) or SavedModel folder, with both outputs: for a .pb,
    convert_model keeps only the graph's last node (the labels), so the probabilities are added back."""
    import openvino as ov
    if not os.path.exists(path):
        raise UserError(f'{path}: no exported graph (.pb file or SavedModel folder) there')
    model = ov.convert_model(path)
    missing = [name + ':0' for name in OUTPUT_NAMES if openvino_output(model, name) is None]
    if missing:
        model.add_outputs(missing)
    return model


def openvino_predictor(path, precision='float32'):
    """image -> (labels, probabilities) through OpenVINO on the CPU, computing in `precision` (float32 or
    bfloat16: the float32 graph with OpenVINO's own bf16 inference, INFERENCE_PRECISION_HINT)."""
    import openvino as ov
    if precision not in OPENVINO_PRECISIONS:
        raise UserError(f'OpenVINO precision {precision}: choose one of {", ".join(OPENVINO_PRECISIONS)}')
    compiled = ov.Core().compile_model(openvino_model(path), 'CPU',
                                       {'INFERENCE_PRECISION_HINT': OPENVINO_PRECISIONS[precision]})
    outputs = [openvino_output(compiled, name) for name in OUTPUT_NAMES]

    def predict(image):
        results = compiled(image[np.newaxis])
        return tuple(results[output][0] for output in outputs)
    return predict


def explicit_dilated_padding(model):
    """The ONNX model with explicit pads on its stride-1 'SAME' convolutions; returns how many it changed.

    tf2onnx writes auto_pad=SAME_UPPER where the image size is unknown, which ONNX Runtime refuses on dilated
    (atrous) convolutions. At stride 1 the padding does not depend on the size: dilation x (kernel - 1) in all,
    the smaller half first, as TensorFlow pads.
    """
    import onnx
    changed = 0
    for node in model.graph.node:
        attributes = {attribute.name: attribute for attribute in node.attribute}
        auto_pad = attributes.get('auto_pad')
        if node.op_type != 'Conv' or auto_pad is None or auto_pad.s != b'SAME_UPPER':
            continue
        if any(stride != 1 for stride in attributes['strides'].ints):
            continue
        kernel = list(attributes['kernel_shape'].ints)
        dilations = list(attributes['dilations'].ints) if 'dilations' in attributes else [1] * len(kernel)
        totals = [dilation * (side - 1) for side, dilation in zip(kernel, dilations)]
        node.attribute.remove(auto_pad)
        node.attribute.append(onnx.helper.make_attribute(
            'pads', [total // 2 for total in totals] + [total - total // 2 for total in totals]))
        changed += 1
    return changed


def onnx_model(graph_def):
    """The ONNX model (tf2onnx, its default opset) of an exported frozen GraphDef, with ImageTensor:0 in, both
    outputs out, any image size, and explicit_dilated_padding applied so ONNX Runtime runs it."""
    import tf2onnx
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=[INPUT_TENSOR],
                                              output_names=list(OUTPUT_TENSORS))
    explicit_dilated_padding(model)
    return model


def onnxruntime_predictor(model):
    """image -> (labels, probabilities) through ONNX Runtime on the CPU for an ONNX model (onnx_model's)."""
    import onnxruntime
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])

    def predict(image):
        labels, probabilities = session.run(list(OUTPUT_TENSORS), {INPUT_TENSOR: image[np.newaxis]})
        return labels[0], probabilities[0]
    return predict
