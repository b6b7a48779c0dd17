"""Mixed precision at the map sizes of a 513x513 crop (33x33 at output stride 16, 65x65 at 8): every step that
stays float32 under --precision bfloat16 / float16 returns float32 and the value of an independent float64 numpy
computation, tightly enough that doing the step in the reduced type fails.

The inputs are exact in both reduced types (logits and activations around 100, a few bfloat16 steps of 0.5
apart, or a few steps of 1/32 apart between 4 and 8), so the network's own rounding leaves them as they are and
every difference a test sees comes from a step after it; each test also checks that rounding its result to the
reduced type would exceed its tolerance. The
network is a stand-in (`stub_network`) or the one layer under test, so no test runs a whole 513x513 network; the
last test runs ResNet-v2-50 DeepLabv3 once on a 257x257 image.
"""
import numpy as np
import pytest
import tensorflow as tf

import deeplab_model
from nets import heads, layers, resnet_v2
from utils.data.voc import IGNORE_LABEL, MEAN_RGB
from utils.runtime import export
from utils.runtime.frozen_graph import INPUT_NAME, PREDICTIONS_NAME, PROBABILITIES_NAME
from utils.runtime.model_config import MODEL_DEFAULTS

tf1 = tf.compat.v1
CROP = 513
MAPS = {16: 33, 8: 65}  # output stride -> side of a 513 crop's feature and logit maps
STRIDES = sorted(MAPS, reverse=True)
REDUCED = ('bfloat16', 'float16')
TF_DTYPES = {'bfloat16': tf.bfloat16, 'float16': tf.float16}
NP_DTYPES = {'bfloat16': tf.bfloat16.as_numpy_dtype, 'float16': np.float16}
SIGNIFICANT_BITS = {'bfloat16': 8, 'float16': 11}  # the implicit leading bit included
CLASSES = 21
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', num_classes=CLASSES)
# The float32 steps' errors measured here, and the tolerances (rounding to float16 moves results 3 to 40 times more):
LOGIT_TOLERANCE = 1e-3         # resized logits ~100: float32 errs by 8e-5, float16 rounds by up to 0.03
PROBABILITY_TOLERANCE = 1e-5   # float32 errs by 2e-7, float16 rounds by up to 1.2e-4 (probabilities of ~0.5)
LOSS_RTOL = 1e-6               # cross-entropy: float32 errs by 1.2e-7, float16 logits move it by 4e-5
WEIGHT_DECAY_RTOL = 4e-6       # a float32 sum of 15.5 million squares errs by 8e-7
MEAN_RTOL, VARIANCE_RTOL = 1e-6, 1e-4  # batch norm's moments: float32 errs by 5e-8 and 4e-5 (oneDNN's kernel)
GRADIENT_RTOL = 2e-3           # the biases' step: float16 and bfloat16 gradients err by 4e-4
DECISIVE = 1e-4                 # labels are compared where the two best logits differ by more than this


# ---------------------------------------------------------------------------------------------------- references


def rounded(values, precision):
    """`values` rounded to the reduced type (round to nearest even, as tf.cast), as float64."""
    return np.asarray(values, np.float32).astype(NP_DTYPES[precision]).astype(np.float64)


def half_step(values, precision):
    """Half the spacing of the reduced type's numbers at |values|: the most one correct rounding moves them."""
    exponent = np.floor(np.log2(np.maximum(np.abs(values), 1e-30)))
    return 2.0 ** (exponent - SIGNIFICANT_BITS[precision])


def interpolation(inside, size, align_corners=True):
    """The [size, inside] matrix of a bilinear resize along one axis, in float64: DeepLab's align_corners=True, or
    TF1's default (align_corners=False, half_pixel_centers=False) of the original layout."""
    scale = (inside - 1) / (size - 1) if align_corners else inside / size
    source = np.arange(size) * scale
    first = np.minimum(np.floor(source).astype(int), inside - 1)
    matrix = np.zeros((size, inside))
    np.add.at(matrix, (np.arange(size), first), 1 - (source - first))
    np.add.at(matrix, (np.arange(size), np.minimum(first + 1, inside - 1)), source - first)
    return matrix


def resize_np(maps, size, align_corners=True):
    """Maps [N, h, w, C] resized bilinearly to `size` x `size` in float64."""
    rows, cols = (interpolation(maps.shape[axis], size, align_corners) for axis in (1, 2))
    return np.einsum('yi,nijc,xj->nyxc', rows, np.asarray(maps, np.float64), cols, optimize=True)


def resize_gradient_np(gradient, side):
    """The gradient [N, side, side, C] of the side x side maps from the gradient [N, H, W, C] of their resize."""
    rows, cols = (interpolation(side, gradient.shape[axis]) for axis in (1, 2))
    return np.einsum('yi,nyxc,xj->nijc', rows, gradient, cols, optimize=True)


