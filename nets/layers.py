"""The few slim layers DeepLab needs, rebuilt on tf.compat.v1 so slim checkpoint names load unchanged.

Variable names follow slim exactly: `<scope>/weights`, `<scope>/biases` (only without batch norm),
`<scope>/depthwise_weights`, and `<scope>/BatchNorm/{beta,gamma,moving_mean,moving_variance}`.
"""
import collections
import contextlib
import functools

import tensorflow as tf

tf1 = tf.compat.v1

# How batch norm behaves in one network: `training` uses batch statistics and updates the moving ones;
# `trainable` decides whether beta/gamma are trained (False freezes batch norm completely); `sync` takes the batch
# statistics over all replicas of a tf.distribute strategy instead of each replica's own slice of the batch;
# `fold` (inference graphs only) folds the moving statistics into the preceding convolution's kernel and a bias.
BATCH_NORM_EPSILON = 1e-5  # slim's resnet_arg_scope and DeepLab's heads; Xception uses its own 1e-3
BatchNorm = collections.namedtuple('BatchNorm', 'training trainable decay epsilon sync fold', defaults=(False, False))


# From this rate up, tap_products_conv2d computes the forward pass of a bfloat16 atrous convolution by tap products
# (below it, oneDNN's dilated kernel is faster); the kernel's gradient goes by tap products at every rate.
TAP_PRODUCTS_FORWARD_MIN_RATE = 3

# slim's default kernel initialiser (xavier, uniform); networks pass their arg scope's own where it differs.
GLOROT = tf1.initializers.glorot_uniform()


@functools.lru_cache(maxsize=None)
def native_dilation(dtype=tf.float32):
    """Whether this process has a gradient kernel for dilated tf.nn.conv2d in `dtype`: a GPU, or oneDNN on the
    CPU (float32 and bfloat16; its float16 has none).

    Without oneDNN (AMD and older Intel CPUs, or TF_ENABLE_ONEDNN_OPTS=0) only the forward kernel exists, so
    atrous convolutions go through space-to-batch instead; where both work, native is faster (BENCHMARKS.md).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
        onednn = _pywrap_util_port.IsMklEnabled()
    except (ImportError, AttributeError):
        onednn = False
    return bool(tf.config.list_physical_devices('GPU') or (onednn and dtype != tf.float16))


@functools.lru_cache(maxsize=None)
def float32_backprop(dtype):
    """Whether convolutions in `dtype` take their gradients in float32 (float32_gradients): where TensorFlow's own
    CPU kernels compute them, bfloat16 without oneDNN (TF_ENABLE_ONEDNN_OPTS=0 or a build without it) and float16
    (oneDNN has none), not on a GPU. Those kernels sum the map in the reduced type: over a 513 crop's 33x33 to
    129x129 maps a bfloat16 kernel gradient erred by 4 to 18 % (a depthwise one by up to 75 %), growing as fewer
    threads split the sum, and a float16 depthwise one by up to 12 %; oneDNN's bfloat16 ones err by 0.2 %."""
    if dtype == tf.float16:
        return not tf.config.list_physical_devices('GPU')
    return dtype == tf.bfloat16 and not native_dilation(dtype)


@tf.RegisterGradient('DeepLabConv2DFloat32')
def _conv2d_float32(op, gradient):
    """Conv2D's gradients computed in float32 from its inputs, each rounded once to their dtype."""
    images, kernel = op.inputs
    attrs = {name: op.get_attr(name) for name in ('strides', 'padding', 'explicit_paddings', 'dilations',
                                                  'data_format', 'use_cudnn_on_gpu')}
    wide = tf.cast(gradient, tf.float32)
    images_gradient = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(images), filter=tf.cast(kernel, tf.float32),
                                                      out_backprop=wide, **attrs)
    kernel_gradient = tf.raw_ops.Conv2DBackpropFilter(input=tf.cast(images, tf.float32), filter_sizes=tf.shape(kernel),
                                                      out_backprop=wide, **attrs)
    return tf.cast(images_gradient, images.dtype), tf.cast(kernel_gradient, kernel.dtype)


