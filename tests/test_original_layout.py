"""The original project's DeepLabv3 checkpoints, unconverted: its variable layout (the reference list of the original
code's variables), its head as the original code computes it (checked against an independent implementation here),
its logits resize, whole-image evaluation, and recognition from the variables alone."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import FIXTURES

import deeplab_model
from utils.runtime.checkpoint_description import describe, model_description
from utils.runtime.model_config import resolve_model_params

tf1 = tf.compat.v1
REFERENCE = os.path.join(FIXTURES, 'reference', 'original_project_deeplabv3_resnet_v2_101_variables.json')
RESNET_50 = os.path.join(FIXTURES, 'reference', 'resnet_v2_50_variables.json')
# The original code's input normalisation: RGB minus these means (its utils/preprocessing.py, _R_MEAN etc.).
ORIGINAL_MEAN_RGB = (123.68, 116.78, 103.94)


def reference_variables(variant='resnet_v2_101'):
    """{name: shape} of the original code's checkpoint for `variant`: the reference list for 101; for 50, slim's
    ResNet-v2-50 with the same head."""
    with open(REFERENCE, encoding='utf-8') as handle:
        listed = {v['name']: v['shape'] for v in json.load(handle)['variables']}
    if variant == 'resnet_v2_101':
        return listed
    with open(RESNET_50, encoding='utf-8') as handle:
        backbone = {v['name']: v['shape'] for v in json.load(handle)['variables']}
    return dict(backbone, **{name: shape for name, shape in listed.items() if not name.startswith('resnet_v2_101/')})


def original_params(variant='resnet_v2_101', **extra):
    return resolve_model_params(dict(layout='original', model_variant=variant, num_classes=21, **extra))


def graph_variables(params, training):
    with tf.Graph().as_default():
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 65, 65, 3]), params, training=training)
        return ({v.op.name: v.shape.as_list() for v in tf1.global_variables()},
                {v.op.name for v in tf1.trainable_variables()})


@pytest.mark.parametrize('variant', ['resnet_v2_101', 'resnet_v2_50'])
def test_the_network_has_exactly_the_original_checkpoints_variables(variant):
    names, trainable = graph_variables(original_params(variant), training=True)
    expected = reference_variables(variant)
    assert sorted(set(expected) - set(names)) == [] and sorted(set(names) - set(expected)) == []
    assert names == expected
    if variant == 'resnet_v2_101':  # the reference: an Estimator checkpoint holds a Momentum slot for each of 362
        assert len(trainable) == 362


def test_the_original_layout_defaults_are_the_original_codes():
    params = original_params()
    assert params['multi_grid'] == [1, 1, 1]  # block4 keeps the single rate the output stride gives
    assert params['atrous_rates'] == [6, 12, 18]
    assert original_params(output_stride=8)['atrous_rates'] == [12, 24, 36]  # doubled at output stride 8
    assert params['input_normalization'] == 'mean_subtraction'
    with tf.Graph().as_default(), tf1.Session() as sess:
        import preprocessing
        zero = sess.run(preprocessing.normalize(tf.constant([[list(ORIGINAL_MEAN_RGB)]]), 'mean_subtraction'))
    np.testing.assert_allclose(zero, 0.0, atol=1e-5)


def test_the_original_layout_refuses_what_it_cannot_build():
    from utils.common.errors import UserError
    with pytest.raises(UserError, match='built on resnet_v2_50 or resnet_v2_101, not xception_65'):
        original_params('xception_65')
    with pytest.raises(UserError, match='has no decoder'):
        original_params(decoder_output_stride=4)


def random_values(shapes, seed):
    """Random values for a checkpoint: kernels scaled by fan-in, batch-norm statistics away from 0 and 1."""
    rng = np.random.RandomState(seed)
    values = {}
    for name, shape in sorted(shapes.items()):
        leaf = name.rsplit('/', 1)[-1]
        if leaf in ('gamma', 'moving_variance'):
            values[name] = rng.uniform(0.5, 1.5, shape)
        elif leaf in ('beta', 'moving_mean', 'biases'):
            values[name] = rng.normal(0.0, 0.1, shape)
        else:
            values[name] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
    return {name: value.astype(np.float32) for name, value in values.items()}


def write_checkpoint(folder, values, step=30000, momentum=True):
    """An Estimator-style folder (model.ckpt-STEP, checkpoint) holding `values` under their names, global_step and,
    as the original train.py's checkpoints, a Momentum slot per trainable variable: written from the names alone,
    without this suite's network."""
    os.makedirs(folder, exist_ok=True)
    with tf.Graph().as_default():
        variables = [tf1.Variable(value, name=name) for name, value in values.items()]
        if momentum:
            trainable = [name for name in values if not name.endswith(('moving_mean', 'moving_variance'))]
            variables += [tf1.Variable(np.zeros_like(values[name]), name=f'{name}/Momentum') for name in trainable]
        variables.append(tf1.Variable(np.int64(step), name='global_step'))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver(variables).save(sess, os.path.join(folder, 'model.ckpt'), global_step=step)
    return folder


