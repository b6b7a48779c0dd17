"""export_model.py writes a model-zoo style frozen graph; utils/runtime/frozen_graph.py runs it and the zoo's own
graphs."""
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_random_checkpoint
from PIL import Image
from tensorflow.core.protobuf import saved_model_pb2

import deeplab_model
import export_model
import preprocessing
from utils.cli.flags import model_params as params_from_args
from utils.common.errors import UserError, run_cli
from utils.data.voc import MEAN_RGB
from utils.runtime import frozen_graph
from utils.runtime.export import build_inference_graph, build_original_serving_graph, write_graph_def
from utils.runtime.frozen_graph import MODEL_PARAMS_NAME
from utils.runtime.model_config import DEFAULT_EVAL_CROP_SIZE, MODEL_DEFAULTS
from utils.runtime.predict import CheckpointPredictor

tf1 = tf.compat.v1
MODEL_FLAGS = ['--model_variant', 'xception_65', '--decoder_output_stride', '4']
IMAGE_SIZES = {'a': (65, 81), 'b': (49, 40)}


def model_params(extra=()):
    """The params export_model.py derives from MODEL_FLAGS."""
    args = export_model.build_parser().parse_args(MODEL_FLAGS + ['--export_path', 'unused.pb'] + list(extra))
    return params_from_args(args)


def write_images(image_dir, sizes):
    """Random RGB PNGs named by id; returns {id: array}."""
    os.makedirs(image_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    images = {i: rng.integers(0, 256, size + (3,), dtype=np.uint8) for i, size in sizes.items()}
    for image_id, image in images.items():
        Image.fromarray(image).save(os.path.join(image_dir, image_id + '.png'))
    return images


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """A random Xception-65 v3+ checkpoint, its frozen graph and SavedModel, and a few tiny images."""
    root = tmp_path_factory.mktemp('export')
    model_dir, pb_path, saved = str(root / 'model'), str(root / 'frozen.pb'), str(root / 'saved')
    write_random_checkpoint(model_dir, model_params())
    code = export_model.main(['--model_dir', model_dir, '--export_path', pb_path, '--saved_model_dir', saved]
                             + MODEL_FLAGS)
    assert code == 0
    rng = np.random.default_rng(0)
    images = {i: rng.integers(0, 256, size + (3,), dtype=np.uint8) for i, size in IMAGE_SIZES.items()}
    return {'model_dir': model_dir, 'pb': pb_path, 'saved': saved, 'images': images, 'root': root}


@pytest.fixture(scope='module')
def checkpoint_results(exported):
    """{id: (labels, probabilities)} from the checkpoint inference path."""
    predictor = CheckpointPredictor(exported['model_dir'], model_params(), deeplab_model.predict_probabilities,
                                    eval_crop_size=DEFAULT_EVAL_CROP_SIZE)
    try:
        return {i: predictor(image, with_probabilities=True) for i, image in exported['images'].items()}
    finally:
        predictor.close()


@pytest.fixture(scope='module')
def frozen(exported):
    """The exported graph reloaded by utils/runtime/frozen_graph.py, once."""
    predictor = frozen_graph.FrozenPredictor(exported['pb'])
    yield predictor
    predictor.close()


def test_frozen_graph_predictions_equal_checkpoint_predictions(exported, checkpoint_results, frozen):
    for image_id, image in exported['images'].items():
        labels = frozen(image)
        assert labels.dtype == np.uint8 and labels.shape == IMAGE_SIZES[image_id]
        np.testing.assert_array_equal(labels, checkpoint_results[image_id][0])
    assert len(np.unique(checkpoint_results['a'][0])) > 1


def test_exported_probabilities_equal_checkpoint_probabilities(exported, checkpoint_results, frozen):
    probabilities = frozen.session.run('SemanticProbabilities:0', {frozen.images: exported['images']['a'][None]})
    assert probabilities.shape == (1, 65, 81, 21) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities[0], checkpoint_results['a'][1], atol=1e-5)


def test_exported_graph_has_the_model_zoo_interface_and_no_variables(frozen):
    assert frozen.images.dtype == tf.uint8 and frozen.images.shape.as_list() == [1, None, None, 3]
    assert frozen.predictions.dtype == tf.int32 and frozen.predictions.shape.rank == 3
    assert not [op for op in frozen.graph.get_operations() if op.type in ('VariableV2', 'VarHandleOp')]