@tf.RegisterGradient('DeepLabDepthwiseFloat32')
def _depthwise_float32(op, gradient):
    """DepthwiseConv2dNative's gradients computed in float32 from its inputs, each rounded once to their dtype."""
    images, kernel = op.inputs
    attrs = {name: op.get_attr(name) for name in ('strides', 'padding', 'explicit_paddings', 'dilations',
                                                  'data_format')}
    wide = tf.cast(gradient, tf.float32)
    images_gradient = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=tf.shape(images), filter=tf.cast(kernel, tf.float32), out_backprop=wide, **attrs)
    kernel_gradient = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=tf.cast(images, tf.float32), filter_sizes=tf.shape(kernel), out_backprop=wide, **attrs)
    return tf.cast(images_gradient, images.dtype), tf.cast(kernel_gradient, kernel.dtype)


def float32_gradients(inputs):
    """A context in which the convolutions built over `inputs` take their gradients in float32 where
    float32_backprop says so (nothing changes elsewhere). The forward ops stay the same; only their gradients
    differ."""
    if not float32_backprop(inputs.dtype):
        return contextlib.nullcontext()
    return tf1.get_default_graph().gradient_override_map({'Conv2D': 'DeepLabConv2DFloat32',
                                                          'DepthwiseConv2dNative': 'DeepLabDepthwiseFloat32'})


def like(tensor, reference):
    """`tensor` in the dtype of `reference`: float32 variables meet the network's compute dtype (--precision)."""
    return tensor if tensor.dtype == reference.dtype else tf.cast(tensor, reference.dtype)


