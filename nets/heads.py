"""DeepLab heads: under the model zoo's variable names (ASPP with image pooling, the v3+ decoder, logits), and the
original project's DeepLabv3 head under its own (`original_aspp`, `original_logits`)."""
import functools

import tensorflow as tf

from nets import layers

tf1 = tf.compat.v1

HEAD_DEPTH = 256
LOW_LEVEL_DEPTH = 48
CONCAT_DROPOUT_KEEP = 0.9
# Fresh-head initialisers of DeepLab's model.py: the split separable convs and the logits use truncated normals;
# the other head convs keep slim's default (layers.GLOROT).
DEPTHWISE_INIT = tf1.initializers.truncated_normal(stddev=0.33)
POINTWISE_INIT = tf1.initializers.truncated_normal(stddev=0.06)
LOGITS_INIT = tf1.initializers.truncated_normal(stddev=0.01)


def resize_bilinear(inputs, size):
    """DeepLab's resize: bilinear with align_corners=True (keeps corner pixels aligned for odd sizes), in the
    dtype of `inputs` (the op itself always returns float32)."""
    resized = tf.raw_ops.ResizeBilinear(images=inputs, size=size, align_corners=True, half_pixel_centers=False)
    return layers.like(resized, inputs)


def resize_bilinear_legacy(inputs, size):
    """TF1's default tf.image.resize_bilinear (align_corners=False, half_pixel_centers=False), which the original
    project's DeepLabv3 resizes its logits with; in the dtype of `inputs`."""
    resized = tf.raw_ops.ResizeBilinear(images=inputs, size=size, align_corners=False, half_pixel_centers=False)
    return layers.like(resized, inputs)


def conv_bn(inputs, depth, kernel_size, scope, bn, weight_decay, rate=1, separable=False):
    """A 256-style head convolution with batch norm and ReLU; `separable` splits it into depthwise + pointwise
    (`<scope>_depthwise`, `<scope>_pointwise`) as DeepLab's split_separable_conv2d does, no decay on depthwise."""
    if not separable:
        return layers.conv2d(inputs, depth, kernel_size, scope, rate=rate, bn=bn, weight_decay=weight_decay)
    net = layers.depthwise_conv2d(inputs, kernel_size, f'{scope}_depthwise', rate=rate, bn=bn,
                                  initializer=DEPTHWISE_INIT)
    return layers.conv2d(net, depth, 1, f'{scope}_pointwise', bn=bn, weight_decay=weight_decay,
                         initializer=POINTWISE_INIT)


def aspp(features, bn, atrous_rates, training, weight_decay, separable):
    """Atrous spatial pyramid pooling: image pooling, 1x1, three atrous 3x3 branches, 1x1 projection.

    Image pooling averages over the whole feature map (not a fixed 33x33 window), so any input size works. Its
    1x1 result is broadcast back to the map's size (tf.broadcast_to, the same values and gradients as tf.tile):
    OpenVINO (2026.4) permutes a Tile's multiples the wrong way when it moves its layout transposes through it
    (a 5x5 map's branch comes out [1, 1280, 1, 5], not [1, 256, 5, 5]) and then fails on the concatenation.
    """
    bn = bn._replace(epsilon=layers.BATCH_NORM_EPSILON)
    map_shape = tf.shape(features)[:3]
    # the mean over the whole map in float32: a bfloat16 sum of a thousand values keeps three digits
    pooled = layers.like(tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2], keepdims=True), features)
    pooled = layers.conv2d(pooled, HEAD_DEPTH, 1, 'image_pooling', bn=bn, weight_decay=weight_decay)
    branches = [tf.broadcast_to(pooled, tf.concat([map_shape, [HEAD_DEPTH]], axis=0)),
                layers.conv2d(features, HEAD_DEPTH, 1, 'aspp0', bn=bn, weight_decay=weight_decay)]
    for index, rate in enumerate(atrous_rates, start=1):
        branches.append(conv_bn(features, HEAD_DEPTH, 3, f'aspp{index}', bn, weight_decay, rate, separable))
    net = layers.conv2d(tf.concat(branches, axis=3), HEAD_DEPTH, 1, 'concat_projection', bn=bn,
                        weight_decay=weight_decay)
    if training:
        net = tf.nn.dropout(net, rate=1.0 - CONCAT_DROPOUT_KEEP)
    return net


def decoder(features, low_level, bn, weight_decay):
    """DeepLabv3+ decoder: upsample to the low-level map, concat its 48-ch projection, two separable 3x3."""
    bn = bn._replace(epsilon=layers.BATCH_NORM_EPSILON)
    with tf1.variable_scope('decoder'):
        projected = layers.conv2d(low_level, LOW_LEVEL_DEPTH, 1, 'feature_projection0', bn=bn,
                                  weight_decay=weight_decay)
        net = tf.concat([resize_bilinear(features, tf.shape(low_level)[1:3]), projected], axis=3)
        net = conv_bn(net, HEAD_DEPTH, 3, 'decoder_conv0', bn, weight_decay, separable=True)
        return conv_bn(net, HEAD_DEPTH, 3, 'decoder_conv1', bn, weight_decay, separable=True)


def logits(features, num_classes, weight_decay):
    """The 1x1 classifier `logits/semantic` with biases, no batch norm, no activation."""
    with tf1.variable_scope('logits'):
        return layers.conv2d(features, num_classes, 1, 'semantic', activation=None, weight_decay=weight_decay,
                             initializer=LOGITS_INIT)


def original_aspp(features, bn, atrous_rates, weight_decay, initializer):
    """The original project's ASPP (scope `aspp`): a 1x1 and three ordinary 3x3 atrous convolutions, then the
    image-level features (the map's mean, a 1x1 convolution, spread back over the map), concatenated in that order
    and projected by `conv_1x1_concat`; every convolution with batch norm and ReLU, no dropout. Its resize of the
    1x1 image-level map back to the map's size is a broadcast (one pixel spread), as in `aspp`."""
    bn = bn._replace(epsilon=layers.BATCH_NORM_EPSILON)
    conv = functools.partial(layers.conv2d, bn=bn, weight_decay=weight_decay, initializer=initializer)
    with tf1.variable_scope('aspp'):
        branches = [conv(features, HEAD_DEPTH, 1, 'conv_1x1')]
        branches += [conv(features, HEAD_DEPTH, 3, f'conv_3x3_{index}', rate=rate)
                     for index, rate in enumerate(atrous_rates, start=1)]
        with tf1.variable_scope('image_level_features'):
            pooled = layers.like(tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2], keepdims=True), features)
            pooled = conv(pooled, HEAD_DEPTH, 1, 'conv_1x1')
        branches.append(tf.broadcast_to(pooled, tf.concat([tf.shape(features)[:3], [HEAD_DEPTH]], axis=0)))
        return conv(tf.concat(branches, axis=3), HEAD_DEPTH, 1, 'conv_1x1_concat')


def original_logits(features, num_classes, weight_decay):
    """The original project's classifier `upsampling_logits/conv_1x1`: biases, no batch norm, no activation, slim's
    default initialiser (it sat outside the ResNet arg scope)."""
    with tf1.variable_scope('upsampling_logits'):
        return layers.conv2d(features, num_classes, 1, 'conv_1x1', activation=None, weight_decay=weight_decay)