def test_saved_model_has_a_serving_signature_over_the_same_tensors(exported):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(exported['saved'], 'saved_model.pb'), 'rb') as handle:
        saved_model.ParseFromString(handle.read())
    meta_graph, = saved_model.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ['serve']
    signature = meta_graph.signature_def['serving_default']
    assert {k: (v.name, v.dtype) for k, v in signature.inputs.items()} == {
        'ImageTensor': ('ImageTensor:0', tf.uint8.as_datatype_enum)}
    assert {k: (v.name, v.dtype) for k, v in signature.outputs.items()} == {
        'SemanticPredictions': ('SemanticPredictions:0', tf.int32.as_datatype_enum),
        'SemanticProbabilities': ('SemanticProbabilities:0', tf.float32.as_datatype_enum)}
    assert {node.name for node in meta_graph.graph_def.node} >= {'ImageTensor', 'SemanticPredictions'}


def test_eval_crop_size_pads_inside_the_graph_crops_back_and_takes_larger_images(monkeypatch):
    monkeypatch.setattr(deeplab_model, 'float32_logits', lambda images, *_, **kwargs: fake_logits(images))
    image = np.full((1, 5, 7, 3), 100, np.uint8)
    image[:, :, 4:, 0] = 120  # brighter than the image's mean red, darker than the mid-grey padding
    outputs = {}
    for crop_size in (None, (5, 7), (9, 12)):
        with tf.Graph().as_default(), tf1.Session() as sess:
            images, tensors = build_inference_graph(model_params(), deeplab_model.predict_probabilities, crop_size)
            outputs[crop_size] = sess.run(tensors, {images: image})
            if crop_size == (9, 12):
                taller = sess.run(tensors, {images: np.zeros((1, 10, 3, 3), np.uint8)})
                assert taller['SemanticPredictions'].shape == (1, 10, 3)
    plain, exact, padded = outputs[None], outputs[(5, 7)], outputs[(9, 12)]
    assert padded['SemanticPredictions'].shape == (1, 5, 7)
    assert padded['SemanticProbabilities'].shape == (1, 5, 7, 21)
    np.testing.assert_array_equal(exact['SemanticPredictions'], plain['SemanticPredictions'])
    assert (padded['SemanticPredictions'] != plain['SemanticPredictions']).any()


def test_the_zoo_and_original_interfaces_take_and_give_their_dtypes_and_shapes(monkeypatch):
    """The model zoo's: one uint8 ImageTensor in, int32 labels [1, H, W] out. The original export_inference_graph.py's:
    a float32 batch in, int32 classes [N, H, W, 1] and float32 probabilities out."""
    monkeypatch.setattr(deeplab_model, 'float32_logits', lambda images, *_, **kwargs: fake_logits(images))
    with tf.Graph().as_default(), tf1.Session() as sess:
        images, tensors = build_inference_graph(model_params(), deeplab_model.predict_probabilities)
        assert images.dtype == tf.uint8 and images.shape.as_list() == [1, None, None, 3]
        zoo = sess.run(tensors, {images: np.zeros((1, 5, 7, 3), np.uint8)})
    assert zoo['SemanticPredictions'].dtype == np.int32 and zoo['SemanticPredictions'].shape == (1, 5, 7)
    assert zoo['SemanticProbabilities'].dtype == np.float32 and zoo['SemanticProbabilities'].shape == (1, 5, 7, 21)
    with tf.Graph().as_default(), tf1.Session() as sess:
        images, tensors = build_original_serving_graph(model_params(), deeplab_model.predict_probabilities)
        assert images.dtype == tf.float32 and images.shape.as_list() == [None, None, None, 3]
        original = sess.run(tensors, {images: np.zeros((2, 5, 7, 3), np.float32)})
    assert original['classes'].dtype == np.int32 and original['classes'].shape == (2, 5, 7, 1)
    assert original['probabilities'].dtype == np.float32 and original['probabilities'].shape == (2, 5, 7, 21)


