"""Xception-65 and the DeepLabv3+ model built on it match the published checkpoint and DeepLab's wiring: variables,
strides, rates, batch norm, ReLUs, the decoder's resize."""
import collections
import functools
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import FIXTURES

from nets import layers, xception
from utils.cli.flags import add_model_flags, model_params, parser_for

tf1 = tf.compat.v1
REFERENCE = os.path.join(FIXTURES, 'reference', 'deeplabv3plus_xception_65_variables.json')
FROZEN_BN = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=1e-5)


def reference_variables(prefix=''):
    """{name: shape} of the published DeepLabv3+ Xception-65 model, optionally only under `prefix`."""
    with open(REFERENCE, encoding='utf-8') as handle:
        variables = json.load(handle)['variables']
    return {v['name']: v['shape'] for v in variables if v['name'].startswith(prefix)}


def graph_variables():
    """{name: shape} of the current graph's global variables, global_step aside."""
    return {v.op.name: v.shape.as_list() for v in tf1.global_variables() if v.op.name != 'global_step'}


@functools.lru_cache(maxsize=None)
def build_backbone(output_stride, bn=FROZEN_BN):
    """Xception-65 on a [1, ?, ?, 3] placeholder in a fresh graph; returns (graph, input, features, end points).
    Cached: tests only read the graph."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, None, None, 3])
        features, end_points = xception.xception_65(images, bn, output_stride, (1, 1, 1), 4e-5)
    return graph, images, features, end_points


@functools.lru_cache(maxsize=None)
def build_deeplab(output_stride):
    """The lead's DeepLabv3+ (Xception-65, decoder stride 4) on a placeholder, from the command-line flags."""
    import deeplab_model
    parser = parser_for('test')
    add_model_flags(parser)
    params = model_params(parser.parse_args(['--model_variant', 'xception_65', '--decoder_output_stride', '4',
                                             '--output_stride', str(output_stride)]))
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, None, None, 3])
        logits = deeplab_model.network_logits(images, params, training=False)
    return graph, images, logits


def run(graph, fetches, images, height, width):
    """Evaluate `fetches` with random initial weights on one random image of the given size."""
    with graph.as_default(), tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        return sess.run(fetches, {images: np.random.uniform(-1, 1, (1, height, width, 3))})


@pytest.mark.parametrize('output_stride', [16, 8])
def test_backbone_has_the_660_reference_variables(output_stride):
    graph = build_backbone(output_stride)[0]
    with graph.as_default():
        got = graph_variables()
    expected = reference_variables('xception_65/')
    assert len(expected) == 660
    assert got == expected


def test_weight_decay_skips_depthwise_kernels():
    graph = build_backbone(16)[0]
    with graph.as_default():
        decayed = tf1.get_collection(tf1.GraphKeys.REGULARIZATION_LOSSES)
    kernels = [name for name in reference_variables('xception_65/') if name.endswith('/weights')]
    assert len(decayed) == len(kernels) == 69
    assert not [t for t in decayed if 'depthwise' in t.name]


def test_backbone_batch_norm_epsilon_is_deeplabs_1e3():
    graph = build_backbone(16)[0]
    epsilons = [op.get_attr('epsilon') for op in graph.get_operations() if op.type.startswith('FusedBatchNorm')]
    assert len(epsilons) == len([n for n in reference_variables('xception_65/') if n.endswith('moving_mean')])
    assert epsilons == pytest.approx([1e-3] * len(epsilons))


def _atrous_rates_by_block(graph):
    """{block scope: set of atrous rates} read from the space-to-batch ops that dilated convolutions create."""
    rates = {}
    for op in graph.get_operations():
        if op.type == 'SpaceToBatchND':
            block = '/'.join(op.name.split('/')[1:3])
            rates.setdefault(block, set()).update(tf.get_static_value(op.inputs[1]).tolist())
    return rates


@pytest.mark.parametrize('output_stride, expected', [
    (16, {'exit_flow/block2': {2}}),
    (8, {'middle_flow/block1': {2}, 'exit_flow/block1': {2}, 'exit_flow/block2': {4}}),
])
def test_atrous_rates_replace_strides_below_the_output_stride(output_stride, expected):
    assert _atrous_rates_by_block(build_backbone(output_stride)[0]) == expected


@pytest.mark.parametrize('output_stride', [16, 8])
def test_features_and_low_level_end_point_strides(output_stride):
    graph, images, features, end_points = build_backbone(output_stride)
    low_level = end_points[xception.LOW_LEVEL_END_POINT]
    feature_map, low_level_map = run(graph, [features, low_level], images, 65, 97)

    def size(side, stride):
        return (side - 1) // stride + 1

    assert feature_map.shape == (1, size(65, output_stride), size(97, output_stride), 2048)
    assert low_level_map.shape == (1, size(65, 4), size(97, 4), 256)
    assert np.isfinite(feature_map).all()


def test_training_batch_norm_registers_moving_average_updates():
    graph = build_backbone(16, FROZEN_BN._replace(training=True))[0]
    with graph.as_default():
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
    moving = [name for name in reference_variables('xception_65/') if name.endswith('moving_mean')]
    assert len(updates) == 2 * len(moving)


@pytest.mark.parametrize('output_stride', [16, 8])
def test_deeplabv3plus_has_exactly_the_reference_variables(output_stride):
    graph = build_deeplab(output_stride)[0]
    with graph.as_default():
        got = graph_variables()
    expected = reference_variables()
    assert len(expected) == 732
    assert sorted(set(got) ^ set(expected)) == []
    assert got == expected


def test_deeplabv3plus_runs_at_any_input_size():
    graph, images, logits = build_deeplab(16)
    output = run(graph, logits, images, 65, 97)
    assert output.shape == (1, 17, 25, 21)
    assert np.isfinite(output).all()


def test_relus_precede_the_separable_convs_and_sit_inside_those_of_exit_flow_block2():
    """DeepLab's Xception-65: a ReLU after each entry convolution; activation_fn_in_separable_conv False (a ReLU
    before each of a module's three separable convs) in every block but exit_flow/block2, where it is True (a ReLU
    after each depthwise and each pointwise part)."""
    relus = collections.Counter()
    for op in build_backbone(16)[0].get_operations():
        if op.type == 'Relu':
            parts = op.name.split('/')
            inside = any(part.endswith(('_depthwise', '_pointwise')) for part in parts)
            relus['/'.join(parts[1:3]), 'inside' if inside else 'before'] += 1
    assert relus == {('entry_flow/conv1_1', 'before'): 1, ('entry_flow/conv1_2', 'before'): 1,
                     ('entry_flow/block1', 'before'): 3, ('entry_flow/block2', 'before'): 3,
                     ('entry_flow/block3', 'before'): 3, ('middle_flow/block1', 'before'): 16 * 3,
                     ('exit_flow/block1', 'before'): 3, ('exit_flow/block2', 'inside'): 6}


def test_the_decoder_upsamples_with_align_corners():
    """The v3+ decoder resizes the ASPP output to the low-level map as upstream's model.py: bilinear with
    align_corners=True (the resize DeepLab uses everywhere but the original layout's logits)."""
    resizes = [op for op in build_deeplab(16)[0].get_operations() if op.type == 'ResizeBilinear']
    decoder = [op for op in resizes if op.name.startswith('decoder/')]
    assert len(decoder) == 1
    assert decoder[0].get_attr('align_corners') and not decoder[0].get_attr('half_pixel_centers')