@pytest.fixture(scope='module')
def original_folder(tmp_path_factory):
    """An original-layout ResNet-v2-50 training folder with random weights, no deeplab_params.json."""
    folder = str(tmp_path_factory.mktemp('original') / 'model')
    values = random_values(reference_variables('resnet_v2_50'), seed=0)
    return write_checkpoint(folder, values), values


def test_an_original_folder_is_recognised_from_its_variables(original_folder):
    folder, _ = original_folder
    assert not os.path.exists(os.path.join(folder, 'deeplab_params.json'))
    assert describe(tf.train.latest_checkpoint(folder)) == {
        'layout': 'original', 'model_variant': 'resnet_v2_50', 'decoder_output_stride': None, 'num_classes': 21}
    assert model_description(folder)['layout'] == 'original'


def numpy_original_head(features, values, rates):
    """The original code's ASPP and logits, from its description, in numpy on a [H, W, C] feature map: batch norm
    (epsilon 1e-5) and ReLU after each convolution; the image-level branch is the map's mean through its 1x1
    convolution, resized back (one value everywhere); concatenated in the order 1x1, 3x3 x3, image level."""
    def conv(x, scope, rate=1):
        kernel = values[f'{scope}/weights']
        k = kernel.shape[0]
        pad = (k // 2) * rate
        padded = np.pad(x, [(pad, pad), (pad, pad), (0, 0)])
        out = np.zeros(x.shape[:2] + kernel.shape[3:], np.float64)
        for i in range(k):
            for j in range(k):
                window = padded[i * rate:i * rate + x.shape[0], j * rate:j * rate + x.shape[1]]
                out += window @ kernel[i, j]
        if f'{scope}/biases' in values:
            return out + values[f'{scope}/biases']
        bn = {key: values[f'{scope}/BatchNorm/{key}'] for key in ('beta', 'gamma', 'moving_mean', 'moving_variance')}
        normed = (out - bn['moving_mean']) / np.sqrt(bn['moving_variance'] + 1e-5) * bn['gamma'] + bn['beta']
        return np.maximum(normed, 0.0)

    branches = [conv(features, 'aspp/conv_1x1')]
    branches += [conv(features, f'aspp/conv_3x3_{n}', rate) for n, rate in enumerate(rates, start=1)]
    pooled = conv(features.mean(axis=(0, 1), keepdims=True), 'aspp/image_level_features/conv_1x1')
    branches.append(np.broadcast_to(pooled, features.shape[:2] + pooled.shape[2:]))
    net = conv(np.concatenate(branches, axis=2), 'aspp/conv_1x1_concat')
    return conv(net, 'upsampling_logits/conv_1x1')


def test_the_head_computes_as_the_original_code_on_block4(original_folder):
    """Logits at output stride 16 from the checkpoint equal the independent head applied to block4's features (the
    last unit's sum, not the post-norm): ResNet block4 is read from the same graph by its end point."""
    folder, values = original_folder
    params = original_params('resnet_v2_50')
    image = np.random.RandomState(1).uniform(0, 255, (1, 97, 129, 3)).astype(np.float32)
    with tf.Graph().as_default():
        images = tf1.placeholder(tf.float32, [1, None, None, 3])
        logits = deeplab_model.float32_logits(images, dict(params, precision='float32'), training=False)
        block4 = tf1.get_default_graph().get_tensor_by_name(
            'resnet_v2_50/block4/unit_3/bottleneck_v2/add:0')
        with tf1.Session() as sess:
            tf1.train.Saver().restore(sess, tf.train.latest_checkpoint(folder))
            ours, features = sess.run([logits, block4], {images: image})
    assert ours.shape == (1, 7, 9, 21)
    expected = numpy_original_head(features[0].astype(np.float64), values, [6, 12, 18])
    np.testing.assert_allclose(ours[0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def numpy_legacy_resize(array, height, width):
    """TF1's default resize_bilinear (align_corners=False, half_pixel_centers=False) of [H, W, C]: output pixel i
    samples the input at i * in / out."""
    def taps(size_in, size_out):
        source = np.arange(size_out) * (size_in / size_out)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size_in - 1), source - low

    rows, cols = taps(array.shape[0], height), taps(array.shape[1], width)
    top = array[rows[0]] * (1 - rows[2])[:, None, None] + array[rows[1]] * rows[2][:, None, None]
    return top[:, cols[0]] * (1 - cols[2])[None, :, None] + top[:, cols[1]] * cols[2][None, :, None]


def test_original_logits_are_resized_as_tf1s_default_resize_bilinear():
    logits = np.random.RandomState(2).normal(size=(1, 4, 5, 3)).astype(np.float32)
    with tf.Graph().as_default(), tf1.Session() as sess:
        original = sess.run(deeplab_model.resize_logits(tf.constant(logits), [13, 17], original_params()))
        deeplab = sess.run(deeplab_model.resize_logits(tf.constant(logits), [13, 17],
                                                       resolve_model_params({'num_classes': 21})))
    np.testing.assert_allclose(original[0], numpy_legacy_resize(logits[0], 13, 17), atol=1e-5)
    assert np.abs(original - deeplab).max() > 0.1  # the model zoo's align_corners=True resize differs