def softmax_np(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def decisive(logits):
    """Pixels whose two best logits differ by more than DECISIVE: float32's rounding cannot swap them."""
    best_two = np.sort(logits, axis=-1)[..., -2:]
    return best_two[..., 1] - best_two[..., 0] > DECISIVE


def assert_rounding_would_show(exact, precision, tolerance):
    """The inputs are chosen so that the reduced type's rounding of `exact` exceeds `tolerance` threefold."""
    assert np.abs(rounded(exact, precision) - exact).max() > 3 * tolerance


def assert_rounding_would_swap_labels(probabilities, sure, precision):
    """Some of the pixels compared have their label changed by the argmax of probabilities rounded to the reduced
    type (whichever of tied classes it picks)."""
    labels = probabilities.argmax(axis=-1)
    lowered = rounded(probabilities, precision)
    for picked in (lowered.argmax(axis=-1), CLASSES - 1 - lowered[..., ::-1].argmax(axis=-1)):
        assert (picked != labels)[sure].sum() >= 10


def logit_table(side, batch=1, seed=0, low=96.0, step=0.5, levels=CLASSES):
    """Logits [batch, side, side, 21]: at each pixel the classes take 21 distinct values of low + step * k, k <
    `levels`, in a random order; exact in bfloat16 and float16 for the default 96 to 106 (bfloat16's step is 0.5
    there) and for FINE_LOGITS."""
    rng = np.random.RandomState(seed)
    ranks = rng.rand(batch, side, side, levels).argsort(axis=-1)[..., :CLASSES]
    return (low + step * ranks).astype(np.float32)


# Logits 4 to 8, 1/32 apart (bfloat16's step there): the resize of a 513 crop interpolates by multiples of 1/16
# (1/8 at output stride 8), so around 100 the two best classes of a pixel differ by multiples of 0.002 (0.008),
# too coarse for a rounded probability to swap them; here by multiples of 1.2e-4 (4.9e-4).
FINE_LOGITS = {'low': 4.0, 'step': 1 / 32, 'levels': 128}


def map_values(shape, seed, low=100.0, step=0.5):
    """Activations low + step * k, k in -8..7: exact in bfloat16 and float16 for steps of 0.5 near 100 or 0.25
    near 6 (bfloat16's spacings there are 0.5 and 0.03)."""
    return (low + step * np.random.RandomState(seed).randint(-8, 8, shape)).astype(np.float32)


def fed(values, dtype, feeds):
    """`values` as a tensor of `dtype` through a float32 placeholder added to `feeds`: not a constant, which
    grappler would fold with TensorFlow's own kernels whatever TF_ENABLE_ONEDNN_OPTS says."""
    placeholder = tf1.placeholder(tf.float32, values.shape)
    feeds[placeholder] = values
    return tf.cast(placeholder, dtype)


def run(fetches_fn, feeds=None, steps=()):
    """Build `fetches_fn()` in a new graph, initialise, run each op of `steps()` once, then return the fetches."""
    with tf.Graph().as_default():
        fetches = fetches_fn()
        ops = steps() if callable(steps) else steps
        with tf1.Session() as session:
            session.run([tf1.global_variables_initializer(), tf1.local_variables_initializer()])
            for op in ops:
                session.run(op, feeds)
            return session.run(fetches, feeds)


# ---------------------------------------------------------------------------------------------------- stand-in


@pytest.fixture
def stub_network(monkeypatch):
    """Installs a stand-in for deeplab_model.network_logits: the first (side - 1) // stride + 1 rows and columns of
    a logit table plus the float32 variable `logits/semantic/biases` (zero), cast to the network's input dtype as
    the network's logits are. Returns the list of the inputs it was given."""
    seen = []

    def install(table, stride):
        def network_logits(images, params, training):
            del params, training
            seen.append(images)
            biases = tf1.get_variable('logits/semantic/biases', [CLASSES], initializer=tf1.zeros_initializer())
            rows, cols = ((tf.shape(images)[axis] - 1) // stride + 1 for axis in (1, 2))
            return layers.like(tf.constant(table)[:, :rows, :cols] + biases, images)
        monkeypatch.setattr(deeplab_model, 'network_logits', network_logits)
        return seen
    return install


def params_of(precision, stride, **changes):
    return dict(PARAMS, precision=precision, output_stride=stride, **changes)


# ---------------------------------------------------------------------------------------------------- variables


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_variables_stay_float32_and_keep_an_update_below_a_reduced_step(precision, stride):
    """A 1x1 convolution over the map in the reduced type: its kernel is a float32 variable holding values the
    reduced type cannot (1 + k/1000), and one SGD step moves it by ~1.2e-4, under half a float16 step at 1 and far
    under a bfloat16 one, as numpy's gradient over the map says to 2 % (a variable in the reduced type would not
    move, or move 8 times too far)."""
    side, rng = MAPS[stride], np.random.RandomState(1)
    inputs = 0.5 + rng.randint(0, 64, (2, side, side, 64)) / 128.0            # exact in both reduced types
    weights = (0.5 + rng.randint(0, 64, (2, side, side, 64)) / 128.0) / 1024.0  # the loss's gradient, exact too
    kernel = (1.0 + rng.randint(0, 1000, (1, 1, 64, 64)) / 1000.0).astype(np.float32)
    learning_rate = 1e-4 * (MAPS[16] / side) ** 2
    feeds = {}
    with tf.Graph().as_default():
        outputs = layers.conv2d(fed(inputs, TF_DTYPES[precision], feeds), 64, 1, 'conv', activation=None,
                                initializer=tf1.constant_initializer(kernel))
        loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * fed(weights, tf.float32, feeds))
        variables = tf1.global_variables()
        value = variables[0].read_value()
        step = tf1.train.GradientDescentOptimizer(learning_rate).minimize(loss)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            start = session.run(value)
            session.run(step, feeds)
            end = session.run(value)
    assert {v.dtype.base_dtype for v in variables} == {tf.float32}
    np.testing.assert_array_equal(start, kernel)
    gradient = np.einsum('nhwc,nhwd->cd', inputs, weights)[np.newaxis, np.newaxis]
    assert np.abs(learning_rate * gradient).max() < half_step(1.0, 'float16')
    np.testing.assert_allclose(end.astype(np.float64) - start, -learning_rate * gradient, rtol=2e-2)


@pytest.mark.parametrize('normalization', ['inception', 'mean_subtraction'])
@pytest.mark.parametrize('precision', REDUCED)
def test_the_network_input_is_normalised_in_float32_then_rounded_once(stub_network, precision, normalization):
    """A 513x513 image reaches the network normalised in float32 and rounded once to the reduced type: within half
    a step of the float64 normalisation and float32's own error (bfloat16 arithmetic rounds x / 127.5 before
    subtracting 1, and MEAN_RGB itself)."""
    image = np.random.RandomState(2).randint(0, 256, (1, CROP, CROP, 3)).astype(np.float32)
    seen = stub_network(logit_table(MAPS[16]), 16)
    params = params_of(precision, 16, input_normalization=normalization)
    feeds = {}
    network_input = run(lambda: (deeplab_model.float32_logits(fed(image, tf.float32, feeds), params, False),
                                 seen[0])[1], feeds)
    assert seen[0].dtype == TF_DTYPES[precision]
    if normalization == 'inception':
        exact, in_reduced_type = image / 127.5 - 1.0, rounded(rounded(image / 127.5, precision) - 1.0, precision)
        operands = image / 127.5 + 1.0
    else:
        exact = image - np.asarray(MEAN_RGB)
        in_reduced_type = rounded(image - rounded(MEAN_RGB, precision), precision)
        operands = image + np.asarray(MEAN_RGB)
    # half a step, and float32's own error: two of its steps at the operands' size (x / 127.5 - 1 cancels near 0)
    bound = half_step(exact, precision) + 2.0 ** -23 * operands
    error = np.abs(network_input.astype(np.float64) - exact)
    assert np.all(error <= bound), error.max()
    assert not np.all(np.abs(in_reduced_type - exact) <= bound)


# ---------------------------------------------------------------------------------------------------- logits


@pytest.mark.parametrize('layout', ['deeplab', 'original'])
@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_logits_return_to_float32_before_the_resize_to_the_crop(stub_network, precision, stride, layout):
    """The network's logits (33x33 or 65x65) are cast to float32 before the bilinear resize to 513x513, the
    layout's own (align_corners=True for DeepLab's, TF1's default for the original project's)."""
    table = logit_table(MAPS[stride])
    stub_network(table, stride)
    params = params_of(precision, stride, layout=layout)
    dtypes = []

    def build():
        logits = deeplab_model.upsampled_logits(tf.zeros([1, CROP, CROP, 3]), params, training=False)
        dtypes.append(logits.dtype)
        return logits
    logits = run(build)
    assert dtypes == [tf.float32]
    exact = resize_np(table, CROP, align_corners=layout == 'deeplab')
    assert np.abs(logits - exact).max() < LOGIT_TOLERANCE
    assert_rounding_would_show(exact, precision, LOGIT_TOLERANCE)


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_prediction_is_a_float32_softmax_and_its_argmax(stub_network, precision, stride):
    """model_fn's PREDICT outputs: float32 probabilities, softmax of the float32 resized logits to 1e-5, and
    int32 labels, their argmax wherever float32 can tell the two best classes apart (logits 4 to 8, where the
    argmax of rounded probabilities swaps some)."""
    table = logit_table(MAPS[stride], **FINE_LOGITS)
    stub_network(table, stride)

    def build():
        spec = deeplab_model.model_fn({'image': tf.zeros([1, CROP, CROP, 3])}, None, tf.estimator.ModeKeys.PREDICT,
                                      params_of(precision, stride))
        assert spec.predictions['probabilities'].dtype == tf.float32
        assert spec.predictions['classes'].dtype == tf.int32
        return spec.predictions
    predictions = run(build)
    logits = resize_np(table, CROP)
    expected = softmax_np(logits)
    assert np.abs(predictions['probabilities'] - expected).max() < PROBABILITY_TOLERANCE
    sure = decisive(logits)
    assert sure.mean() > 0.99
    np.testing.assert_array_equal(predictions['classes'][sure], expected.argmax(axis=-1)[sure])
    assert_rounding_would_show(expected, precision, PROBABILITY_TOLERANCE)
    assert_rounding_would_swap_labels(expected, sure, precision)


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_exported_probabilities_are_float32_and_labels_their_argmax(stub_network, precision, stride):
    """The exported graph (export_model.py's interface): a 500x470 uint8 image padded to the 513 eval crop, float32
    SemanticProbabilities as numpy's softmax of the crop's resized logits, int32 SemanticPredictions their argmax
    (logits 4 to 8, as above)."""
    table = logit_table(MAPS[stride], seed=3, **FINE_LOGITS)
    stub_network(table, stride)
    image = np.random.RandomState(3).randint(0, 256, (1, 500, 470, 3)).astype(np.uint8)

    def build():
        _, outputs = export.build_inference_graph(params_of(precision, stride), deeplab_model.predict_probabilities,
                                                  eval_crop_size=[CROP, CROP])
        assert outputs[PROBABILITIES_NAME].dtype == tf.float32 and outputs[PREDICTIONS_NAME].dtype == tf.int32
        return outputs
    outputs = run(build, {INPUT_NAME + ':0': image})
    logits = resize_np(table, CROP)[:, :500, :470]
    expected = softmax_np(logits)
    assert np.abs(outputs[PROBABILITIES_NAME] - expected).max() < PROBABILITY_TOLERANCE
    sure = decisive(logits)
    np.testing.assert_array_equal(outputs[PREDICTIONS_NAME][sure], expected.argmax(axis=-1)[sure])
    assert_rounding_would_swap_labels(expected, sure, precision)


def scale_dimension_np(side, scale):
    """deeplab_model.scale_dimension in float32, as TensorFlow computes it."""
    return int((np.float32(side) - np.float32(1)) * np.float32(scale) + np.float32(1))


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_test_time_augmentation_averages_float32_probabilities(stub_network, precision, stride):
    """Scales 0.75, 1 and 1.25 with flips at the 513 crop: each scale's logits (25 to 81 pixels a side) resized
    to the common size, flipped back, resized to the crop, and the six softmaxes averaged, all in float32 as numpy
    computes them."""
    scales = (0.75, 1.0, 1.25)
    table = logit_table(scale_dimension_np(CROP, max(scales)) // stride + 1, seed=4)
    stub_network(table, stride)

    def build():
        probabilities = deeplab_model.predict_probabilities(tf.zeros([1, CROP, CROP, 3]),
                                                            params_of(precision, stride), scales, flip=True)
        assert probabilities.dtype == tf.float32
        return probabilities
    probabilities = run(build)
    expected = 0.0
    for scale in scales:
        side = (scale_dimension_np(CROP, scale) - 1) // stride + 1
        logits = table[:, :side, :side]
        if scale != 1.0:
            logits = resize_np(logits, scale_dimension_np(CROP, max(1.0, scale) / stride))
        for flipped in (False, True):
            expected = expected + softmax_np(resize_np(logits[:, :, ::-1] if flipped else logits, CROP))
    expected = expected / (2 * len(scales))
    assert np.abs(probabilities - expected).max() < PROBABILITY_TOLERANCE
    assert_rounding_would_show(expected, precision, PROBABILITY_TOLERANCE)


# ---------------------------------------------------------------------------------------------------- loss


def loss_labels(logits, seed):
    """Labels [N, H, W, 1]: half the pixels the best class of `logits`, the rest random classes, 5 % void."""
    rng = np.random.RandomState(seed)
    labels = np.where(rng.rand(*logits.shape[:3]) < 0.5, logits.argmax(axis=-1),
                      rng.randint(0, CLASSES, logits.shape[:3]))
    labels[rng.rand(*labels.shape) < 0.05] = IGNORE_LABEL
    return labels[..., np.newaxis].astype(np.int32)


def cross_entropy_np(logits, labels):
    """Mean softmax cross-entropy over the pixels whose label is a class, and those pixels."""
    labels = labels[..., 0]
    valid = labels != IGNORE_LABEL
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probabilities, np.where(valid, labels, 0)[..., np.newaxis], axis=-1)[..., 0]
    return -picked[valid].mean(), valid


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_the_evaluation_loss_and_accuracy_come_from_float32_logits(stub_network, precision, stride):
    """model_fn's EVAL loss over two 513x513 crops is float32 and numpy's cross-entropy of the float32 resized
    logits to 1e-6 (relative); its pixel accuracy counts their argmax (pixels float32 cannot decide either way)."""
    table = logit_table(MAPS[stride], batch=2, seed=5)
    stub_network(table, stride)
    logits = resize_np(table, CROP)
    labels = loss_labels(logits, seed=5)
    metrics = []

    def build():
        spec = deeplab_model.model_fn({'image': tf.zeros([2, CROP, CROP, 3])}, tf.constant(labels),
                                      tf.estimator.ModeKeys.EVAL, params_of(precision, stride))
        assert spec.loss.dtype == tf.float32
        metrics.append(spec.eval_metric_ops['pixel_accuracy'])
        return spec.loss, metrics[0][0]
    loss, accuracy = run(build, steps=lambda: [metrics[0][1]])
    expected, valid = cross_entropy_np(logits, labels)
    assert loss == pytest.approx(expected, rel=LOSS_RTOL)
    assert abs(cross_entropy_np(rounded(logits, precision), labels)[0] - expected) > 3 * LOSS_RTOL * expected
    hits = (logits.argmax(axis=-1) == labels[..., 0]) & valid
    undecided = (~decisive(logits) & valid).sum()
    assert abs(accuracy - hits.sum() / valid.sum()) <= (undecided + 0.5) / valid.sum()


@pytest.mark.parametrize('regularization', ['kernels', 'all_trainable'])
@pytest.mark.parametrize('precision', REDUCED)
def test_the_weight_decay_term_is_a_float32_sum_over_the_float32_variables(precision, regularization):
    """The L2 term of an ASPP head on block4's 2048 channels (15.5 million weights, each 0.0501, 0.0502 or 0.0503,
    which the reduced types round): float32, and weight_decay x numpy's sum of w^2 / 2 to 4e-6 (relative) over the
    kernels ('kernels') or every trainable variable ('all_trainable'). The map's size does not enter."""
    params = params_of(precision, 16, regularization=regularization, weight_decay=1e-4)
    bn = layers.BatchNorm(training=True, trainable=True, decay=0.9997, epsilon=layers.BATCH_NORM_EPSILON)
    rng = np.random.RandomState(6)
    with tf.Graph().as_default():
        features = tf1.placeholder(TF_DTYPES[precision], [1, MAPS[16], MAPS[16], 2048])
        with tf.name_scope('network') as scope:
            heads.aspp(features, bn, [6, 12, 18], True, deeplab_model.kernel_weight_decay(params), False)
        term = deeplab_model.weight_decay_term(params, scope)
        assert term.dtype == tf.float32
        trainable = tf1.trainable_variables()
        assert {v.dtype.base_dtype for v in tf1.global_variables()} == {tf.float32}
        with tf1.Session() as session:
            values = {}
            for var in trainable:
                values[var.op.name] = (0.05 + 1e-4 * rng.randint(1, 4, var.shape)).astype(np.float32)
                var.load(values[var.op.name], session)
            value = session.run(term)
    decayed = [v for name, v in values.items() if regularization == 'all_trainable' or name.endswith('/weights')]
    assert sum(v.size for v in decayed) > 15e6
    expected = 1e-4 * sum(np.sum(np.square(v.astype(np.float64))) / 2 for v in decayed)
    assert value == pytest.approx(expected, rel=WEIGHT_DECAY_RTOL)
    lowered = 1e-4 * sum(np.sum(np.square(rounded(v, precision))) / 2 for v in decayed)
    assert abs(lowered - expected) > 3 * WEIGHT_DECAY_RTOL * expected


# ---------------------------------------------------------------------------------------------------- batch norm


def batch_norm_run(precision, inputs, sync):
    """(outputs, moving_mean, moving_variance, their dtypes) of layers.batch_norm training on `inputs` in the
    reduced type with decay 0, so that the moving statistics become the batch's."""
    dtypes, feeds = [], {}

    def build():
        bn = layers.BatchNorm(training=True, trainable=True, decay=0.0, epsilon=layers.BATCH_NORM_EPSILON, sync=sync)
        outputs = layers.batch_norm(fed(inputs, TF_DTYPES[precision], feeds), bn)
        moving = [v for v in tf1.global_variables() if 'moving' in v.op.name]
        dtypes.extend([outputs.dtype] + [v.dtype.base_dtype for v in tf1.global_variables()])
        return outputs, moving[0].read_value(), moving[1].read_value()
    outputs, mean, variance = run(build, feeds, steps=lambda: tf1.get_collection(tf1.GraphKeys.UPDATE_OPS))
    return outputs, mean, variance, dtypes


def check_batch_norm(precision, inputs, outputs, mean, variance, count):
    """Moving statistics: numpy's mean and Bessel-corrected variance over `count` values; outputs: numpy's
    normalisation, rounded once to the reduced type."""
    exact_mean = inputs.astype(np.float64).mean(axis=(0, 1, 2))
    exact_variance = np.square(inputs - exact_mean).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(mean, exact_mean, rtol=MEAN_RTOL)
    np.testing.assert_allclose(variance, exact_variance * count / (count - 1), rtol=VARIANCE_RTOL)
    assert np.max(np.abs(rounded(exact_mean, precision) / exact_mean - 1)) > 3 * MEAN_RTOL
    assert np.max(np.abs(rounded(exact_variance, precision) / exact_variance - 1)) > 3 * VARIANCE_RTOL
    normalized = (inputs - exact_mean) / np.sqrt(exact_variance + layers.BATCH_NORM_EPSILON)
    error = np.abs(outputs.astype(np.float64) - normalized)
    assert np.all(error <= 2 * half_step(normalized, precision) + 1e-3), error.max()


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_batch_norm_statistics_are_float32_moments_of_the_map(precision, stride):
    """Training batch norm on two maps of 64 channels in the reduced type: float32 moving statistics equal to
    numpy's moments (mean to 1e-6, variance to 1e-4) and outputs in the reduced type normalised by them. The
    activations are around 6 (0.25 apart), where a step of bfloat16 is 0.03: around 100 the fused kernels' float32
    variance errs by a float32 step of E[x^2], 1e-3."""
    side = MAPS[stride]
    inputs = map_values((2, side, side, 64), seed=7, low=6.0, step=0.25)
    outputs, mean, variance, dtypes = batch_norm_run(precision, inputs, sync=False)
    assert dtypes[0] == TF_DTYPES[precision] and set(dtypes[1:]) == {tf.float32}
    check_batch_norm(precision, inputs, outputs, mean, variance, inputs[..., 0].size)


class _TwoReplicas:
    """A replica context of two replicas that hold the same maps: the all-reduced mean is the local value."""
    num_replicas_in_sync = 2

    def all_reduce(self, reduce_op, value):
        assert reduce_op == tf.distribute.ReduceOp.MEAN
        return value


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_synchronized_batch_norm_takes_float32_moments(monkeypatch, precision, stride):
    """Synchronized batch norm (two replicas, the same maps on each) reduces in float32: its mean and variance over
    both replicas are numpy's (mean to 1e-6, variance to 1e-4; activations around 6, as in the test above)."""
    monkeypatch.setattr(tf.distribute, 'get_replica_context', _TwoReplicas)
    side = MAPS[stride]
    inputs = map_values((2, side, side, 64), seed=8, low=6.0, step=0.25)
    outputs, mean, variance, dtypes = batch_norm_run(precision, inputs, sync=True)
    assert dtypes[0] == TF_DTYPES[precision] and set(dtypes[1:]) == {tf.float32}
    check_batch_norm(precision, inputs, outputs, mean, variance, 2 * inputs[..., 0].size)


@pytest.mark.parametrize('precision', REDUCED)
def test_folded_batch_norm_is_computed_in_float32_and_rounded_once(precision):
    """An inference 3x3 convolution (256 -> 256) with batch norm folded: kernel x gamma / sqrt(variance + eps) and
    beta - mean x that scale are computed in float32 from float32 variables and rounded once to the reduced type
    (in bfloat16 the bias, a difference of two numbers near 50, would lose everything). The map's size does not
    enter."""
    rng = np.random.RandomState(9)
    values = {'weights': 0.05 + 1e-4 * rng.randint(1, 100, (3, 3, 256, 256)),
              'BatchNorm/gamma': 1.0 + 1e-3 * rng.randint(0, 100, 256),
              'BatchNorm/moving_mean': 100.0 + 1e-2 * rng.randint(0, 100, 256),
              'BatchNorm/moving_variance': 4.0 + 1e-2 * rng.randint(0, 100, 256)}
    scale = values['BatchNorm/gamma'] / np.sqrt(values['BatchNorm/moving_variance'] + layers.BATCH_NORM_EPSILON)
    values['BatchNorm/beta'] = values['BatchNorm/moving_mean'] * scale + 1e-2 * rng.randint(1, 100, 256)
    values = {name: value.astype(np.float32) for name, value in values.items()}
    with tf.Graph().as_default() as graph:
        bn = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=layers.BATCH_NORM_EPSILON,
                              fold=True)
        layers.conv2d(tf1.placeholder(TF_DTYPES[precision], [1, MAPS[16], MAPS[16], 256]), 256, 3, 'conv', bn=bn)
        kernel, bias = graph.get_operation_by_name('conv/Conv2D').inputs[1], graph.get_operation_by_name(
            'conv/BiasAdd').inputs[1]
        assert kernel.dtype == bias.dtype == TF_DTYPES[precision]
        with tf1.Session() as session:
            for var in tf1.global_variables():
                assert var.dtype.base_dtype == tf.float32
                var.load(values[var.op.name[len('conv/'):]], session)
            kernel, bias = session.run([kernel, bias])
    scale = values['BatchNorm/gamma'] / np.sqrt(values['BatchNorm/moving_variance'].astype(np.float64)
                                                 + layers.BATCH_NORM_EPSILON)
    exact = {'kernel': values['weights'] * scale,
             'bias': values['BatchNorm/beta'] - values['BatchNorm/moving_mean'] * scale}
    # float32's own error: a few of its steps at the size of the products (mean x scale ~ 50 in the bias)
    products = {'kernel': exact['kernel'], 'bias': values['BatchNorm/moving_mean'] * scale}
    for name, got in (('kernel', kernel), ('bias', bias)):
        error = np.abs(got.astype(np.float64) - exact[name])
        bound = half_step(exact[name], precision) * (1 + 1e-3) + 4 * 2.0 ** -24 * np.abs(products[name])
        assert np.all(error <= bound), (name, error.max())
        assert_rounding_would_show(exact[name], precision, 0.0 if name == 'kernel' else 1e-5)


