"""The graph the model builds, read back from its ops: atrous rates per unit (native dilation or space-to-batch),
the poly learning-rate schedule and momentum of the training op, the default weight decay per backbone, the ASPP
dropout."""
import contextlib
import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import tensor_util

import deeplab_model
from nets import layers
from utils.cli.flags import add_model_flags, model_params, parser_for

tf1 = tf.compat.v1


@contextlib.contextmanager
def dilation_path(native):
    """Build with native dilation (oneDNN or a GPU) or through space-to-batch, whatever this process has."""
    original = layers.native_dilation
    layers.native_dilation = lambda dtype=None: native
    try:
        yield
    finally:
        layers.native_dilation = original


def flag_params(*argv):
    """The model description the scripts build from these flags (nothing saved, defaults filled in)."""
    parser = parser_for('test')
    add_model_flags(parser)
    return model_params(parser.parse_args(list(argv)), saved={})


@functools.lru_cache(maxsize=None)
def build(argv, native):
    """network_logits for a 513x513 input (no rate reaches past its feature maps) in a fresh graph; cached,
    tests only read the graph."""
    graph = tf.Graph()
    with graph.as_default(), dilation_path(native):
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 513, 513, 3]), flag_params(*argv),
                                     training=False)
    return graph


def atrous_rate(graph, scope):
    """The atrous rate of the convolution under `scope`: the Conv2D/depthwise `dilations` attribute (native), or
    the block_shape constant of its SpaceToBatchND (space-to-batch); 1 when neither."""
    rates = set()
    for op in graph.get_operations():
        if not op.name.startswith(scope + '/'):
            continue
        if op.type in ('Conv2D', 'DepthwiseConv2dNative'):
            rates.update(int(d) for d in op.get_attr('dilations') if d > 1)
        elif op.type == 'SpaceToBatchND':
            block_shape = tensor_util.constant_value(op.inputs[1])
            assert block_shape is not None, f'{op.name}: block shape not a constant'
            rates.update(int(b) for b in block_shape)
    assert any(op.name.startswith(scope + '/') for op in graph.get_operations()), f'nothing under {scope}'
    assert len(rates) <= 1, f'{scope}: several rates {rates}'
    return rates.pop() if rates else 1


RESNET = 'resnet_v2_50/block{}/unit_{}/bottleneck_v2/conv2'
UNITS = {1: 3, 2: 4, 3: 6, 4: 3}


@pytest.mark.parametrize('native', [True, False], ids=['native', 'space_to_batch'])
@pytest.mark.parametrize('output_stride, block_rates, aspp', [
    ('16', {1: [1] * 3, 2: [1] * 4, 3: [1] * 6, 4: [2, 4, 8]}, [6, 12, 18]),
    ('8', {1: [1] * 3, 2: [1] * 4, 3: [2] * 6, 4: [4, 8, 16]}, [12, 24, 36]),
])
def test_resnet_atrous_rates_per_unit_and_aspp_defaults(native, output_stride, block_rates, aspp):
    graph = build(('--model_variant', 'resnet_v2_50', '--output_stride', output_stride), native)
    built = {block: [atrous_rate(graph, RESNET.format(block, unit)) for unit in range(1, UNITS[block] + 1)]
             for block in UNITS}
    assert built == block_rates
    assert [atrous_rate(graph, f'aspp{index}') for index in (1, 2, 3)] == aspp
    assert atrous_rate(graph, 'aspp0') == 1


XCEPTION = 'xception_65/exit_flow/block2/unit_1/xception_module/separable_conv{}_depthwise'


@pytest.mark.parametrize('multi_grid, rates', [((), [2, 2, 2]), (('--multi_grid', '1', '2', '4'), [2, 4, 8])])
def test_xception_exit_flow_block2_rates_follow_multi_grid(multi_grid, rates):
    # Xception's atrous convolutions are all depthwise: space-to-batch on every path, so one build each
    graph = build(('--model_variant', 'xception_65', *multi_grid), False)
    assert [atrous_rate(graph, XCEPTION.format(index)) for index in (1, 2, 3)] == rates
    assert atrous_rate(graph, 'xception_65/exit_flow/block1/unit_1/xception_module/separable_conv1_depthwise') == 1
    assert [atrous_rate(graph, f'aspp{index}_depthwise') for index in (1, 2, 3)] == [6, 12, 18]


