"""bfloat16 atrous convolutions by tap products: the same outputs and gradients as tf.nn.conv2d's dilated kernel, and
the bfloat16 network (only it) built with them, so its forward pass and kernel gradients are matrix products."""
import numpy as np
import pytest
import tensorflow as tf

import deeplab_model
from nets import layers
from utils.runtime.model_config import resolve_model_params

tf1 = tf.compat.v1

pytestmark = pytest.mark.skipif(not layers.native_dilation(tf.bfloat16),
                                reason='tap products replace native dilated kernels, which need oneDNN or a GPU')


@pytest.mark.parametrize('shape, rate', [
    ((2, 9, 11, 5), 2),    # native forward, tap-product kernel gradient
    ((2, 9, 11, 5), 3),    # tap products both ways
    ((1, 7, 13, 4), 6),    # rows: the outer taps only meet padding; columns: they reach part of the map
])
@pytest.mark.parametrize('known_size', [True, False], ids=['size known', 'size at run time'])
def test_outputs_and_gradients_equal_the_dilated_kernel(shape, rate, known_size):
    rng = np.random.RandomState(0)
    values = rng.normal(size=shape)
    with tf.Graph().as_default(), tf1.Session() as sess:
        inputs = tf1.placeholder(tf.float32, shape if known_size else (None, None, None, shape[-1]))
        kernel = tf.constant(rng.normal(size=(3, 3, shape[-1], 6)), tf.float32)
        weights = tf.constant(rng.normal(size=shape[:3] + (6,)), tf.float32)
        results = []
        for conv in (layers.tap_products_conv2d(inputs, kernel, rate),
                     tf.nn.conv2d(inputs, kernel, 1, 'SAME', dilations=rate)):
            assert conv.shape.as_list()[-1] == 6
            results.append(sess.run([conv, *tf.gradients(tf.reduce_sum(conv * weights), [inputs, kernel])],
                                    {inputs: values}))
    for ours, native in zip(*results):
        np.testing.assert_allclose(ours, native, rtol=1e-4, atol=1e-4)


def network_ops(precision, training):
    """The op types and dilations of DeepLabv3's graph at a 65x65 crop with gradients when training, else of
    the inference graph for images of any size."""
    params = resolve_model_params({'model_variant': 'resnet_v2_50', 'output_stride': 16, 'precision': precision})
    with tf.Graph().as_default() as graph:
        if training:
            images = tf1.placeholder(tf.float32, [2, 65, 65, 3])
            logits = deeplab_model.upsampled_logits(images, params, training=True)
            tf.gradients(tf.reduce_sum(logits), tf1.trainable_variables())
        else:
            deeplab_model.predict_probabilities(tf1.placeholder(tf.float32, [None, None, None, 3]), params)
    return [(op.type, max(op.get_attr('dilations')) if 'dilations' in op.node_def.attr else 1)
            for op in graph.get_operations()]


def test_bfloat16_networks_use_tap_products_and_float32_the_native_kernels():
    bfloat16, float32 = network_ops('bfloat16', training=True), network_ops('float32', training=True)
    # ASPP's rates 6 12 18 and block4's multi-grid 4 and 8 run as products; block4's rate 2 natively
    assert {rate for op, rate in bfloat16 if op == 'Conv2D'} == {1, 2}
    assert not any(op == 'Conv2DBackpropFilter' and rate > 1 for op, rate in bfloat16)
    assert {rate for op, rate in float32 if op == 'Conv2D'} == {1, 2, 4, 8, 6, 12, 18}
    assert any(op == 'Conv2DBackpropFilter' and rate > 1 for op, rate in float32)
    assert sum(op == 'MatMul' for op, _ in bfloat16) > sum(op == 'MatMul' for op, _ in float32)
    assert {rate for op, rate in network_ops('bfloat16', training=False) if op == 'Conv2D'} == {1, 2}