# ---------------------------------------------------------------------------------------------------- heads


@pytest.mark.parametrize('layout', ['deeplab', 'original'])
@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_image_pooling_averages_the_map_in_float32(precision, stride, layout):
    """ASPP's image pooling (both layouts) over block4's 2048 channels: the mean of the 33x33 or 65x65 map is
    numpy's, rounded once to the reduced type (a bfloat16 sum of 1089 values near 100 is off by tens)."""
    side = MAPS[stride]
    features = map_values((1, side, side, 2048), seed=10)
    bn = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=layers.BATCH_NORM_EPSILON)
    rates = [6, 12, 18] if stride == 16 else [12, 24, 36]
    feeds = {}
    with tf.Graph().as_default() as graph:
        inputs = fed(features, TF_DTYPES[precision], feeds)
        if layout == 'deeplab':
            heads.aspp(inputs, bn, rates, False, 0.0, False)
            pooling = 'image_pooling/Conv2D'
        else:
            heads.original_aspp(inputs, bn, rates, 0.0, resnet_v2.INITIALIZER)
            pooling = 'aspp/image_level_features/conv_1x1/Conv2D'
        pooled = graph.get_operation_by_name(pooling).inputs[0]
        assert pooled.dtype == TF_DTYPES[precision]
        with tf1.Session() as session:
            pooled = session.run(pooled, feeds)
    exact = features.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    error = np.abs(pooled.astype(np.float64) - exact)
    assert np.all(error <= half_step(exact, precision) * (1 + 1e-5)), error.max()


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_the_decoder_upsamples_in_float32_and_rounds_once(precision, stride):
    """The v3+ decoder resizes the 33x33 or 65x65 ASPP output to the 129x129 low-level map of a 513 crop with the
    interpolation in float32 and one rounding to the reduced type: within half a step of numpy's resize (the maps
    one step of the reduced type apart, so that the resize's quarter and half points need rounding)."""
    side = MAPS[stride]
    features = map_values((1, side, side, 256), seed=11, step=2 * half_step(100.0, precision))
    bn = layers.BatchNorm(training=False, trainable=True, decay=0.9997, epsilon=layers.BATCH_NORM_EPSILON)
    feeds = {}
    with tf.Graph().as_default() as graph:
        low_level = tf.zeros([1, 129, 129, 256], TF_DTYPES[precision])
        heads.decoder(fed(features, TF_DTYPES[precision], feeds), low_level, bn, 0.0)
        upsampled = graph.get_operation_by_name('decoder/concat').inputs[0]
        assert upsampled.dtype == TF_DTYPES[precision]
        with tf1.Session() as session:
            upsampled = session.run(upsampled, feeds)
    exact = resize_np(features, 129)
    error = np.abs(upsampled.astype(np.float64) - exact)
    assert np.all(error <= half_step(exact, precision) * (1 + 1e-5)), error.max()
    assert_rounding_would_show(exact, precision, half_step(100.0, precision) / 20)


