"""Inference graphs fold batch norm into the convolution before it: the same function as convolution + batch norm
on trained-like statistics, no batch norm left after a convolution, and the checkpoint predictor's weights frozen
into constants (prepared once, not at every run); training batch norm's moving averages."""
import numpy as np
import pytest
import tensorflow as tf
from conftest import write_random_checkpoint

import deeplab_model
from nets import layers
from utils.runtime.model_config import resolve_model_params
from utils.runtime.predict import CheckpointPredictor

tf1 = tf.compat.v1
CONVOLUTIONS = ('Conv2D', 'DepthwiseConv2dNative')


def layer_outputs(build, fold, channels=6):
    """`build(inputs, bn)` with batch norm folded or not, on the same random inputs and random batch-norm
    variables (gamma, beta, moving statistics far from their initial 1, 0, 0, 1)."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        bn = layers.BatchNorm(training=False, trainable=True, decay=0.997, epsilon=1e-3, fold=fold)
        outputs = build(tf.constant(rng.standard_normal((2, 9, 9, channels)), tf.float32), bn)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            for var in tf1.global_variables():
                low = 0.2 if 'variance' in var.op.name or 'gamma' in var.op.name else -1.0
                sess.run(var.assign(rng.uniform(low, 2.0, var.shape).astype(np.float32)))
            return sess.run(outputs)


@pytest.mark.parametrize('build', [
    lambda x, bn: layers.conv2d(x, 5, 3, 'conv', rate=2, bn=bn),
    lambda x, bn: layers.depthwise_conv2d(x, 3, 'depthwise', bn=bn),
], ids=['conv2d', 'depthwise'])
def test_folded_batch_norm_equals_convolution_then_batch_norm(build):
    unfolded, folded = layer_outputs(build, False), layer_outputs(build, True)
    assert np.abs(unfolded).max() > 1.0  # the ReLU lets something through
    np.testing.assert_allclose(folded, unfolded, rtol=1e-5, atol=1e-5)


def batch_norm_inputs(graph):
    """The op types feeding every batch norm of `graph`."""
    return [op.inputs[0].op.type for op in graph.get_operations() if op.type.startswith('FusedBatchNorm')]


@pytest.mark.parametrize('variant', ['resnet_v2_50', 'xception_65'])
def test_inference_graph_has_no_batch_norm_after_a_convolution_and_training_keeps_them(variant):
    params = resolve_model_params({'model_variant': variant, 'decoder_output_stride': 4})
    graphs = {}
    for training in (False, True):
        graphs[training] = tf.Graph()
        with graphs[training].as_default():
            deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 65, 65, 3]), params, training=training)
    inference, training = batch_norm_inputs(graphs[False]), batch_norm_inputs(graphs[True])
    assert not any(kind in CONVOLUTIONS for kind in inference)
    # ResNet-v2's pre-activation batch norms (16 units' preact and the postnorm) follow no convolution: they stay
    assert len(inference) == (17 if variant == 'resnet_v2_50' else 0)
    assert len(training) - len(inference) >= 40


def test_checkpoint_predictor_runs_a_graph_without_variables(tmp_path):
    params = resolve_model_params({'model_variant': 'resnet_v2_50'})
    write_random_checkpoint(str(tmp_path), params)
    predictor = CheckpointPredictor(str(tmp_path), params, deeplab_model.predict_probabilities)
    try:
        kinds = {op.type for op in predictor.graph.get_operations()}
        assert not kinds & {'VarHandleOp', 'VariableV2', 'ReadVariableOp'}
        assert not any(kind in CONVOLUTIONS for kind in batch_norm_inputs(predictor.graph))
        labels, probabilities = predictor(np.zeros((40, 30, 3), np.uint8), with_probabilities=True)
        assert labels.shape == (40, 30) and probabilities.shape == (40, 30, 21)
    finally:
        predictor.close()


def test_training_batch_norm_moves_its_averages_by_one_minus_the_decay():
    """slim's moving averages: after one update from their initial 0 and 1, moving_mean = (1 - decay) x the batch
    mean and moving_variance = decay + (1 - decay) x the batch variance (fused batch norm's, Bessel-corrected)."""
    values = np.random.default_rng(1).normal(3.0, 2.0, (2, 5, 5, 4)).astype(np.float32)
    with tf.Graph().as_default(), tf1.Session() as sess:
        bn = layers.BatchNorm(training=True, trainable=True, decay=0.9, epsilon=1e-3)
        layers.batch_norm(tf.constant(values), bn)
        sess.run(tf1.global_variables_initializer())
        sess.run(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS))
        mean, variance = sess.run([v for v in tf1.global_variables() if v.op.name.endswith(('moving_mean',
                                                                                          'moving_variance'))])
    np.testing.assert_allclose(mean, 0.1 * values.mean(axis=(0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(variance, 0.9 + 0.1 * values.var(axis=(0, 1, 2), ddof=1), rtol=1e-4)