TRAIN = {'initial_learning_rate': 7e-3, 'end_learning_rate': 1e-5, 'max_iter': 100, 'momentum': 0.8}


@pytest.fixture(scope='module')
def train_graph():
    """model_fn in TRAIN mode for a small ResNet-v2-50: (graph, learning-rate tensor, momentum ops)."""
    graph = tf.Graph()
    with graph.as_default():
        params = dict(flag_params('--model_variant', 'resnet_v2_50', '--num_classes', '3'), **TRAIN)
        images = tf.zeros([1, 33, 33, 3])
        labels = tf.zeros([1, 33, 33, 1], tf.int32)
        deeplab_model.model_fn({'image': images}, labels, tf.estimator.ModeKeys.TRAIN, params)
        summaries = [op for op in graph.get_operations() if op.type == 'ScalarSummary'
                     and tensor_util.constant_value(op.inputs[0]) == b'learning_rate']
        assert len(summaries) == 1
        momentum_ops = [op for op in graph.get_operations() if op.type in ('ApplyMomentum', 'ResourceApplyMomentum')]
    return graph, summaries[0].inputs[1], momentum_ops


def test_learning_rate_follows_poly_decay_with_power_0_9_and_momentum_reaches_the_optimizer(train_graph):
    graph, learning_rate, momentum_ops = train_graph
    assert len(momentum_ops) == len(graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES))
    initial, end, max_iter = TRAIN['initial_learning_rate'], TRAIN['end_learning_rate'], TRAIN['max_iter']
    with graph.as_default(), tf1.Session() as sess:
        global_step = tf1.train.get_global_step()
        step = tf1.placeholder(tf.int64, [])
        assign = global_step.assign(step)
        sess.run(global_step.initializer)
        for value in (0, 10, 50, 90, 99, 100, 150):
            sess.run(assign, {step: value})
            expected = (initial - end) * (1 - min(value, max_iter) / max_iter) ** 0.9 + end
            assert sess.run(learning_rate) == pytest.approx(expected, rel=1e-5), value
    # every update applies that schedule (input 2 of [Resource]ApplyMomentum) and the configured momentum (input 4)
    assert {source(op.inputs[2]).name for op in momentum_ops} == {learning_rate.name}
    momenta = [tensor_util.constant_value(source(op.inputs[4])) for op in momentum_ops]
    assert momenta == pytest.approx([TRAIN['momentum']] * len(momentum_ops))


def source(tensor):
    """`tensor` before the Identity/Cast ops the optimizer puts in front of its inputs."""
    while tensor.op.type in ('Identity', 'Cast'):
        tensor = tensor.op.inputs[0]
    return tensor


@pytest.mark.parametrize('variant, decay', [('resnet_v2_50', 1e-4), ('xception_65', 4e-5)])
def test_default_weight_decay_reaches_every_kernel_but_depthwise(variant, decay):
    graph = build(('--model_variant', variant) + (('--output_stride', '16') if variant != 'xception_65' else ()),
                  False)  # the graphs of the rate tests, whose params have no weight_decay
    with graph.as_default(), tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        terms = tf1.losses.get_regularization_losses()
        total = sess.run(tf.add_n(terms))
        values = sess.run({v.op.name: v for v in tf1.trainable_variables()})
    kernels = {name: value for name, value in values.items() if name.endswith('/weights')}
    assert len(terms) == len(kernels)  # every full/pointwise kernel and the logits, nothing else
    if variant == 'xception_65':
        assert any(name.endswith('/depthwise_weights') for name in values)
    expected = decay * sum(float(np.sum(k.astype(np.float64) ** 2)) / 2 for k in kernels.values())
    assert total == pytest.approx(expected, rel=1e-4)


def test_aspp_drops_a_tenth_of_its_projection_in_training_only(train_graph):
    """Upstream's concat_projection dropout keeps 90 %: TF2's rate 0.1 (not a keep probability), in training only."""
    graph = train_graph[0]
    drops = [op for op in graph.get_operations() if op.type == 'GreaterEqual' and '/dropout/' in f'/{op.name}']
    assert [tensor_util.constant_value(op.inputs[1]) for op in drops] == [pytest.approx(0.1)]
    inference = build(('--model_variant', 'resnet_v2_50', '--output_stride', '16'), False)
    assert not [op.name for op in inference.get_operations() if 'dropout' in op.name]