# ---------------------------------------------------------------------------------------------------- training


def confident_table(side, seed, block=8):
    """Logits [2, side, side, 21]: in each block of 8x8 pixels one of classes 0, 7, 15 at 100, the others 88 to
    89.5 at every pixel, so that inside the blocks the softmax is sure to about 1e-5."""
    rng = np.random.RandomState(seed)
    table = 88.0 + 0.5 * rng.randint(0, 4, (2, side, side, CLASSES))
    blocks = -(-side // block)
    best = rng.choice([0, 7, 15], (2, blocks, blocks)).repeat(block, axis=1).repeat(block, axis=2)
    np.put_along_axis(table, best[:, :side, :side, np.newaxis], 100.0, axis=-1)
    return table.astype(np.float32)


@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_a_training_step_follows_the_float32_gradient_float16_under_loss_scaling(stub_network, precision, stride):
    """One training step of model_fn on two 513x513 crops labelled with their confident logits' classes: the loss
    is float32 and numpy's, and the logits' biases move by -learning rate x numpy's gradient to 0.2 %. In float16
    most gradients of the 33x33 or 65x65 logits (~1e-9) are below its smallest number: without loss scaling the
    step would be off by more than 0.6 %; bfloat16 has float32's range and needs no scaling."""
    side = MAPS[stride]
    table = confident_table(side, seed=12)
    stub_network(table, stride)
    logits = resize_np(table, CROP)
    labels = loss_labels(logits, seed=12)
    labels[..., 0] = np.where(labels[..., 0] == IGNORE_LABEL, IGNORE_LABEL, logits.argmax(axis=-1))
    params = params_of(precision, stride, initial_learning_rate=1.0, end_learning_rate=0.0, max_iter=10,
                       momentum=0.9)
    train = []

    def build():
        spec = deeplab_model.model_fn({'image': tf.zeros([2, CROP, CROP, 3])}, tf.constant(labels),
                                      tf.estimator.ModeKeys.TRAIN, params)
        assert spec.loss.dtype == tf.float32
        train.append(spec.train_op)
        biases = next(v for v in tf1.global_variables() if v.op.name == 'logits/semantic/biases')
        return spec.loss, biases.read_value()
    loss, biases = run(build, steps=lambda: [train[0]])
    expected_loss, valid = cross_entropy_np(logits, labels)
    assert loss == pytest.approx(expected_loss, rel=LOSS_RTOL)
    one_hot = np.eye(CLASSES)[np.where(valid, labels[..., 0], 0)]
    per_logit = resize_gradient_np((softmax_np(logits) - one_hot) * valid[..., np.newaxis] / valid.sum(), side)
    gradient = per_logit.sum(axis=(0, 1, 2))
    np.testing.assert_allclose(biases, -gradient, rtol=GRADIENT_RTOL)
    unscaled = rounded(per_logit, 'float16').sum(axis=(0, 1, 2))  # float16 gradients without loss scaling
    assert np.max(np.abs(unscaled / gradient - 1)) > 3 * GRADIENT_RTOL


@pytest.mark.parametrize('layer, side', [('classifier', 33), ('classifier', 65), ('classifier', 129),
                                         ('conv3', 33), ('conv3', 65), ('conv3', 257)])
@pytest.mark.parametrize('precision', REDUCED)
def test_bias_gradients_are_summed_over_the_map_in_float32(precision, layer, side):
    """The gradient of a layer's biases over a 513 crop's map (the classifier `logits/semantic` at 33x33, 65x65 and
    129x129 behind the v3+ decoder; a convolution with biases as ResNet-v2's bottleneck conv3 and shortcut at
    33x33 and 65x65, and its root conv1 at 257x257) is numpy's sum to a step of the reduced type (float16's own
    BiasAddGrad errs by one at 257x257); TensorFlow's bfloat16 BiasAddGrad sums in bfloat16 and loses 75 to 98 %."""
    rng = np.random.RandomState(14)
    channels = CLASSES if layer == 'classifier' else 64
    features = rng.uniform(0, 1, (2, side, side, 64))
    gradient = rounded((0.5 + rng.randint(0, 64, (2, side, side, channels)) / 128.0) / side ** 2, precision)
    feeds = {}
    with tf.Graph().as_default():
        inputs = fed(features, TF_DTYPES[precision], feeds)
        if layer == 'classifier':
            outputs = heads.logits(inputs, CLASSES, 0.0)
        else:
            outputs = layers.conv2d(inputs, channels, 1, 'conv3', activation=None)
        loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * fed(gradient, tf.float32, feeds))
        biases = next(v for v in tf1.trainable_variables() if v.op.name.endswith('/biases'))
        assert biases.dtype.base_dtype == tf.float32
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            got = session.run(tf.gradients(loss, biases)[0], feeds)
    exact = gradient.sum(axis=(0, 1, 2))
    error = np.abs(got - exact)
    assert np.all(error <= 2 * half_step(exact, precision) * 1.01), np.max(error / exact)


