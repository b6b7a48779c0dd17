"""--precision: the network computes in bfloat16 or float16 while variables, batch norm, loss and softmax stay
float32; checkpoints move between precisions both ways; trained weights give the same labels in bfloat16 as in
float32; every script takes the flag and records it where it records results."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_demo_records

import deeplab_model
import evaluate
import export_model
import inference
import train
from utils.cli.flags import model_params, prediction_source
from utils.common.errors import UserError, run_cli
from utils.data.demo_data import make_demo_voc
from utils.runtime import precision, predict, training
from utils.runtime.frozen_graph import MODEL_PARAMS_NAME, load_graph
from utils.runtime.model_config import PARAMS_FILE

tf1 = tf.compat.v1
SMALL = ['--model_variant', 'resnet_v2_50', '--batch_size', '4', '--crop_size', '65', '65', '--no_eval',
         '--initial_learning_rate', '0.02', '--batch_norm_decay', '0.9', '--seed', '1', '--log_every_n_steps', '5',
         '--train_epochs', '1000']
TRAINED_STEPS = 120


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_demo_records(tmp_path_factory, 24, 1)


@pytest.fixture(scope='module')
def val_images(tmp_path_factory):
    """Generated VOC-layout images the models never saw (another seed of the demo data)."""
    return make_demo_voc(str(tmp_path_factory.mktemp('val')), num_train=0, num_val=6, num_test=0, seed=7)


@pytest.fixture(scope='module')
def trained_float32(records, tmp_path_factory):
    """A ResNet-v2-50 DeepLabv3 trained in float32 long enough to segment the demo's shapes; deterministic, since
    how much 120 steps learn otherwise varies with thread scheduling (once 3.3 % foreground, where 5 % is asked)."""
    model_dir = str(tmp_path_factory.mktemp('float32_model'))
    assert run_cli(train.main, ['--model_dir', model_dir, '--data_dir', records, '--max_iter', str(TRAINED_STEPS),
                                '--save_checkpoints_steps', str(TRAINED_STEPS), '--deterministic', *SMALL]) == 0
    return model_dir


def graph_dtypes(build):
    """(dtypes of the Conv2D ops, dtypes of the floating-point variables) of the graph `build()` makes."""
    graph = tf.Graph()
    with graph.as_default():
        build()
    convs = {op.get_attr('T') for op in graph.get_operations() if op.type == 'Conv2D'}
    variables = graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
    return convs, {v.dtype.base_dtype for v in variables if v.dtype.base_dtype.is_floating}


@pytest.mark.parametrize('name, dtype', [('float32', tf.float32), ('bfloat16', tf.bfloat16),
                                         ('float16', tf.float16)])
def test_the_flag_sets_the_convolutions_dtype_and_variables_stay_float32(name, dtype):
    params = train.training_params(train.build_parser().parse_args(['--precision', name, '--model_variant',
                                                                     'resnet_v2_50']))
    assert params['precision'] == name

    def build():
        images = tf1.placeholder(tf.float32, [2, 33, 33, 3])
        labels = tf1.placeholder(tf.int32, [2, 33, 33, 1])
        spec = deeplab_model.model_fn({'image': images}, labels, tf.estimator.ModeKeys.TRAIN,
                                      dict(params, max_iter=10))
        assert spec.loss.dtype == tf.float32
    convs, variables = graph_dtypes(build)
    assert convs == {dtype}
    assert variables == {tf.float32}


def test_evaluate_and_inference_pass_the_flag_to_the_network():
    for script in (evaluate, inference):
        args = script.build_parser().parse_args(['--precision', 'bfloat16', '--image_data_dir', 'x',
                                                 '--ground_truth_dir', 'y', '--image_list', 'z', '--output_dir', 'o']
                                                if script is inference else
                                                ['--precision', 'bfloat16', '--ground_truth_dir', 'y',
                                                 '--image_list', 'z'])
        source = prediction_source(args, model_params(args))
        assert source['params']['precision'] == 'bfloat16'
        convs, _ = graph_dtypes(lambda: deeplab_model.predict_probabilities(
            tf1.placeholder(tf.float32, [1, 33, 33, 3]), source['params']))
        assert convs == {tf.bfloat16}


def test_a_frozen_graph_refuses_another_precision():
    args = evaluate.build_parser().parse_args(['--frozen_graph', 'g.pb', '--precision', 'bfloat16',
                                               '--ground_truth_dir', 'y', '--image_list', 'z'])
    with pytest.raises(UserError, match='g.pb: --precision needs a checkpoint'):
        prediction_source(args, model_params(args))


def test_float16_trains_under_dynamic_loss_scaling_and_bfloat16_without():
    momentum = tf1.train.MomentumOptimizer(0.1, 0.9)
    assert precision.loss_scaled(momentum, 'bfloat16') is momentum
    with tf.Graph().as_default():
        scaled = precision.loss_scaled(momentum, 'float16')
        assert isinstance(scaled, tf1.mixed_precision.MixedPrecisionLossScaleOptimizer)
        # the scale is not checkpointed: checkpoints hold the same variables in every precision
        assert tf1.global_variables() == [] and len(tf1.local_variables()) == 2


def test_the_slow_precision_note_names_what_is_missing():
    note = precision.slow_precision_note
    assert note('bfloat16', instruction_sets=frozenset({'avx512f', 'avx512_bf16'}), onednn=True, gpu=False) is None
    assert note('bfloat16', instruction_sets=frozenset({'amx_bf16'}), onednn=True, gpu=False) is None
    missing = note('bfloat16', instruction_sets=frozenset({'avx2'}), onednn=True, gpu=False)
    assert 'avx512_bf16' in missing and 'amx_bf16' in missing
    off = note('bfloat16', instruction_sets=frozenset({'avx512_bf16'}), onednn=False, gpu=False)
    assert 'TF_ENABLE_ONEDNN_OPTS=0' in off
    assert 'for GPUs' in note('float16', instruction_sets=frozenset({'avx512_bf16'}), onednn=True, gpu=False)
    assert note('float16', instruction_sets=frozenset(), onednn=False, gpu=True) is None
    assert note('float32', instruction_sets=frozenset(), onednn=False, gpu=False) is None


def predictions(model_dir, images, name, scales=(1.0,), flip=False):
    """[(labels, probabilities)] of `images` from the checkpoint in `model_dir` in precision `name`."""
    params = dict(json.load(open(os.path.join(model_dir, PARAMS_FILE))), precision=name)
    predictor = predict.CheckpointPredictor(model_dir, params, deeplab_model.predict_probabilities, scales, flip,
                                            eval_crop_size=[65, 65])
    try:
        return [predictor(image, with_probabilities=True) for image in images]
    finally:
        predictor.close()


def demo_images(data):
    from PIL import Image
    ids = open(data['val_list']).read().split()
    return [np.asarray(Image.open(os.path.join(data['image_dir'], i + '.jpg'))) for i in ids]


def test_trained_weights_give_the_same_labels_in_bfloat16_as_in_float32(trained_float32, val_images):
    images = demo_images(val_images)
    reference = predictions(trained_float32, images, 'float32')
    lowered = predictions(trained_float32, images, 'bfloat16')
    agree = sum(int((a[0] == b[0]).sum()) for a, b in zip(reference, lowered))
    total = sum(a[0].size for a in reference)
    worst = max(float(np.abs(a[1] - b[1]).max()) for a, b in zip(reference, lowered))
    assert lowered[0][1].dtype == np.float32
    assert agree / total > 0.99, (agree / total, worst)
    assert 1e-4 < worst < 0.5  # bfloat16 does round (not a float32 graph in disguise), boundaries only
    # the model learned something: it does not label everything background
    assert np.mean([(a[0] != 0).mean() for a in reference]) > 0.05


def test_bfloat16_training_lowers_the_loss_and_its_checkpoint_restores_in_float32(records, val_images, tmp_path):
    model_dir = str(tmp_path / 'bf16')
    assert run_cli(train.main, ['--model_dir', model_dir, '--data_dir', records, '--max_iter', '20',
                                '--precision', 'bfloat16', *SMALL]) == 0
    with open(os.path.join(model_dir, PARAMS_FILE)) as handle:
        assert json.load(handle)['training_precision'] == 'bfloat16'
    losses = training.logged_scalar(model_dir, 'loss')
    steps = sorted(losses)
    assert len(steps) >= 4 and all(np.isfinite(list(losses.values())))
    assert np.mean([losses[s] for s in steps[-2:]]) < np.mean([losses[s] for s in steps[:2]]), losses
    labels, probabilities = predictions(model_dir, demo_images(val_images)[:1], 'float32')[0]
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=2), 1.0, atol=1e-4)


def test_a_float32_checkpoint_resumes_training_in_bfloat16_and_float16(trained_float32, records, tmp_path):
    import shutil
    for name in ('bfloat16', 'float16'):
        model_dir = str(tmp_path / name)
        shutil.copytree(trained_float32, model_dir)
        assert run_cli(train.main, ['--model_dir', model_dir, '--data_dir', records, '--max_iter',
                                    str(TRAINED_STEPS + 2), '--precision', name, *SMALL]) == 0
        assert tf.train.load_variable(model_dir, 'global_step') == TRAINED_STEPS + 2
        losses = training.logged_scalar(model_dir, 'loss')
        assert np.isfinite(losses[max(losses)])


def test_export_in_bfloat16_keeps_the_interface_and_records_the_precision(trained_float32, val_images, tmp_path):
    path = str(tmp_path / 'bf16.pb')
    assert run_cli(export_model.main, ['--model_dir', trained_float32, '--export_path', path, '--precision',
                                       'bfloat16', '--eval_crop_size', '65', '65']) == 0
    graph = load_graph(path)
    convs = {op.get_attr('T') for op in graph.get_operations() if op.type == 'Conv2D'}
    assert convs == {tf.bfloat16}
    with tf1.Session(graph=graph) as sess:
        recorded = json.loads(sess.run(graph.get_tensor_by_name(MODEL_PARAMS_NAME + ':0')))
        image = demo_images(val_images)[0]
        labels, probabilities = sess.run(['SemanticPredictions:0', 'SemanticProbabilities:0'],
                                         {'ImageTensor:0': image[np.newaxis]})
    assert recorded['precision'] == 'bfloat16'
    assert probabilities.dtype == np.float32 and labels.dtype == np.int32
    checkpoint_labels = predictions(trained_float32, [image], 'bfloat16')[0][0]
    assert (labels[0] == checkpoint_labels).mean() > 0.99


def test_evaluate_records_the_precision_in_its_json(trained_float32, val_images, tmp_path):
    out = str(tmp_path / 'scores.json')
    assert run_cli(evaluate.main, ['--image_data_dir', val_images['image_dir'], '--ground_truth_dir',
                                   val_images['label_dir'], '--image_list', val_images['val_list'], '--model_dir',
                                   trained_float32, '--precision', 'bfloat16', '--eval_crop_size', '65', '65',
                                   '--output_json', out]) == 0
    with open(out) as handle:
        scores = json.load(handle)
    assert scores['precision'] == 'bfloat16' and 0.0 < scores['miou'] <= 1.0


def test_image_pooling_averages_bfloat16_features_in_float32():
    """ASPP's image-level branch takes the mean of a whole feature map: summed in bfloat16 (8 significant bits) the
    sum of 65 x 65 values stops growing long before the end; in float32 the mean is right to bfloat16's rounding."""
    from nets import heads, layers
    features = np.random.default_rng(0).uniform(0.0, 4.0, (1, 65, 65, 4)).astype(np.float32)
    with tf.Graph().as_default():
        bfloat16 = tf.cast(tf.constant(features), tf.bfloat16)
        bn = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=1e-5)
        heads.aspp(bfloat16, bn, [6, 12, 18], training=False, weight_decay=0.0, separable=False)
        pooling, = [op for op in tf1.get_default_graph().get_operations() if op.name == 'image_pooling/Conv2D']
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            pooled, rounded = sess.run([tf.cast(pooling.inputs[0], tf.float32), tf.cast(bfloat16, tf.float32)])
    assert pooling.inputs[0].dtype == tf.bfloat16
    expected = rounded.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(pooled, expected, rtol=2 ** -8)
