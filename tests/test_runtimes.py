"""export_model.py's graphs in OpenVINO and, through tf2onnx, in ONNX Runtime give the suite's own predictions."""
import numpy as np
import pytest
import tensorflow as tf
from conftest import write_random_checkpoint

import deeplab_model
import export_model
from nets import layers
from utils.common.errors import UserError, run_cli
from utils.runtime import runtimes
from utils.runtime.predict import CheckpointPredictor

openvino = pytest.importorskip('openvino', reason='OpenVINO is not installed (pip install -r requirements-dev.txt)')
onnx = pytest.importorskip('onnx', reason='onnx is not installed (pip install -r requirements-dev.txt)')
onnxruntime = pytest.importorskip('onnxruntime', reason='ONNX Runtime is not installed '
                                  '(pip install -r requirements-dev.txt)')
pytest.importorskip('tf2onnx', reason='tf2onnx is not installed (pip install -r requirements-dev.txt)')

CROP = 65
PARAMS = {'model_variant': 'resnet_v2_50', 'output_stride': 16, 'num_classes': 21}
MODEL_FLAGS = ['--model_variant', 'resnet_v2_50', '--eval_crop_size', str(CROP), str(CROP)]
# padded up to the crop inside the graph, exactly the crop, and larger than it (run whole)
IMAGE_SIZES = [(40, 50), (CROP, CROP), (97, 120)]
# float32 probabilities of another runtime against TensorFlow's: measured at most 2e-5 on these images
PROBABILITY_TOLERANCE = 1e-4
# OpenVINO's bfloat16 against the suite's float32, random weights: 99.1-99.9 % of labels kept, probabilities
# within 0.14 (measured; the suite's own bfloat16 keeps 99.0-99.9 %)
BFLOAT16_AGREEMENT, BFLOAT16_TOLERANCE = 0.98, 0.25


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """A seeded random ResNet-v2-50 checkpoint, its float32 frozen graph and SavedModel, and the images."""
    root = tmp_path_factory.mktemp('runtimes')
    model_dir, pb_path, saved = str(root / 'model'), str(root / 'frozen.pb'), str(root / 'saved')
    write_random_checkpoint(model_dir, PARAMS)
    assert export_model.main(['--model_dir', model_dir, '--export_path', pb_path, '--saved_model_dir', saved]
                             + MODEL_FLAGS) == 0
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size + (3,), dtype=np.uint8) for size in IMAGE_SIZES]
    return {'model_dir': model_dir, 'pb': pb_path, 'saved': saved, 'images': images}


@pytest.fixture(scope='module')
def ours(exported):
    """[(labels, probabilities)] of the suite's own float32 checkpoint inference."""
    predictor = CheckpointPredictor(exported['model_dir'], PARAMS, deeplab_model.predict_probabilities,
                                    eval_crop_size=(CROP, CROP))
    try:
        return [predictor(image, with_probabilities=True) for image in exported['images']]
    finally:
        predictor.close()


def assert_same_predictions(predict, exported, expected):
    for image, (labels, probabilities) in zip(exported['images'], expected):
        their_labels, their_probabilities = predict(image)
        assert their_labels.shape == image.shape[:2] and their_probabilities.shape == probabilities.shape
        np.testing.assert_array_equal(their_labels, labels)
        np.testing.assert_allclose(their_probabilities, probabilities, rtol=0, atol=PROBABILITY_TOLERANCE)
    assert len(np.unique(expected[-1][0])) > 1


@pytest.mark.parametrize('kind', ['pb', 'saved'])
def test_openvino_runs_the_exported_graph_as_the_suite(exported, ours, kind):
    assert_same_predictions(runtimes.openvino_predictor(exported[kind]), exported, ours)


