"""The ResNet-v2 backbone has exactly the slim checkpoints' variable names and shapes, their initialisation and slim's
conv1 and strided padding."""
import functools
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import FIXTURES

from nets import layers, resnet_v2

tf1 = tf.compat.v1


def reference(variant):
    with open(os.path.join(FIXTURES, 'reference', f'{variant}_variables.json')) as handle:
        return {v['name']: v['shape'] for v in json.load(handle)['variables']}


def build_backbone(variant, output_stride):
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, 65, 65, 3])
        bn = layers.BatchNorm(training=True, trainable=True, decay=0.997, epsilon=1e-5)
        features, end_points = resnet_v2.resnet_v2(images, variant, bn, output_stride, (1, 2, 4), 1e-4)
        names = {v.op.name: v.shape.as_list() for v in tf1.global_variables()}
        trainable = len(tf1.trainable_variables())
    return names, trainable, features, end_points


@pytest.mark.parametrize('variant', ['resnet_v2_50', 'resnet_v2_101'])
def test_backbone_variables_match_slim_checkpoint(variant):
    names, _, _, _ = build_backbone(variant, 16)
    expected = reference(variant)
    assert sorted(set(expected) - set(names)) == []
    assert sorted(set(names) - set(expected)) == []
    assert names == expected


def test_output_stride_changes_resolution_not_variables():
    names16, trainable, features16, ends = build_backbone('resnet_v2_101', 16)
    names8, _, features8, _ = build_backbone('resnet_v2_101', 8)
    assert names16 == names8
    assert trainable == 342
    assert features16.shape.as_list() == [1, 5, 5, 2048]
    assert features8.shape.as_list() == [1, 9, 9, 2048]
    assert ends[resnet_v2.LOW_LEVEL_END_POINT].shape.as_list() == [1, 17, 17, 256]


@functools.lru_cache(maxsize=None)
def resnet_50_graph():
    """ResNet-v2-50 on a 33x33 placeholder in a fresh graph, with seeded initialisers; cached, tests only read it."""
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        bn = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=1e-5)
        resnet_v2.resnet_v2(tf1.placeholder(tf.float32, [1, 33, 33, 3]), 'resnet_v2_50', bn, 16, (1, 2, 4), 0.0)
    return graph


def test_kernels_start_with_he_initialisation():
    """resnet_arg_scope's initialiser: variance 2 / fan-in (He et al.), truncated normal, for every kernel size."""
    names = ['resnet_v2_50/conv1/weights', 'resnet_v2_50/block3/unit_1/bottleneck_v2/conv2/weights',
             'resnet_v2_50/block4/unit_3/bottleneck_v2/conv3/weights']
    graph = resnet_50_graph()
    with graph.as_default(), tf1.Session() as sess:
        kernels = [v for v in tf1.global_variables() if v.op.name in names]
        sess.run(tf1.variables_initializer(kernels))
        values = sess.run(kernels)
    assert len(values) == 3
    for value in values:
        fan_in = np.prod(value.shape[:3])
        assert value.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.05), value.shape


def test_conv1_feeds_pool1_without_an_activation():
    """slim's resnet_v2: conv1 has biases and no batch norm or ReLU (the first unit's pre-activation follows the
    pool), so its output goes straight into pool1."""
    graph = resnet_50_graph()
    pool1, = [op for op in graph.get_operations() if op.type == 'MaxPool' and '/block' not in op.name]
    assert pool1.inputs[0].op.name == 'resnet_v2_50/conv1/BiasAdd'
    assert not [op.name for op in graph.get_operations() if op.name.startswith('resnet_v2_50/conv1/')
                and op.type == 'Relu']


@pytest.mark.parametrize('kernel_size', [3, 7])
def test_a_strided_conv2d_same_pads_symmetrically_on_even_sides(kernel_size):
    """slim's conv2d_same: a strided convolution pads (k - 1) // 2 before and the rest after, whatever the side.
    TensorFlow's SAME pads an even side less at the top/left, which would shift every later feature map."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 10, 12, 2)).astype(np.float32)
    kernel = rng.standard_normal((kernel_size, kernel_size, 2, 3)).astype(np.float32)
    with tf.Graph().as_default(), tf1.Session() as sess:
        outputs = layers.conv2d_same(tf.constant(image), 3, kernel_size, 2, 'conv', activation=None, use_bias=False,
                                     initializer=tf1.constant_initializer(kernel))
        sess.run(tf1.global_variables_initializer())
        ours = sess.run(outputs)[0]
    before = (kernel_size - 1) // 2
    after = kernel_size - 1 - before
    padded = np.pad(image[0], [(before, after), (before, after), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel_size, kernel_size), axis=(0, 1))[::2, ::2]
    expected = np.einsum('rcikl,klio->rco', windows, kernel)
    assert ours.shape == expected.shape == (5, 6, 3)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