def kernel_gradient_np(images, gradient, rate, depthwise):
    """The gradient of a 3x3 SAME convolution's kernel at `rate` (a 1x1 one for rate 0) in float64: for each tap,
    the map shifted by it against the output's gradient, summed over the batch and the map."""
    if rate == 0:
        return np.einsum('nhwc,nhwd->cd', images, gradient)[np.newaxis, np.newaxis]
    side = images.shape[1]
    padded = np.pad(images, [(0, 0), (rate, rate), (rate, rate), (0, 0)])
    taps = [[padded[:, row * rate:row * rate + side, col * rate:col * rate + side] for col in range(3)]
            for row in range(3)]
    if depthwise:
        return np.array([[np.einsum('nhwc,nhwc->c', tap, gradient)[:, np.newaxis] for tap in row] for row in taps])
    return np.array([[np.einsum('nhwc,nhwd->cd', tap, gradient) for tap in row] for row in taps])


@pytest.mark.parametrize('kind', ['1x1', '3x3 rate 2', '3x3 rate 6', 'depthwise 3x3'])
@pytest.mark.parametrize('stride', STRIDES)
@pytest.mark.parametrize('precision', REDUCED)
def test_kernel_gradients_are_summed_over_the_map_in_float32(precision, stride, kind):
    """The kernel gradients of the network's convolutions over a 513 crop's maps (1x1 as in the bottlenecks, atrous
    3x3 as in block4 and the ASPP, depthwise as in Xception) are numpy's sums to 1 %, on every path: oneDNN's
    kernels, tap products, and TensorFlow's own kernels without oneDNN, whose bfloat16 sums erred by 4 to 75 %
    (layers.float32_backprop)."""
    side, rng = MAPS[stride], np.random.RandomState(15)
    images = rounded(rng.uniform(0.5, 1.0, (2, side, side, 64)), precision)
    gradient = rounded(rng.uniform(0.5, 1.0, (2, side, side, 64)) / side ** 2, precision)
    rate = {'1x1': 0, '3x3 rate 2': 2, '3x3 rate 6': 6, 'depthwise 3x3': 1}[kind]
    feeds = {}
    with tf.Graph().as_default():
        inputs = fed(images, TF_DTYPES[precision], feeds)
        if kind.startswith('depthwise'):
            outputs = layers.depthwise_conv2d(inputs, 3, 'conv', activation=None)
        else:
            outputs = layers.conv2d(inputs, 64, 3 if rate else 1, 'conv', rate=max(rate, 1), activation=None)
        loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * fed(gradient, tf.float32, feeds))
        kernel = next(v for v in tf1.trainable_variables() if v.op.name.endswith('weights'))
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            got = session.run(tf.gradients(loss, kernel)[0], feeds)
    np.testing.assert_allclose(got, kernel_gradient_np(images, gradient, rate, kind.startswith('depthwise')),
                               rtol=1e-2)