def fake_logits(images):
    """Two-class stand-in logits that depend on the whole (padded) image: red above the image's mean red."""
    brighter = images[..., 0] > tf.reduce_mean(images[..., 0], axis=[1, 2], keepdims=True)
    return tf.one_hot(tf.cast(brighter, tf.int32), 21)


@pytest.mark.parametrize('normalization, fill', [('inception', [127.5] * 3), ('mean_subtraction', MEAN_RGB)])
def test_evaluation_padding_fills_with_the_value_that_normalises_to_zero(normalization, fill):
    images = np.arange(2 * 3 * 3, dtype=np.float32).reshape(1, 2, 3, 3)
    with tf.Graph().as_default(), tf1.Session() as sess:
        padded = sess.run(preprocessing.pad_to_at_least(tf.constant(images), (3, 5), normalization))
        unchanged = sess.run(preprocessing.pad_to_at_least(tf.constant(images), (1, 2), normalization))
    assert padded.shape == (1, 3, 5, 3)
    np.testing.assert_array_equal(padded[:, :2, :3], images)
    np.testing.assert_allclose(padded[0, 2], np.tile(fill, (5, 1)))
    np.testing.assert_allclose(padded[0, :, 3:], np.tile(fill, (3, 2, 1)))
    np.testing.assert_array_equal(unchanged, images)


def test_exported_graph_records_its_model_and_runs_any_size(exported, frozen):
    import json
    constant = frozen.graph.get_tensor_by_name(MODEL_PARAMS_NAME + ':0')
    with tf1.Session(graph=frozen.graph) as sess:
        recorded = json.loads(sess.run(constant))
    assert recorded == dict({key: model_params()[key] for key in MODEL_DEFAULTS},
                            eval_crop_size=DEFAULT_EVAL_CROP_SIZE, precision='float32')
    assert frozen.max_side is None


def test_zoo_graphs_take_sides_up_to_513(tmp_path):
    pb_path = str(tmp_path / 'zoo.pb')
    fake_zoo_graph(pb_path)
    assert frozen_graph.max_input_side(frozen_graph.load_graph(pb_path)) == 513


