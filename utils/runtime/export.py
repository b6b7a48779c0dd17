"""Freeze a trained checkpoint into a model-zoo style inference graph (.pb) and optionally a SavedModel.

Interface, as DeepLab's export_model.py (names in frozen_graph.py): `ImageTensor` (uint8 [1, H, W, 3], RGB) in,
`SemanticPredictions` (int32 [1, H, W]) and `SemanticProbabilities` (float32 [1, H, W, C], softmax) out. The
network is the caller's `predict_fn` (export_model.py passes deeplab_model.predict_probabilities).
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

from utils.common.errors import UserError
from utils.common.files import atomic_path
from utils.runtime import checkpoints
from utils.runtime.frozen_graph import INPUT_NAME, MODEL_PARAMS_NAME, PREDICTIONS_NAME, PROBABILITIES_NAME
from utils.runtime.model_config import MODEL_DEFAULTS, resolve_model_params
from utils.runtime.precision import precision_of

tf1 = tf.compat.v1

OUTPUT_NAMES = (PREDICTIONS_NAME, PROBABILITIES_NAME)


def build_inference_graph(params, predict_fn, eval_crop_size=None):
    """In the default graph: the ImageTensor placeholder and the named outputs; returns (input, outputs).

    Images are padded to `eval_crop_size` as evaluate.py and inference.py pad them (larger ones run whole),
    so the graph gives their predictions for any image size. The model description is kept in the graph as
    the string constant MODEL_PARAMS_NAME (JSON, with the precision), which also tells our graphs from the model
    zoo's. Probabilities are float32 in every precision.
    """
    images = tf1.placeholder(tf.uint8, [1, None, None, 3], name=INPUT_NAME)
    probabilities = predict_fn(tf.cast(images, tf.float32), params, eval_crop_size=eval_crop_size)
    probabilities = tf.identity(probabilities, name=PROBABILITIES_NAME)
    predictions = tf.argmax(probabilities, axis=3, output_type=tf.int32, name=PREDICTIONS_NAME)
    description = dict(resolve_model_params(params), eval_crop_size=eval_crop_size, precision=precision_of(params))
    tf.constant(json.dumps({key: description[key] for key in (*MODEL_DEFAULTS, 'eval_crop_size', 'precision')},
                           sort_keys=True), name=MODEL_PARAMS_NAME)
    return images, {PREDICTIONS_NAME: predictions, PROBABILITIES_NAME: probabilities}


def frozen_graph_def(model_dir, params, predict_fn, eval_crop_size=None):
    """The inference GraphDef with the weights of the checkpoint in `model_dir` (folder or prefix) as constants."""
    ckpt = checkpoints.resolve_checkpoint(model_dir)
    graph = tf.Graph()
    with graph.as_default():
        build_inference_graph(params, predict_fn, eval_crop_size)
        saver = checkpoints.restore_saver(ckpt)
        with tf1.Session() as sess:
            saver.restore(sess, ckpt)
            return checkpoints.freeze(sess, graph, [*OUTPUT_NAMES, MODEL_PARAMS_NAME])


def write_graph_def(graph_def, path):
    """Write a GraphDef to `path` atomically (no half-written .pb after a failure)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as handle:
            handle.write(graph_def.SerializeToString())


def write_saved_model(graph_def, saved_model_dir):
    """A SavedModel with one `serving_default` signature over the frozen graph's tensors, replacing any old one."""
    parent = os.path.dirname(os.path.abspath(saved_model_dir))
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(saved_model_dir) and not os.path.exists(os.path.join(saved_model_dir, 'saved_model.pb')):
        raise UserError(f'{saved_model_dir}: exists and is not a SavedModel; choose another --saved_model_dir')
    staging = tempfile.mkdtemp(prefix='.saved_model.', dir=parent)
    try:
        build_dir = os.path.join(staging, 'model')
        graph = tf.Graph()
        with graph.as_default():
            tf1.import_graph_def(graph_def, name='')
            tensors = {name: graph.get_tensor_by_name(name + ':0') for name in (INPUT_NAME, *OUTPUT_NAMES)}
            signature = tf1.saved_model.predict_signature_def(
                inputs={INPUT_NAME: tensors[INPUT_NAME]}, outputs={name: tensors[name] for name in OUTPUT_NAMES})
            builder = tf1.saved_model.Builder(build_dir)
            with tf1.Session() as sess:
                builder.add_meta_graph_and_variables(
                    sess, [tf1.saved_model.tag_constants.SERVING],
                    signature_def_map={tf1.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature})
            builder.save()
        if os.path.exists(saved_model_dir):
            os.replace(saved_model_dir, os.path.join(staging, 'old'))
        os.replace(build_dir, saved_model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_onnx_export(precision):
    """UserError unless an ONNX model can be written here in `precision`: tf2onnx and onnx installed, float32."""
    if precision_of({'precision': precision}) != 'float32':
        raise UserError(f'--onnx_path with --precision {precision}: tf2onnx cannot convert it and ONNX Runtime has no '
                        'bfloat16 convolution on CPUs; export in float32 for ONNX (OpenVINO runs either)')
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise UserError(f'--onnx_path needs {error.name} (pip install -r requirements-dev.txt)') from None


def write_onnx(graph_def, path):
    """The ONNX model of the exported graph (runtimes.onnx_model: tf2onnx, explicit atrous padding), atomically."""
    import onnx

    from utils.runtime.runtimes import onnx_model
    with atomic_path(path) as tmp:
        onnx.save(onnx_model(graph_def), tmp)


def export(model_dir, export_path, params, predict_fn, eval_crop_size=None, saved_model_dir=None, onnx_path=None):
    """Freeze the checkpoint in `model_dir` into `export_path` (and a SavedModel, an ONNX model); returns the
    GraphDef."""
    if os.path.isdir(export_path):
        raise UserError(f'{export_path}: is a folder; --export_path names the .pb file to write')
    if onnx_path:
        check_onnx_export(precision_of(params))
    graph_def = frozen_graph_def(model_dir, params, predict_fn, eval_crop_size)
    write_graph_def(graph_def, export_path)
    if saved_model_dir:
        write_saved_model(graph_def, saved_model_dir)
    if onnx_path:
        write_onnx(graph_def, onnx_path)
    return graph_def