def reachable_taps(kernel, rate, spatial_shape):
    """Drop the kernel taps a stride-1 SAME convolution can never apply, and the rate of any axis left 1 wide.

    A tap j*rate away from the centre only ever meets zero padding when j*rate >= the feature map's side: at a
    crop of 81 (a 6x6 map at output stride 16), ASPP's rates 6 12 18 reduce to exact 1x1 convolutions.
    Returns the kernel slice and the (row, column) rates; sides not known statically keep every tap.
    """
    kept, rates = [], []
    for axis, side in enumerate(spatial_shape):
        half = int(kernel.shape[axis]) // 2
        keep = half if side is None else min(half, (int(side) - 1) // rate)
        kept.append(slice(half - keep, half + keep + 1))
        rates.append(rate if keep else 1)
    return kernel[kept[0], kept[1]], tuple(rates)


def _applied_taps(inputs, kernel, stride, rate, padding):
    """The kernel and per-axis rates a convolution really needs (reachable_taps where it applies)."""
    if padding == 'SAME' and stride == 1 and rate > 1:
        return reachable_taps(kernel, rate, inputs.shape[1:3])
    return kernel, (rate, rate)


def atrous_conv2d(inputs, kernel, stride, rate, padding):
    """tf.nn.conv2d with a dilation rate, through space-to-batch where no native gradient kernel exists, and
    in bfloat16 through one matrix product per kernel tap where that is faster (tap_products_conv2d).

    Only the space-to-batch path drops unreachable taps: that is where they cost (a 6x6 map padded to 108x108
    at rate 18), while native dilation handles them cheaply.
    """
    if rate > 1 and _tap_products_apply(inputs, kernel, stride, padding):
        return tap_products_conv2d(inputs, kernel, rate)
    with float32_gradients(inputs):
        if rate == 1 or native_dilation(inputs.dtype):
            return tf.nn.conv2d(inputs, kernel, strides=[1, stride, stride, 1], padding=padding,
                                dilations=[1, rate, rate, 1])
        kernel, rates = _applied_taps(inputs, kernel, stride, rate, padding)
        return tf.nn.convolution(inputs, kernel, strides=stride, padding=padding, dilations=rates)


def _tap_products_apply(inputs, kernel, stride, padding):
    """Whether a dilated convolution goes through tap_products_conv2d: bfloat16 on the native-dilation path, stride
    1, SAME and an odd kernel."""
    return (inputs.dtype == tf.bfloat16 and native_dilation(inputs.dtype) and stride == 1 and padding == 'SAME'
            and all(int(side) % 2 for side in kernel.shape[:2]))


def _tap_regions(size, kernel_size, rate):
    """Per kernel tap along one axis of a SAME convolution over `size` (an int, or a scalar tensor when the side is
    known only at run time): (first input, end input, outputs before, outputs after), the inputs the tap reads
    and the outputs it cannot reach around them; None for a tap that can only meet padding."""
    static = isinstance(size, int)
    maximum, minimum = (max, min) if static else (tf.maximum, tf.minimum)
    regions = []
    for offset in ((tap - kernel_size // 2) * rate for tap in range(kernel_size)):
        if static and abs(offset) >= size:
            regions.append(None)
            continue
        first, end = minimum(max(0, offset), size), maximum(size + min(0, offset), 0)
        before = minimum(max(0, -offset), size)
        regions.append((first, end, before, size - before - maximum(end - first, 0)))
    return regions


def _spatial_regions(inputs, kernel_shape, rate):
    """[(row, column, row region, column region)] of the taps that can meet the feature map (_tap_regions)."""
    sides = [inputs.shape[axis] if inputs.shape[axis] is not None else tf.shape(inputs)[axis] for axis in (1, 2)]
    rows, cols = (_tap_regions(side, int(kernel_shape[axis]), rate) for axis, side in enumerate(sides))
    return [(row, col, rows[row], cols[col]) for row in range(len(rows)) for col in range(len(cols))
            if rows[row] and cols[col]]


def _tap_products(inputs, kernel, rate):
    """The dilated SAME convolution as the sum of one [pixels, in] x [in, out] product per tap, each over only the
    outputs where the tap meets the feature map."""
    channels, outputs = int(inputs.shape[-1]), int(kernel.shape[-1])
    terms = []
    for row, col, (top, bottom, above, below), (left, right, before, after) in _spatial_regions(inputs, kernel.shape,
                                                                                                  rate):
        patch = inputs[:, top:bottom, left:right, :]
        product = tf.matmul(tf.reshape(patch, [-1, channels]), kernel[row, col])
        product = tf.reshape(product, tf.concat([tf.shape(patch)[:3], [outputs]], 0))
        terms.append(tf.pad(product, [[0, 0], [above, below], [before, after], [0, 0]]))
    result = tf.add_n(terms)
    result.set_shape(inputs.shape[:-1].concatenate([outputs]))
    return result


def _tap_filter_gradient(inputs, output_gradient, kernel_shape, rate):
    """The kernel's gradient of a dilated SAME convolution, tap by tap: [in, pixels] x [pixels, out] over the
    outputs each tap reaches; zero for taps that only meet the padding."""
    channels, outputs = int(inputs.shape[-1]), int(kernel_shape[-1])
    taps = {}
    height, width = tf.shape(output_gradient)[1], tf.shape(output_gradient)[2]
    for row, col, (top, bottom, above, below), (left, right, before, after) in _spatial_regions(inputs, kernel_shape,
                                                                                                  rate):
        reached = output_gradient[:, above:height - below, before:width - after, :]
        taps[row, col] = tf.matmul(tf.reshape(inputs[:, top:bottom, left:right, :], [-1, channels]),
                                   tf.reshape(reached, [-1, outputs]), transpose_a=True)
    zeros = tf.zeros([channels, outputs], inputs.dtype)
    return tf.reshape(tf.stack([taps.get((row, col), zeros) for row in range(int(kernel_shape[0]))
                                for col in range(int(kernel_shape[1]))]), kernel_shape)


def tap_products_conv2d(inputs, kernel, rate):
    """A stride-1 SAME dilated convolution for bfloat16 (exact, as tf.nn.conv2d up to rounding): the forward pass
    and the kernel's gradient as matrix products per tap, the input's gradient by the native kernel.

    oneDNN's dilated bfloat16 convolutions take about 2.7x longer from rate 3 up than at rate 2, and their kernel
    gradients are slow at every rate: on ASPP's 33x33 maps the tap products are 2.4-3.9x faster in the forward
    pass at rates 3 to 18 and 2.1-6.1x in the kernel's gradient at rates 2 to 18; at rate 2 the native forward is
    as fast and stays (BENCHMARKS.md, "Atrous convolutions in bfloat16").
    """
    strides, dilations = [1, 1, 1, 1], [1, rate, rate, 1]

    @tf.custom_gradient
    def convolution(images, weights):
        if rate >= TAP_PRODUCTS_FORWARD_MIN_RATE:
            outputs = _tap_products(images, weights, rate)
        else:
            outputs = tf.nn.conv2d(images, weights, strides, 'SAME', dilations=dilations)

        def gradient(output_gradient):
            return (tf1.nn.conv2d_backprop_input(tf.shape(images), weights, output_gradient, strides, 'SAME',
                                                 dilations=dilations),
                    _tap_filter_gradient(images, output_gradient, weights.shape, rate))
        return outputs, gradient
    return convolution(inputs, kernel)


def atrous_depthwise_conv2d(inputs, kernel, stride, rate, padding):
    """tf.nn.depthwise_conv2d with a dilation rate (space-to-batch inside tf.nn for rates above 1, every device)."""
    kernel, rates = _applied_taps(inputs, kernel, stride, rate, padding)
    with float32_gradients(inputs):
        return tf.nn.depthwise_conv2d(inputs, kernel, strides=[1, stride, stride, 1], padding=padding,
                                      dilations=rates)


def _weights(name, shape, weight_decay, trainable, initializer=GLOROT):
    """A convolution kernel and its L2 term in REGULARIZATION_LOSSES."""
    var = tf1.get_variable(name, shape, tf.float32, initializer, trainable=trainable)
    if weight_decay and trainable:
        tf1.add_to_collection(tf1.GraphKeys.REGULARIZATION_LOSSES,
                              tf.multiply(weight_decay, tf.nn.l2_loss(var), name=f'{name}_decay'))
    return var


def _replicas_in_sync():
    """Replicas of the tf.distribute strategy this graph is built under (1 without one)."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def _cross_replica_moments(inputs):
    """Mean and variance per channel over the whole global batch: the replica context's all-reduce of each
    replica's mean and mean of squares (equal-sized slices). Also returns the variance with Bessel's correction,
    as fused_batch_norm gives it for the moving statistics."""
    context = tf.distribute.get_replica_context()
    axes = [0, 1, 2]
    local = tf.stack([tf.reduce_mean(inputs, axes), tf.reduce_mean(tf.square(inputs), axes)])
    mean, mean_of_squares = tf.unstack(context.all_reduce(tf.distribute.ReduceOp.MEAN, local))
    variance = tf.nn.relu(mean_of_squares - tf.square(mean))  # relu: no negative rounding error
    count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]) * context.num_replicas_in_sync, tf.float32)
    return mean, variance, variance * count / tf.maximum(count - 1.0, 1.0)


def _batch_norm_variables(channels, bn):
    """beta, gamma, moving_mean, moving_variance of one batch norm, in the current variable scope."""
    beta = tf1.get_variable('beta', [channels], initializer=tf1.zeros_initializer(), trainable=bn.trainable)
    gamma = tf1.get_variable('gamma', [channels], initializer=tf1.ones_initializer(), trainable=bn.trainable)
    moving_mean = tf1.get_variable('moving_mean', [channels], initializer=tf1.zeros_initializer(),
                                   trainable=False, aggregation=tf.VariableAggregation.MEAN)
    moving_var = tf1.get_variable('moving_variance', [channels], initializer=tf1.ones_initializer(),
                                  trainable=False, aggregation=tf.VariableAggregation.MEAN)
    return beta, gamma, moving_mean, moving_var


def folded_batch_norm(kernel, bn, depthwise=False):
    """(kernel, bias): inference batch norm after a convolution by `kernel`, folded into it (float32).

    gamma * (conv(x, k) - mean) / sqrt(var + eps) + beta = conv(x, k * s) + (beta - mean * s), s = gamma /
    sqrt(var + eps): one convolution with a bias instead of a convolution and a batch norm over the activations.
    A depthwise kernel [k, k, C, 1] has its channels on axis 2. Same variables as batch_norm.
    """
    channels = int(kernel.shape[2 if depthwise else 3])
    with tf1.variable_scope('BatchNorm'):
        beta, gamma, moving_mean, moving_var = _batch_norm_variables(channels, bn)
    scale = gamma * tf.math.rsqrt(moving_var + bn.epsilon)
    return kernel * (tf.reshape(scale, [1, 1, channels, 1]) if depthwise else scale), beta - moving_mean * scale


def batch_norm(inputs, bn, scope='BatchNorm'):
    """slim.batch_norm with scale=True: fused, moving averages updated through UPDATE_OPS when training.
    Parameters and statistics are float32 for inputs of any precision (fused batch norm computes in float32).

    Under a tf.distribute strategy the moving statistics are mean-aggregated over replicas (not replica 0's);
    with `bn.sync` and several replicas, batch statistics are those of the global batch (synchronized batch
    norm), under the same variable names.
    """
    with tf1.variable_scope(scope):
        beta, gamma, moving_mean, moving_var = _batch_norm_variables(inputs.shape[-1], bn)
        if not bn.training:
            outputs, _, _ = tf1.nn.fused_batch_norm(inputs, gamma, beta, moving_mean, moving_var,
                                                    epsilon=bn.epsilon, is_training=False)
            return outputs
        if bn.sync and _replicas_in_sync() > 1:
            wide = tf.cast(inputs, tf.float32)  # global statistics in float32 whatever the compute dtype
            mean, batch_variance, variance = _cross_replica_moments(wide)
            outputs = like(tf.nn.batch_normalization(wide, mean, batch_variance, beta, gamma, bn.epsilon), inputs)
        else:
            outputs, mean, variance = tf1.nn.fused_batch_norm(inputs, gamma, beta, epsilon=bn.epsilon,
                                                              is_training=True)
        momentum = 1.0 - bn.decay
        tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS,
                              tf1.assign_sub(moving_mean, (moving_mean - mean) * momentum))
        tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS,
                              tf1.assign_sub(moving_var, (moving_var - variance) * momentum))
        return outputs


@tf.RegisterGradient('DeepLabBiasAddFloat32Sum')
def _bias_add_float32_sum(op, gradient):
    """BiasAdd's gradients, the biases' one summed over the batch and the map in float32, then rounded once."""
    axes = list(range(gradient.shape.rank - 1))
    return gradient, tf.cast(tf.reduce_sum(tf.cast(gradient, tf.float32), axes), op.inputs[1].dtype)


def bias_add(outputs, biases):
    """tf.nn.bias_add of float32 `biases` in the dtype of `outputs` (the classifier, ResNet-v2's root conv1 and its
    bottlenecks' conv3 and shortcut). In bfloat16 the biases' gradient is summed in float32: TensorFlow's
    BiasAddGrad sums a bfloat16 map in bfloat16, which stops growing once the sum is a few hundred times the terms
    (with or without oneDNN it lost 75 % of the sum over a 33x33 map of a 513 crop, 94 % at 65x65). Only the
    gradient changes: the op is the same BiasAdd, in inference graphs too."""
    if outputs.dtype != tf.bfloat16:
        return tf.nn.bias_add(outputs, like(biases, outputs))
    with tf1.get_default_graph().gradient_override_map({'BiasAdd': 'DeepLabBiasAddFloat32Sum'}):
        return tf.nn.bias_add(outputs, like(biases, outputs))


def _finish(outputs, bn, activation, use_bias, channels, trainable, bias=None):
    """Add biases or batch norm (`bias`: a folded batch norm's), then the activation, as slim.conv2d orders them."""
    if bias is not None:
        outputs = tf.nn.bias_add(outputs, like(bias, outputs))
    elif bn is not None:
        outputs = batch_norm(outputs, bn)
    elif use_bias:
        biases = tf1.get_variable('biases', [channels], initializer=tf1.zeros_initializer(), trainable=trainable)
        outputs = bias_add(outputs, biases)
    return activation(outputs) if activation is not None else outputs


def conv2d(inputs, num_outputs, kernel_size, scope, stride=1, rate=1, padding='SAME', bn=None,
           activation=tf.nn.relu, use_bias=True, weight_decay=0.0, trainable=True, initializer=GLOROT):
    """slim.conv2d: kernel, then batch norm (no biases) or biases, then activation."""
    with tf1.variable_scope(scope):
        kernel = _weights('weights', [kernel_size, kernel_size, int(inputs.shape[-1]), num_outputs],
                          weight_decay, trainable, initializer)
        kernel, bias = folded_batch_norm(kernel, bn) if bn is not None and bn.fold else (kernel, None)
        outputs = atrous_conv2d(inputs, like(kernel, inputs), stride, rate, padding)
        return _finish(outputs, bn, activation, use_bias, num_outputs, trainable, bias)


def depthwise_conv2d(inputs, kernel_size, scope, stride=1, rate=1, padding='SAME', bn=None,
                     activation=tf.nn.relu, use_bias=True, weight_decay=0.0, trainable=True, initializer=GLOROT):
    """slim.separable_conv2d with num_outputs=None: a depth-multiplier-1 depthwise convolution."""
    channels = int(inputs.shape[-1])
    with tf1.variable_scope(scope):
        kernel = _weights('depthwise_weights', [kernel_size, kernel_size, channels, 1], weight_decay, trainable,
                          initializer)
        kernel, bias = folded_batch_norm(kernel, bn, depthwise=True) if bn is not None and bn.fold else (kernel, None)
        outputs = atrous_depthwise_conv2d(inputs, like(kernel, inputs), stride, rate, padding)
        return _finish(outputs, bn, activation, use_bias, channels, trainable, bias)


def fixed_padding(inputs, kernel_size, rate=1):
    """Pad spatially so that a VALID strided convolution matches slim's `conv2d_same` alignment."""
    effective = kernel_size + (kernel_size - 1) * (rate - 1)
    pad_total = effective - 1
    pad_beg = pad_total // 2
    return tf.pad(inputs, [[0, 0], [pad_beg, pad_total - pad_beg], [pad_beg, pad_total - pad_beg], [0, 0]])


def conv2d_same(inputs, num_outputs, kernel_size, stride, scope, rate=1, **kwargs):
    """slim's resnet_utils.conv2d_same: SAME at stride 1, explicit symmetric padding + VALID otherwise."""
    if stride == 1:
        return conv2d(inputs, num_outputs, kernel_size, scope, rate=rate, padding='SAME', **kwargs)
    padded = fixed_padding(inputs, kernel_size, rate)
    return conv2d(padded, num_outputs, kernel_size, scope, stride=stride, rate=rate, padding='VALID', **kwargs)


def subsample(inputs, factor):
    """slim's resnet_utils.subsample: 1x1 max pooling with a stride (identity at factor 1)."""
    if factor == 1:
        return inputs
    return tf.nn.max_pool2d(inputs, ksize=1, strides=factor, padding='SAME')
