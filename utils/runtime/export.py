"""Freeze a trained checkpoint into a model-zoo style inference graph (.pb) and optionally a SavedModel.

Interface, as DeepLab's export_model.py (names in frozen_graph.py): `ImageTensor` (uint8 [1, H, W, 3], RGB) in,
`SemanticPredictions` (int32 [1, H, W]) and `SemanticProbabilities` (float32 [1, H, W, C], softmax) out. The
network is the caller's `predict_fn` (export_model.py passes deeplab_model.predict_probabilities).
"""
import json
import os
import shutil
import tempfile
import time

import tensorflow as tf

from utils.common.errors import UserError
from utils.common.files import atomic_path
from utils.runtime import checkpoints
from utils.runtime.frozen_graph import INPUT_NAME, MODEL_PARAMS_NAME, PREDICTIONS_NAME, PROBABILITIES_NAME
from utils.runtime.model_config import MODEL_DEFAULTS, resolve_model_params
from utils.runtime.precision import precision_of

tf1 = tf.compat.v1

OUTPUT_NAMES = (PREDICTIONS_NAME, PROBABILITIES_NAME)
# The original export_inference_graph.py's SavedModel: its serving input and its model_fn's export output 'preds'.
ORIGINAL_INPUT_NAME = 'image_tensor'
ORIGINAL_OUTPUT_NAMES = ('classes', 'probabilities')
ORIGINAL_SIGNATURE_KEYS = ('preds', tf1.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY)


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


def build_original_serving_graph(params, predict_fn, eval_crop_size=None):
    """In the default graph: the original export_inference_graph.py's serving interface, a float32 RGB batch
    `image_tensor` [N, H, W, 3] in, `classes` (int32 [N, H, W, 1]) and `probabilities` (float32 [N, H, W, C]) out;
    returns (input, outputs)."""
    images = tf1.placeholder(tf.float32, [None, None, None, 3], name=ORIGINAL_INPUT_NAME)
    probabilities = tf.identity(predict_fn(images, params, eval_crop_size=eval_crop_size), name='probabilities')
    classes = tf.expand_dims(tf.argmax(probabilities, axis=3, output_type=tf.int32), axis=3, name='classes')
    return images, {'classes': classes, 'probabilities': probabilities}


def frozen_graph_def(model_dir, params, predict_fn, eval_crop_size=None, build=build_inference_graph):
    """The inference GraphDef (`build`'s) with the weights of the checkpoint in `model_dir` (folder or prefix) as
    constants."""
    ckpt = checkpoints.resolve_checkpoint(model_dir)
    graph = tf.Graph()
    with graph.as_default():
        _, outputs = build(params, predict_fn, eval_crop_size)
        saver = checkpoints.restore_saver(ckpt)
        with tf1.Session() as sess:
            saver.restore(sess, ckpt)
            names = [tensor.op.name for tensor in outputs.values()]
            if build is build_inference_graph:
                names.append(MODEL_PARAMS_NAME)
            return checkpoints.freeze(sess, graph, names)


def write_graph_def(graph_def, path):
    """Write a GraphDef to `path` atomically (no half-written .pb after a failure)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as handle:
            handle.write(graph_def.SerializeToString())


def write_saved_model(graph_def, saved_model_dir, input_name=INPUT_NAME, output_names=OUTPUT_NAMES,
                      signature_keys=(tf1.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY,)):
    """A SavedModel with the frozen graph's `input_name` -> `output_names` tensors under each of `signature_keys`
    (default: one `serving_default`), keyed by their names, replacing any old one."""
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
            tensors = {name: graph.get_tensor_by_name(name + ':0') for name in (input_name, *output_names)}
            signature = tf1.saved_model.predict_signature_def(
                inputs={input_name: tensors[input_name]}, outputs={name: tensors[name] for name in output_names})
            builder = tf1.saved_model.Builder(build_dir)
            with tf1.Session() as sess:
                builder.add_meta_graph_and_variables(
                    sess, [tf1.saved_model.tag_constants.SERVING],
                    signature_def_map={key: signature for key in signature_keys})
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


def export_original_saved_model(model_dir, export_dir, params, predict_fn, eval_crop_size=None):
    """The SavedModel the original export_inference_graph.py wrote, in a new <export_dir>/<seconds since 1970>
    folder as Estimator.export_savedmodel names them; returns that folder."""
    graph_def = frozen_graph_def(model_dir, params, predict_fn, eval_crop_size, build_original_serving_graph)
    stamp = int(time.time())
    while os.path.exists(os.path.join(export_dir, str(stamp))):
        stamp += 1
    target = os.path.join(export_dir, str(stamp))
    write_saved_model(graph_def, target, ORIGINAL_INPUT_NAME, ORIGINAL_OUTPUT_NAMES, ORIGINAL_SIGNATURE_KEYS)
    return target
