"""Slim's ResNet-v2 (pre-activation) as a DeepLab backbone: atrous output stride, multi-grid block4."""
import tensorflow as tf

from nets import layers

tf1 = tf.compat.v1

# (base depth, units, stride of the last unit) of blocks 1-4.
BLOCKS = {
    'resnet_v2_50': ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)),
    'resnet_v2_101': ((64, 3, 2), (128, 4, 2), (256, 23, 2), (512, 3, 1)),
}
# resnet_arg_scope's kernel initialiser (He et al.: variance scaling, fan-in, factor 2, truncated normal).
INITIALIZER = tf1.initializers.variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal')
LOW_LEVEL_END_POINT = 'block1/unit_2'


def bottleneck(inputs, depth, depth_bottleneck, stride, rate, bn, weight_decay):
    """bottleneck_v2: preact BN-ReLU, 1x1 -> 3x3 (atrous) -> 1x1, plus a (projected) shortcut."""
    conv_args = {'weight_decay': weight_decay, 'initializer': INITIALIZER}
    with tf1.variable_scope('bottleneck_v2'):
        preact = tf.nn.relu(layers.batch_norm(inputs, bn, scope='preact'))
        if int(inputs.shape[-1]) == depth:
            shortcut = layers.subsample(inputs, stride)
        else:
            shortcut = layers.conv2d(preact, depth, 1, 'shortcut', stride=stride, activation=None, **conv_args)
        residual = layers.conv2d(preact, depth_bottleneck, 1, 'conv1', bn=bn, **conv_args)
        residual = layers.conv2d_same(residual, depth_bottleneck, 3, stride, 'conv2', rate=rate, bn=bn, **conv_args)
        residual = layers.conv2d(residual, depth, 1, 'conv3', activation=None, **conv_args)
        return shortcut + residual


def resnet_v2(inputs, variant, bn, output_stride, multi_grid, weight_decay):
    """Backbone features (2048 ch, post-norm) and end points keyed like slim (`block1/unit_2`, ..., `block4`).

    Strides beyond `output_stride` (8 or 16) become atrous rates, exactly as slim's stack_blocks_dense does,
    and the three units of block4 multiply their rate by `multi_grid` (DeepLabv3 paper, section 3.2).
    """
    bn = bn._replace(epsilon=layers.BATCH_NORM_EPSILON)
    end_points = {}
    with tf1.variable_scope(variant):
        net = layers.conv2d_same(inputs, 64, 7, 2, 'conv1', activation=None, weight_decay=weight_decay,
                                 initializer=INITIALIZER)
        net = tf.nn.max_pool2d(net, ksize=3, strides=2, padding='SAME')
        current_stride, rate = 4, 1
        for block_index, (base_depth, units, last_stride) in enumerate(BLOCKS[variant], start=1):
            block = f'block{block_index}'
            with tf1.variable_scope(block):
                for unit in range(units):
                    stride = last_stride if unit == units - 1 else 1
                    grid = multi_grid[unit] if block_index == 4 else 1
                    with tf1.variable_scope(f'unit_{unit + 1}'):
                        if current_stride == output_stride:
                            net = bottleneck(net, base_depth * 4, base_depth, 1, rate * grid, bn, weight_decay)
                            rate *= stride
                        else:
                            net = bottleneck(net, base_depth * 4, base_depth, stride, grid, bn, weight_decay)
                            current_stride *= stride
                    end_points[f'{block}/unit_{unit + 1}'] = net
            end_points[block] = net  # slim's block end point: the last unit's sum, before postnorm
        net = tf.nn.relu(layers.batch_norm(net, bn, scope='postnorm'))
    return net, end_points
