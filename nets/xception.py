"""Xception-65, the DeepLabv3+ backbone, named and wired like DeepLab's core/xception.py so zoo checkpoints load.

Every separable convolution is split into `<name>_depthwise` + `<name>_pointwise`, each with batch norm; strided
units use explicit fixed padding; below the requested output stride, strides become atrous rates.
"""
import tensorflow as tf

from nets import layers

SCOPE = 'xception_65'
BATCH_NORM_EPSILON = 1e-3  # slim's xception_arg_scope (ResNet and the heads: layers.BATCH_NORM_EPSILON)
INITIALIZER = tf.compat.v1.initializers.truncated_normal(stddev=0.09)  # xception_arg_scope's kernel initialiser
MULTI_GRID_BLOCK = 'exit_flow/block2'  # the block whose three separable convs multiply their rate by multi_grid
LOW_LEVEL_END_POINT = 'entry_flow/block2/unit_1/xception_module/separable_conv2_pointwise'

# (scope, depths of the three separable convs, skip connection, ReLU inside the separable convs, units, stride)
BLOCKS = (
    ('entry_flow/block1', (128, 128, 128), 'conv', False, 1, 2),
    ('entry_flow/block2', (256, 256, 256), 'conv', False, 1, 2),
    ('entry_flow/block3', (728, 728, 728), 'conv', False, 1, 2),
    ('middle_flow/block1', (728, 728, 728), 'sum', False, 16, 1),
    ('exit_flow/block1', (728, 1024, 1024), 'conv', False, 1, 2),
    ('exit_flow/block2', (1536, 1536, 2048), 'none', True, 1, 1),
)


def _separable_conv(net, depth, name, stride, rate, conv_args, activation):
    """Depthwise 3x3 (fixed padding when strided) then pointwise 1x1, both with batch norm; returns both."""
    padding = 'SAME'
    if stride > 1:
        net = layers.fixed_padding(net, 3, rate)
        padding = 'VALID'
    depthwise = layers.depthwise_conv2d(net, 3, f'{name}_depthwise', stride=stride, rate=rate, padding=padding,
                                        activation=activation, bn=conv_args['bn'],
                                        trainable=conv_args['trainable'], initializer=conv_args['initializer'])
    pointwise = layers.conv2d(depthwise, depth, 1, f'{name}_pointwise', activation=activation, **conv_args)
    return depthwise, pointwise


def _xception_module(inputs, spec, stride, rates, conv_args, prefix, end_points):
    """Three separable convs (atrous `rates`, one each) plus a 1x1-conv, identity or no shortcut; records every
    layer in `end_points`."""
    _, depths, skip, relu_inside, _, _ = spec
    prefix = f'{prefix}/xception_module'
    with tf.compat.v1.variable_scope('xception_module'):
        residual = inputs
        for index, depth in enumerate(depths):
            name = f'separable_conv{index + 1}'
            if not relu_inside:
                residual = tf.nn.relu(residual)
            depthwise, residual = _separable_conv(residual, depth, name, stride if index == 2 else 1, rates[index],
                                                  conv_args, tf.nn.relu if relu_inside else None)
            end_points[f'{prefix}/{name}_depthwise'] = depthwise
            end_points[f'{prefix}/{name}_pointwise'] = residual
        if skip == 'conv':
            shortcut = layers.conv2d(inputs, depths[-1], 1, 'shortcut', stride=stride, activation=None,
                                     **conv_args)
            end_points[f'{prefix}/shortcut'] = shortcut
            residual = residual + shortcut
        elif skip == 'sum':
            residual = residual + inputs
    end_points[prefix] = residual
    return residual


def _stack_blocks(net, output_stride, multi_grid, conv_args, end_points):
    """Run the blocks; once `output_stride` is reached, units keep stride 1 and multiply the atrous rate instead.
    The separable convs of MULTI_GRID_BLOCK multiply theirs by `multi_grid`, as DeepLab's `unit_rate_list`."""
    current_stride, rate = 1, 1
    for spec in BLOCKS:
        scope, _, _, _, units, stride = spec
        grid = multi_grid if scope == MULTI_GRID_BLOCK else (1, 1, 1)
        with tf.compat.v1.variable_scope(scope):
            for unit in range(1, units + 1):
                with tf.compat.v1.variable_scope(f'unit_{unit}'):
                    prefix = f'{scope}/unit_{unit}'
                    if output_stride is not None and current_stride == output_stride:
                        net = _xception_module(net, spec, 1, [rate * g for g in grid], conv_args, prefix,
                                               end_points)
                        rate *= stride
                    else:
                        net = _xception_module(net, spec, stride, grid, conv_args, prefix, end_points)
                        current_stride *= stride
        end_points[scope] = net
    if output_stride is not None and current_stride != output_stride:
        raise ValueError(f'Xception-65 cannot reach output stride {output_stride * 2}')
    return net


def xception_65(inputs, bn, output_stride, multi_grid, weight_decay, trainable=True):
    """Xception-65 features at `output_stride` (8, 16 or 32) from [-1, 1]-scaled images, plus named end points.

    `bn` is a layers.BatchNorm chosen by the caller (training or frozen); its epsilon is forced to DeepLab's 1e-3.
    Weight decay applies to the full and pointwise convs only, never to depthwise kernels, as in xception_arg_scope.
    End point keys are scope names below `xception_65/`, e.g. LOW_LEVEL_END_POINT (256 channels at stride 4).
    """
    if output_stride is not None and output_stride % 2:
        raise ValueError(f'Xception-65 output stride must be even, got {output_stride}')
    conv_args = {'bn': bn._replace(epsilon=BATCH_NORM_EPSILON), 'weight_decay': weight_decay,
                 'trainable': trainable, 'initializer': INITIALIZER}
    end_points = {}
    with tf.compat.v1.variable_scope(SCOPE):
        net = layers.conv2d_same(inputs, 32, 3, 2, 'entry_flow/conv1_1', **conv_args)
        end_points['entry_flow/conv1_1'] = net
        net = layers.conv2d_same(net, 64, 3, 1, 'entry_flow/conv1_2', **conv_args)
        end_points['entry_flow/conv1_2'] = net
        net = _stack_blocks(net, None if output_stride is None else output_stride // 2, multi_grid, conv_args,
                            end_points)
    return net, end_points
