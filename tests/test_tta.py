"""Test-time augmentation: scale 1.0 alone is plain inference, flips are undone, scales are averaged."""
import numpy as np
import pytest
import tensorflow as tf

import deeplab_model
from utils.runtime.model_config import MODEL_DEFAULTS

tf1 = tf.compat.v1
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', atrous_rates=[6, 12, 18], num_classes=4)


def run(build, image):
    with tf.Graph().as_default():
        images = tf1.placeholder(tf.float32, [1, None, None, 3])
        outputs = build(images)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            return sess.run(outputs, {images: image[np.newaxis]})


def colour_only_logits(images, params, training):
    """Logits at input resolution that depend on a pixel's colour only: flipping the input flips them, nothing
    else."""
    del params, training
    return tf.stack([images[..., 0], images[..., 1], 255.0 - images[..., 0], images[..., 2] * 0.5], axis=3) / 50.0


@pytest.fixture
def colour_network(monkeypatch):
    """The network replaced by colour_only_logits, whose logits have stride 1."""
    monkeypatch.setattr(deeplab_model, 'float32_logits', colour_only_logits)
    monkeypatch.setattr(deeplab_model, 'logits_stride', lambda params: 1)


def test_scale_one_alone_equals_plain_inference():
    image = np.random.RandomState(0).uniform(0, 255, (33, 41, 3)).astype(np.float32)

    def both(images):
        tta = deeplab_model.predict_probabilities(images, PARAMS, scales=(1.0,), flip=False)
        with tf1.variable_scope(tf1.get_variable_scope(), reuse=True):
            plain = tf.nn.softmax(deeplab_model.upsampled_logits(images, PARAMS, training=False))
        return tta, plain

    tta, plain = run(both, image)
    assert tta.shape == (1, 33, 41, 4)
    np.testing.assert_allclose(tta, plain, rtol=0, atol=1e-6)


def test_flipped_predictions_are_flipped_back(colour_network):
    image = np.random.RandomState(1).uniform(0, 255, (9, 13, 3)).astype(np.float32)
    plain = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), image)
    flipped = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, flip=True), image)
    np.testing.assert_allclose(flipped, plain, atol=1e-6)
    assert not np.allclose(plain, plain[:, :, ::-1])  # the image is not symmetric, so a missed flip would show


def test_scales_average_probabilities_at_input_size(colour_network):
    noise = np.random.RandomState(2).uniform(0, 255, (12, 16, 3)).astype(np.float32)
    half = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, scales=(0.5,)), noise)
    assert half.shape == (1, 12, 16, 4)
    assert not np.allclose(half, run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), noise), atol=1e-3)

    ramp = np.tile(np.linspace(0, 255, 16, dtype=np.float32)[None, :, None], (12, 1, 3))
    multi = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, scales=(0.5, 1.0, 2.0), flip=True), ramp)
    single = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), ramp)
    np.testing.assert_allclose(multi.sum(axis=3), 1.0, atol=1e-5)
    np.testing.assert_allclose(multi, single, atol=1e-4)  # bilinear resizing keeps a linear ramp exactly


# Upstream DeepLab's multi-scale rule, written here from research/deeplab/model.py (scale_dimension,
# multi_scale_logits, predict_labels_multi_scale), independently of deeplab_model.
def upstream_dimension(dim, scale):
    """model.py's scale_dimension for a known side: int((dim - 1) * scale + 1)."""
    return int((dim - 1) * scale + 1)


def resize_align_corners(array, height, width):
    """Bilinear resize of [H, W, C] with align_corners=True, in numpy."""
    def taps(size_in, size_out):
        step = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        source = np.arange(size_out) * step
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size_in - 1), (source - low).astype(np.float32)

    rows, cols = taps(array.shape[0], height), taps(array.shape[1], width)
    top = array[rows[0]] * (1 - rows[2])[:, None, None] + array[rows[1]] * rows[2][:, None, None]
    return top[:, cols[0]] * (1 - cols[2])[None, :, None] + top[:, cols[1]] * cols[2][None, :, None]


def stride_two_logits(images, params, training):
    """A stand-in network with logits at stride 2 (every second pixel's colour)."""
    del params, training
    return colour_only_logits(images[:, ::2, ::2], None, None)


def upstream_probabilities(image, scales, flip, stride, dimension=upstream_dimension, common=True):
    """The mean softmax of predict_labels_multi_scale over `scales` (and flips) for stride_two_logits, in numpy:
    input resized to scale_dimension, logits to the common size scale_dimension(side, max(1, s) / stride), flipped
    back there, then resized to the image. `dimension` and `common` let the test show what other rules give."""
    height, width = image.shape[:2]
    total = []
    for scale in scales:
        for flipped in (False, True) if flip else (False,):
            inputs = image if scale == 1.0 else resize_align_corners(
                image, dimension(height, scale), dimension(width, scale))
            inputs = inputs[:, ::-1] if flipped else inputs
            red, green, blue = (inputs[::2, ::2, channel] for channel in range(3))
            logits = np.stack([red, green, 255.0 - red, blue * 0.5], axis=2) / 50.0
            if common:
                logits = resize_align_corners(logits, upstream_dimension(height, max(1.0, scale) / stride),
                                              upstream_dimension(width, max(1.0, scale) / stride))
            logits = resize_align_corners(logits[:, ::-1] if flipped else logits, height, width)
            exp = np.exp(logits - logits.max(axis=2, keepdims=True))
            total.append(exp / exp.sum(axis=2, keepdims=True))
    return np.mean(total, axis=0)


def test_multi_scale_and_flips_compute_upstreams_rule(monkeypatch):
    monkeypatch.setattr(deeplab_model, 'float32_logits', stride_two_logits)
    monkeypatch.setattr(deeplab_model, 'logits_stride', lambda params: 2)
    image = np.random.RandomState(3).uniform(0, 255, (10, 14, 3)).astype(np.float32)
    scales = (0.5, 0.75, 1.0, 1.25, 1.75)
    ours = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, scales=scales, flip=True), image)[0]
    np.testing.assert_allclose(ours, upstream_probabilities(image, scales, True, 2), rtol=0, atol=2e-6)
    # what the rule decides: ceil-sized inputs, or logits resized straight to the image, would not pass
    ceil_sized = upstream_probabilities(image, scales, True, 2, dimension=lambda dim, s: int(np.ceil(dim * s)))
    one_step = upstream_probabilities(image, scales, True, 2, common=False)
    assert np.abs(ours - ceil_sized).max() > 1e-3 and np.abs(ours - one_step).max() > 1e-3


def test_scaled_inputs_of_a_513_crop_are_upstreams_sizes(monkeypatch):
    seen = []

    def recording(images, params, training):
        seen.append(tf.shape(images)[1:3])
        return images[:, ::16, ::16, :1] * tf.ones([4])

    monkeypatch.setattr(deeplab_model, 'float32_logits', recording)
    scales = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    image = np.zeros((100, 120, 3), np.float32)

    def build(images):
        probabilities = deeplab_model.predict_probabilities(images, PARAMS, scales, eval_crop_size=[513, 513])
        return probabilities, seen

    probabilities, sizes = run(build, image)
    assert probabilities.shape == (1, 100, 120, 4)
    assert [list(size) for size in sizes] == [[upstream_dimension(513, s)] * 2 for s in scales]
    assert [size[0] for size in sizes] == [257, 385, 513, 641, 769, 897]  # as the issue measured upstream's