# ---------------------------------------------------------------------------------------------------- network


def test_resnet_v2_50_deeplabv3_labels_agree_in_bfloat16_at_257():
    """ResNet-v2-50 DeepLabv3 with random weights on a smooth 257x257 image (5 s), float32 and bfloat16 sharing
    the variables: float32 probabilities in both, labels equal wherever float32's two best probabilities are more
    than 0.15 apart and on at least 98 % of the pixels, and bfloat16 does round (not float32 in disguise). Random
    weights leave wide bands of near ties between classes: over 8 images bfloat16 changed 0.8 to 1.3 % of the
    labels, all where float32's margin was under 0.11, so 99 % would be a coin toss."""
    coarse = np.random.RandomState(13).uniform(0, 255, (1, 6, 6, 3))
    image = resize_np(coarse, 257).astype(np.float32)
    params, feeds = dict(PARAMS, output_stride=16), {}

    def build():
        tf1.set_random_seed(0)
        images = fed(image, tf.float32, feeds)
        outputs = [deeplab_model.predict_probabilities(images, dict(params, precision=name))
                   for name in ('float32', 'bfloat16')]
        assert [p.dtype for p in outputs] == [tf.float32, tf.float32]
        return outputs
    reference, lowered = run(build, feeds)
    labels, lowered_labels = reference.argmax(axis=-1), lowered.argmax(axis=-1)
    best_two = np.sort(reference, axis=-1)[..., -2:]
    clear = best_two[..., 1] - best_two[..., 0] > 0.15
    assert (labels == lowered_labels).mean() >= 0.98
    np.testing.assert_array_equal(labels[clear], lowered_labels[clear])
    assert len(np.unique(labels)) > 1
    assert 1e-4 < np.abs(reference - lowered).max() < 0.5
    np.testing.assert_allclose(lowered.sum(axis=-1), 1.0, atol=1e-5)