def test_onnxruntime_runs_the_onnx_model_export_model_writes_as_the_suite(exported, ours, tmp_path):
    onnx_path = str(tmp_path / 'model.onnx')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('TF2ONNX_CATCH_ERRORS', 'FALSE')  # no copy of the whole graph before each tf2onnx optimiser
        assert export_model.main(['--model_dir', exported['model_dir'], '--export_path', str(tmp_path / 'frozen.pb'),
                                  '--onnx_path', onnx_path] + MODEL_FLAGS) == 0
    model = onnx.load(onnx_path)
    dilated = [node for node in model.graph.node if node.op_type == 'Conv'
               and any(a.name == 'dilations' and max(a.ints) > 1 for a in node.attribute)]
    assert not [node for node in dilated if any(a.name == 'auto_pad' for a in node.attribute)]
    assert dilated or not layers.native_dilation()  # without oneDNN, atrous convolutions export as space-to-batch
    assert_same_predictions(runtimes.onnxruntime_predictor(model), exported, ours)


def test_onnx_export_in_bfloat16_is_refused_before_anything_is_written(exported, tmp_path, capsys):
    argv = ['--model_dir', exported['model_dir'], '--export_path', str(tmp_path / 'frozen.pb'), '--onnx_path',
            str(tmp_path / 'model.onnx'), '--precision', 'bfloat16'] + MODEL_FLAGS
    assert run_cli(export_model.main, argv) == 2 and not list(tmp_path.iterdir())
    assert 'export in float32 for ONNX' in capsys.readouterr().err


def test_openvino_bfloat16_hint_computes_in_bfloat16_close_to_float32(exported, ours):
    predict = runtimes.openvino_predictor(exported['pb'], 'bfloat16')
    outputs = [predict(image) for image in exported['images']]
    agreement = (sum(int((labels == expected).sum()) for (labels, _), (expected, _) in zip(outputs, ours))
                 / sum(expected.size for expected, _ in ours))
    differences = [np.abs(probabilities - expected).max() for (_, probabilities), (_, expected) in zip(outputs, ours)]
    assert BFLOAT16_AGREEMENT <= agreement < 1.0
    assert 1e-3 < max(differences) <= BFLOAT16_TOLERANCE  # above float32's 2e-5: the hint took effect


def test_openvino_refuses_a_missing_graph_or_precision_in_one_line(tmp_path, exported):
    with pytest.raises(UserError, match='no exported graph'):
        runtimes.openvino_model(str(tmp_path / 'absent.pb'))
    with pytest.raises(UserError, match='choose one of float32, bfloat16'):
        runtimes.openvino_predictor(exported['pb'], 'float16')


def test_explicit_dilated_padding_pads_stride_1_convolutions_as_tensorflow():
    weights = onnx.numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), 'w')
    nodes = [onnx.helper.make_node('Conv', ['x', 'w'], ['y'], auto_pad='SAME_UPPER', dilations=[2, 3],
                                   kernel_shape=[3, 3], strides=[1, 1]),
             onnx.helper.make_node('Conv', ['y', 'w'], ['z'], auto_pad='SAME_UPPER', kernel_shape=[3, 3],
                                   strides=[2, 2])]
    graph = onnx.helper.make_graph(nodes, 'g', [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT,
                                                                                     [1, 1, None, None])],
                                   [onnx.helper.make_tensor_value_info('z', onnx.TensorProto.FLOAT, None)], [weights])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid('', 15)])
    assert runtimes.explicit_dilated_padding(model) == 1
    attributes = [{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} for node in model.graph.node]
    assert attributes[0]['pads'] == [2, 3, 2, 3] and 'auto_pad' not in attributes[0]
    assert attributes[1]['auto_pad'] == b'SAME_UPPER' and 'pads' not in attributes[1]
    image = np.arange(7 * 9, dtype=np.float32).reshape(1, 1, 7, 9)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        dilated = tf.nn.conv2d(image.transpose(0, 2, 3, 1), np.ones((3, 3, 1, 1), np.float32), 1, 'SAME',
                               dilations=[2, 3])
        expected = sess.run(tf.nn.conv2d(dilated, np.ones((3, 3, 1, 1), np.float32), 2, 'SAME'))
    np.testing.assert_allclose(session.run(None, {'x': image})[0], expected.transpose(0, 3, 1, 2))
