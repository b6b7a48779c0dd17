"""On the space-to-batch path, atrous taps that can only meet zero padding are dropped, exactly: outputs and
gradients equal those of the full dilated kernel, and at the demo's crop (6x6 maps at output stride 16) ASPP runs
as plain 1x1 convolutions. Native dilation keeps the whole kernel."""
import numpy as np
import pytest
import tensorflow as tf
from test_model_graph import dilation_path, flag_params

import deeplab_model
from nets import layers

tf1 = tf.compat.v1


@pytest.mark.parametrize('side, rate, kept, rates', [
    ((6, 6), 6, (1, 1), (1, 1)),     # every outer tap lands in the padding: a 1x1 convolution
    ((5, 7), 6, (1, 3), (1, 6)),     # rows collapse, columns still reach
    ((33, 33), 18, (3, 3), (18, 18)),
    ((None, None), 18, (3, 3), (18, 18)),  # sizes unknown when the graph is built: keep everything
])
def test_reachable_taps_keep_only_taps_inside_the_feature_map(side, rate, kept, rates):
    kernel, built_rates = layers.reachable_taps(tf.zeros([3, 3, 4, 2]), rate, side)
    assert tuple(kernel.shape[:2]) == kept and built_rates == rates


def full_and_reduced(conv, shape, rate, native):
    """Outputs and gradients (input, kernel) of the layer function against the full kernel by space-to-batch."""
    rng = np.random.RandomState(0)
    with tf.Graph().as_default(), dilation_path(native), tf1.Session() as sess:
        inputs = tf.constant(rng.normal(size=shape), tf.float32)
        kernel = tf.constant(rng.normal(size=(3, 3, shape[-1], 1 if conv == 'depthwise' else 5)), tf.float32)
        if conv == 'depthwise':
            built = layers.atrous_depthwise_conv2d(inputs, kernel, 1, rate, 'SAME')
            reference = tf.nn.depthwise_conv2d(inputs, kernel, [1, 1, 1, 1], 'SAME', dilations=[rate, rate])
        else:
            built = layers.atrous_conv2d(inputs, kernel, 1, rate, 'SAME')
            reference = tf.nn.convolution(inputs, kernel, padding='SAME', dilations=rate)
        weights = tf.constant(rng.normal(size=built.shape), tf.float32)
        gradients = [tf.gradients(tf.reduce_sum(out * weights), [inputs, kernel]) for out in (built, reference)]
        return sess.run([[built, *gradients[0]], [reference, *gradients[1]]])


@pytest.mark.parametrize('shape, rate', [((2, 6, 6, 4), 6), ((2, 5, 7, 4), 6), ((1, 6, 6, 3), 18)])
def test_dropping_taps_changes_neither_outputs_nor_gradients(shape, rate):
    built, reference = full_and_reduced('conv', shape, rate, native=False)
    for got, expected in zip(built, reference):
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize('shape, rate', [((2, 6, 6, 4), 6), ((2, 5, 7, 4), 6)])
def test_depthwise_taps_are_dropped_the_same_way(shape, rate):
    built, reference = full_and_reduced('depthwise', shape, rate, native=False)
    for got, expected in zip(built, reference):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def demo_crop_aspp(native):
    """The ops of ASPP's three atrous branches for the demo's 81x81 crops at output stride 16."""
    graph = tf.Graph()
    with graph.as_default(), dilation_path(native):
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [8, 81, 81, 3]),
                                     flag_params('--model_variant', 'resnet_v2_50'), training=True)
    return [op for op in graph.get_operations() if op.name.split('/')[0] in ('aspp1', 'aspp2', 'aspp3')]


def test_demo_crop_runs_aspp_as_1x1_convolutions_through_space_to_batch():
    atrous = demo_crop_aspp(native=False)
    assert not [op.name for op in atrous if op.type == 'SpaceToBatchND']
    convolutions = [op for op in atrous if op.type == 'Conv2D']
    assert len(convolutions) == 3 and all(list(op.get_attr('dilations')) == [1, 1, 1, 1] for op in convolutions)
    assert [tuple(op.inputs[1].shape[:2]) for op in convolutions] == [(1, 1)] * 3


def test_native_dilation_keeps_the_whole_kernel():
    convolutions = [op for op in demo_crop_aspp(native=True) if op.type == 'Conv2D']
    assert [list(op.get_attr('dilations')) for op in convolutions] == [[1, r, r, 1] for r in (6, 12, 18)]
    assert [tuple(op.inputs[1].shape[:2]) for op in convolutions] == [(3, 3)] * 3