def test_export_errors_are_one_line(exported, tmp_path, capsys):
    pb_path = str(tmp_path / 'out.pb')
    missing = str(tmp_path / 'no_model')
    assert run_cli(export_model.main, ['--model_dir', missing, '--export_path', pb_path]) == 2
    assert capsys.readouterr().err.strip() == f'error: {missing}: checkpoint not found ' \
        '(give a training folder or a prefix such as .../model.ckpt)'
    wrong_variant = ['--model_dir', exported['model_dir'], '--export_path', pb_path, '--model_variant',
                     'resnet_v2_50']
    assert run_cli(export_model.main, wrong_variant) == 2
    error = capsys.readouterr().err.strip()
    assert '\n' not in error and 'resnet_v2_50/' in error and '(missing)' in error
    assert not os.path.exists(pb_path)
    assert run_cli(export_model.main, ['--model_dir', exported['model_dir'], '--export_path', str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {tmp_path}: is a folder; --export_path names the .pb file to write'


def fake_zoo_graph(path, dtype=tf.int64, max_side=None):
    """A stand-in for a zoo graph: label = red channel > 127, in `dtype`; fails above `max_side` like the zoo's."""
    graph = tf.Graph()
    with graph.as_default():
        image = tf1.placeholder(tf.uint8, [1, None, None, 3], name='ImageTensor')
        checks = [tf1.assert_less_equal(tf.reduce_max(tf.shape(image)[1:3]), max_side)] if max_side else []
        with tf.control_dependencies(checks):
            labels = tf.cast(image[..., 0] > 127, dtype)
        tf.identity(labels, name='SemanticPredictions')
    write_graph_def(graph.as_graph_def(), path)


@pytest.mark.parametrize('dtype', [tf.int64, tf.int32])
def test_zoo_graph_outputs_int64_and_int32_accepted(tmp_path, dtype):
    images = write_images(str(tmp_path / 'images'), {'x': (30, 20)})
    pb_path = str(tmp_path / 'zoo.pb')
    fake_zoo_graph(pb_path, dtype)
    (_, _, labels), = frozen_graph.iter_frozen_predictions(pb_path, str(tmp_path / 'images'), ['x'])
    np.testing.assert_array_equal(labels, (images['x'][..., 0] > 127).astype(np.uint8))


def test_images_above_513_are_resized_for_the_graph_and_back(tmp_path, capsys):
    sizes = {'wide': (300, 600), 'tall': (700, 200), 'small': (40, 30)}
    write_images(str(tmp_path / 'images'), sizes)
    pb_path = str(tmp_path / 'zoo.pb')
    fake_zoo_graph(pb_path, max_side=513)
    results = list(frozen_graph.iter_frozen_predictions(pb_path, str(tmp_path / 'images'), list(sizes)))
    assert {i: labels.shape for i, _, labels in results} == sizes
    assert capsys.readouterr().err.count('are resized to fit') == 1
    assert frozen_graph.fitted_size(300, 600, 513) == (256, 513)
    assert frozen_graph.fitted_size(513, 100, 513) == (513, 100)


def test_resized_predictions_follow_the_image(tmp_path):
    image = np.zeros((200, 1026, 3), np.uint8)
    image[:, 513:, 0] = 255
    Image.fromarray(image).save(tmp_path / 'half.png')
    pb_path = str(tmp_path / 'zoo.pb')
    fake_zoo_graph(pb_path, max_side=513)
    (_, _, labels), = frozen_graph.iter_frozen_predictions(pb_path, str(tmp_path), ['half'])
    assert set(np.unique(labels)) == {0, 1}
    assert (labels[:, :510] == 0).all() and (labels[:, 516:] == 1).all()


def patterned_zoo_graph(path):
    """A zoo stand-in (sides up to 513) whose labels depend on the position only: (row + column) % 2 * 18 + row % 3,
    so blending neighbours, as bilinear resizing does, gives values it never outputs (0 beside 18 gives 9)."""
    graph = tf.Graph()
    with graph.as_default():
        image = tf1.placeholder(tf.uint8, [1, None, None, 3], name='ImageTensor')
        with tf.control_dependencies([tf1.assert_less_equal(tf.reduce_max(tf.shape(image)[1:3]), 513)]):
            rows, cols = tf.range(tf.shape(image)[1])[:, None], tf.range(tf.shape(image)[2])[None, :]
        tf.identity(((rows + cols) % 2 * 18 + rows % 3)[None], name='SemanticPredictions')
    write_graph_def(graph.as_graph_def(), path)


def test_resized_back_predictions_are_nearest_neighbour(tmp_path):
    """299x600 runs at 255x513. With odd sides there no image pixel centre maps exactly onto a border between the
    graph's pixels ((2x + 1) * 255 / 598 is never whole), where nearest-neighbour conventions differ."""
    write_images(str(tmp_path), {'wide': (299, 600)})
    pb_path = str(tmp_path / 'zoo.pb')
    patterned_zoo_graph(pb_path)
    (_, _, labels), = frozen_graph.iter_frozen_predictions(pb_path, str(tmp_path), ['wide'])
    fitted = np.add.outer(np.arange(255), np.arange(513)) % 2 * 18 + np.arange(255)[:, None] % 3
    rows, cols = (2 * np.arange(299) + 1) * 255 // 598, (2 * np.arange(600) + 1) * 513 // 1200
    np.testing.assert_array_equal(labels, fitted[rows][:, cols])
    assert set(np.unique(labels)) == {0, 1, 2, 18, 19, 20}


def test_bad_graph_files_are_clear_user_errors(tmp_path):
    missing = str(tmp_path / 'missing.pb')
    with pytest.raises(UserError, match='missing.pb: frozen graph not found'):
        frozen_graph.load_graph(missing)
    corrupt = tmp_path / 'corrupt.pb'
    corrupt.write_bytes(b'\x00not a graph\xff' * 10)
    with pytest.raises(UserError, match='corrupt.pb: not a readable frozen graph'):
        frozen_graph.load_graph(str(corrupt))
    other = str(tmp_path / 'other.pb')
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(tf1.placeholder(tf.float32, [None], name='input'), name='output')
    write_graph_def(graph.as_graph_def(), other)
    with pytest.raises(UserError, match='other.pb: graph has no ImageTensor:0 or SemanticPredictions:0'):
        frozen_graph.load_graph(other)
