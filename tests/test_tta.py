"""Test-time augmentation: scale 1.0 alone is plain inference, flips are undone, scales are averaged."""
import numpy as np
import tensorflow as tf

import deeplab_model
from nets import heads
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


def colour_only_logits(images, params, training, size):
    """Logits that depend on a pixel's colour only: flipping the input flips them, nothing else."""
    del params, training
    logits = tf.stack([images[..., 0], images[..., 1], 255.0 - images[..., 0], images[..., 2] * 0.5], axis=3) / 50.0
    return heads.resize_bilinear(logits, size)


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


def test_flipped_predictions_are_flipped_back(monkeypatch):
    monkeypatch.setattr(deeplab_model, 'upsampled_logits', colour_only_logits)
    image = np.random.RandomState(1).uniform(0, 255, (9, 13, 3)).astype(np.float32)
    plain = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), image)
    flipped = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, flip=True), image)
    np.testing.assert_allclose(flipped, plain, atol=1e-6)
    assert not np.allclose(plain, plain[:, :, ::-1])  # the image is not symmetric, so a missed flip would show


def test_scales_average_probabilities_at_input_size(monkeypatch):
    monkeypatch.setattr(deeplab_model, 'upsampled_logits', colour_only_logits)
    noise = np.random.RandomState(2).uniform(0, 255, (12, 16, 3)).astype(np.float32)
    half = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, scales=(0.5,)), noise)
    assert half.shape == (1, 12, 16, 4)
    assert not np.allclose(half, run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), noise), atol=1e-3)

    ramp = np.tile(np.linspace(0, 255, 16, dtype=np.float32)[None, :, None], (12, 1, 3))
    multi = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS, scales=(0.5, 1.0, 2.0), flip=True), ramp)
    single = run(lambda x: deeplab_model.predict_probabilities(x, PARAMS), ramp)
    np.testing.assert_allclose(multi.sum(axis=3), 1.0, atol=1e-5)
    np.testing.assert_allclose(multi, single, atol=1e-4)  # bilinear resizing keeps a linear ramp exactly
