"""The original project's DeepLabv3 checkpoints, unconverted: its variable layout (the reference list of the original
code's variables), its head as the original code computes it (checked against an independent implementation here),
its logits resize, whole-image evaluation, and recognition from the variables alone."""
import json
import os
import runpy

import numpy as np
import onnx
import pytest
import tensorflow as tf
from conftest import FIXTURES, ROOT, write_demo_records
from PIL import Image

import create_tf_record
import deeplab_model
import evaluate
import export_inference_graph
import export_model
import inference
import preprocessing
import train
from utils.common.errors import UserError, run_cli
from utils.data.voc import read_image, read_label, save_label
from utils.postprocess.probabilities import read_probabilities
from utils.runtime import runtimes
from utils.runtime.checkpoint_description import describe, model_description
from utils.runtime.frozen_graph import iter_frozen_predictions
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
        zero = sess.run(preprocessing.normalize(tf.constant([[list(ORIGINAL_MEAN_RGB)]]), 'mean_subtraction'))
    np.testing.assert_allclose(zero, 0.0, atol=1e-5)


def test_the_original_layout_refuses_what_it_cannot_build():
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


SIZES = {'2007_000032': (49, 65), '2007_000033': (49, 65), '2007_000039': (57, 41)}


@pytest.fixture(scope='module')
def voc(tmp_path_factory, original_folder):
    """JPEG images of two sizes with labels 0..20 and 255, a list file, beside the original-layout folder."""
    root = tmp_path_factory.mktemp('voc')
    (root / 'JPEGImages').mkdir(), (root / 'SegmentationClass').mkdir()
    rng = np.random.RandomState(4)
    for image_id, size in SIZES.items():
        Image.fromarray(rng.randint(0, 256, size + (3,)).astype(np.uint8)).save(root / 'JPEGImages' / f'{image_id}.jpg')
        label = rng.randint(0, 21, size)
        label[:3] = 255
        save_label(str(root / 'SegmentationClass' / f'{image_id}.png'), label)
    (root / 'val.txt').write_text(''.join(f'{image_id}.jpg\n' for image_id in SIZES))  # as the original lists
    return root


def alone(folder, image, params):
    """Labels of one image run whole and alone through the restored (unfolded) network."""
    with tf.Graph().as_default():
        images = tf1.placeholder(tf.float32, [1, None, None, 3])
        logits = deeplab_model.upsampled_logits(images, params, training=False)
        with tf1.Session() as sess:
            tf1.train.Saver().restore(sess, tf.train.latest_checkpoint(folder))
            return sess.run(tf.argmax(logits, axis=3), {images: image[np.newaxis].astype(np.float32)})[0]


def test_the_original_readme_commands_evaluate_each_image_whole(original_folder, voc, tmp_path, monkeypatch):
    folder, _ = original_folder
    monkeypatch.chdir(tmp_path)
    assert run_cli(inference.main, ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'),
                                    '--model_dir', folder]) == 0
    assert run_cli(evaluate.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--label_data_dir',
                                   str(voc / 'SegmentationClass'), '--evaluation_data_list', str(voc / 'val.txt'),
                                   '--model_dir', folder, '--output_json', 'checkpoint.json']) == 0
    out = tmp_path / 'dataset' / 'inference_output'  # the original inference.py's default output folder
    params = original_params('resnet_v2_50')
    for image_id in SIZES:
        ours = read_label(str(out / f'{image_id}.png'))
        expected = alone(folder, read_image(str(voc / 'JPEGImages' / f'{image_id}.jpg')), params)
        assert (ours == expected).mean() >= 0.999  # the rest: near-ties moved by batch norm folded or not
    assert run_cli(evaluate.main, ['--prediction_dir', str(out), '--ground_truth_dir', str(voc / 'SegmentationClass'),
                                   '--image_list', str(voc / 'val.txt'), '--output_json', 'folder.json']) == 0
    checkpoint, scored = (json.loads((tmp_path / name).read_text()) for name in ('checkpoint.json', 'folder.json'))
    assert checkpoint['miou'] == scored['miou']


def test_eval_crop_size_pads_an_original_checkpoint_as_upstream(original_folder, voc, tmp_path):
    folder, _ = original_folder
    common = ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'), '--model_dir', folder]
    assert run_cli(inference.main, [*common, '--output_dir', str(tmp_path / 'whole')]) == 0
    assert run_cli(inference.main, [*common, '--output_dir', str(tmp_path / 'padded'), '--eval_crop_size', '97',
                                    '97']) == 0
    whole, padded = (read_label(str(tmp_path / name / '2007_000032.png')) for name in ('whole', 'padded'))
    assert whole.shape == padded.shape and (whole != padded).any()  # image pooling averaged over the padding


def test_an_original_checkpoint_runs_with_tta_batches_probabilities_and_bfloat16(original_folder, voc, tmp_path):
    folder, _ = original_folder
    assert run_cli(inference.main, ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'),
                                    '--model_dir', folder, '--output_dir', str(tmp_path / 'out'),
                                    '--inference_scales', '0.75', '1.0', '--add_flipped_images', '--batch_size', '2',
                                    '--precision', 'bfloat16', '--save_probabilities']) == 0
    for image_id, size in SIZES.items():
        probabilities = read_probabilities(str(tmp_path / 'out' / 'probabilities' / f'{image_id}.npz'), 21)
        assert probabilities.shape == size + (21,)


def numpy_l2(values, names):
    """sum of tf.nn.l2_loss (sum(x**2) / 2) over `names`, in float64."""
    return sum(float(np.sum(values[name].astype(np.float64) ** 2)) / 2 for name in names)


@pytest.mark.parametrize('regularization', ['all_trainable', 'kernels'])
def test_the_weight_decay_term_is_each_objectives_sum(original_folder, regularization):
    """all_trainable (the original model_fn): 2e-4 x the L2 of every trainable variable, beta, gamma and the logits'
    biases included; kernels (upstream DeepLab): of the convolution kernels alone."""
    folder, values = original_folder
    params = dict(original_params('resnet_v2_50'), regularization=regularization, weight_decay=2e-4)
    with tf.Graph().as_default():
        with tf.name_scope('network') as scope:
            deeplab_model.network_logits(tf1.placeholder(tf.float32, [2, 33, 33, 3]), params, training=True)
        term = deeplab_model.weight_decay_term(params, scope)
        with tf1.Session() as sess:
            tf1.train.Saver().restore(sess, tf.train.latest_checkpoint(folder))
            ours = sess.run(term)
    if regularization == 'all_trainable':
        names = [name for name in values if not name.endswith(('moving_mean', 'moving_variance'))]
        assert len(names) == 172 + 18 + 2  # ResNet-50's trainable variables, six head convolutions', the logits'
    else:
        names = [name for name in values if name.endswith('/weights')]
    np.testing.assert_allclose(ours, 2e-4 * numpy_l2(values, names), rtol=1e-5)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_demo_records(tmp_path_factory, 4, 2)


def test_train_resumes_an_original_folder_in_its_layout_and_objective(records, tmp_path):
    """train.py in an original-project folder continues it: the original objective and weight decay by default, and
    a checkpoint holding the same entries as the original train.py's (the original code can read it back)."""
    folder = str(tmp_path / 'model')
    write_checkpoint(folder, random_values(reference_variables('resnet_v2_50'), seed=5), step=0)
    before = dict(tf.train.list_variables(tf.train.latest_checkpoint(folder)))
    argv = ['--model_dir', folder, '--data_dir', records, '--max_iter', '1', '--batch_size', '2', '--crop_size',
            '33', '33', '--no_eval']
    params = train.training_params(train.build_parser().parse_args(argv))
    assert (params['layout'], params['regularization'], params['model_variant']) == (
        'original', 'all_trainable', 'resnet_v2_50')
    assert deeplab_model.default_weight_decay(params) == 2e-4  # the original train.py's --weight_decay default
    assert run_cli(train.main, argv) == 0
    after = tf.train.latest_checkpoint(folder)
    assert after.endswith('model.ckpt-1')
    assert dict(tf.train.list_variables(after)) == before


def test_an_original_checkpoint_exports_to_every_form_with_the_same_labels(original_folder, voc, tmp_path):
    """export_model.py (frozen graph, SavedModel, ONNX) and the original export_inference_graph.py command give the
    labels inference.py gives; ONNX Runtime and OpenVINO run the export."""
    folder, _ = original_folder
    image_id = '2007_000039'
    assert run_cli(inference.main, ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'),
                                    '--model_dir', folder, '--output_dir', str(tmp_path / 'out')]) == 0
    expected = read_label(str(tmp_path / 'out' / f'{image_id}.png'))
    graph = str(tmp_path / 'frozen.pb')
    assert run_cli(export_model.main, ['--model_dir', folder, '--export_path', graph, '--saved_model_dir',
                                       str(tmp_path / 'saved'), '--onnx_path', str(tmp_path / 'model.onnx')]) == 0
    (_, _, frozen), = iter_frozen_predictions(graph, str(voc / 'JPEGImages'), [image_id])
    np.testing.assert_array_equal(frozen, expected)

    image = read_image(str(voc / 'JPEGImages' / f'{image_id}.jpg'))
    onnx_labels, _ = runtimes.onnxruntime_predictor(onnx.load(str(tmp_path / 'model.onnx')))(image)
    openvino_labels, _ = runtimes.openvino_predictor(str(tmp_path / 'saved'))(image)
    for labels in (onnx_labels, openvino_labels):
        assert (labels == expected).mean() >= 0.999

    assert run_cli(export_inference_graph.main, ['--model_dir', folder, '--export_dir', str(tmp_path / 'export'),
                                                 '--base_architecture', 'resnet_v2_50', '--output_stride', '16']) == 0
    stamp, = os.listdir(tmp_path / 'export')
    with tf.Graph().as_default(), tf1.Session() as sess:
        meta = tf1.saved_model.loader.load(sess, ['serve'], str(tmp_path / 'export' / stamp))
        assert set(meta.signature_def) == {'preds', 'serving_default'}
        signature = meta.signature_def['preds']
        classes = sess.run(signature.outputs['classes'].name,
                           {signature.inputs['image_tensor'].name: image[np.newaxis].astype(np.float32)})
    assert classes.shape == (1, *image.shape[:2], 1)
    np.testing.assert_array_equal(classes[0, ..., 0], expected)


def test_upstreams_vis_command_runs_an_original_checkpoint(original_folder, voc, tmp_path):
    """deeplab/vis.py with upstream's flags recognises the original layout too and pads as upstream (vis_crop_size),
    giving inference.py's labels for the same padding."""


    folder, _ = original_folder
    records = str(tmp_path / 'records')
    assert run_cli(create_tf_record.main, ['--data_dir', records, '--image_data_dir', str(voc / 'JPEGImages'),
                                           '--label_data_dir', str(voc / 'SegmentationClass'), '--train_data_list',
                                           str(voc / 'val.txt'), '--valid_data_list', str(voc / 'val.txt'),
                                           '--num_workers', '1']) == 0
    vis = runpy.run_path(os.path.join(ROOT, 'deeplab', 'vis.py'), run_name='upstream_vis')['main']
    assert run_cli(vis, ['--vis_split=val', '--model_variant=resnet_v2_50', '--output_stride=16',
                         '--vis_crop_size=65', '--vis_crop_size=65', '--dataset=pascal_voc_seg',
                         f'--checkpoint_dir={folder}', f'--vis_logdir={tmp_path}/vis', f'--dataset_dir={records}',
                         '--also_save_raw_predictions', '--max_number_of_iterations=1']) == 0
    assert run_cli(inference.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--image_list', str(voc / 'val.txt'),
                                    '--model_dir', folder, '--output_dir', str(tmp_path / 'suite'),
                                    '--eval_crop_size', '65', '65']) == 0
    for index, image_id in enumerate(SIZES):  # named by position: this suite's records hold no upstream file name
        raw = np.asarray(Image.open(tmp_path / 'vis' / 'raw_segmentation_results' / f'{index:06d}.png'))
        np.testing.assert_array_equal(raw, read_label(str(tmp_path / 'suite' / f'{image_id}.png')))


def test_pre_trained_model_from_an_original_folder_warm_starts_it_whole_in_a_new_folder(original_folder, records,
                                                                                          tmp_path):
    folder, values = original_folder
    new = str(tmp_path / 'new')
    assert run_cli(train.main, ['--model_dir', new, '--pre_trained_model', folder, '--data_dir', records,
                                '--max_iter', '1', '--batch_size', '2', '--crop_size', '33', '33', '--no_eval',
                                '--initial_learning_rate', '0', '--end_learning_rate', '0']) == 0
    saved = json.loads(open(os.path.join(new, 'deeplab_params.json'), encoding='utf-8').read())
    assert (saved['layout'], saved['model_variant'], saved['regularization']) == (
        'original', 'resnet_v2_50', 'all_trainable')
    ckpt = tf.train.latest_checkpoint(new)
    for name in ('aspp/conv_3x3_2/weights', 'upsampling_logits/conv_1x1/biases'):  # the head too, at lr 0
        np.testing.assert_array_equal(tf.train.load_variable(ckpt, name), values[name])


def test_a_checkpoint_in_neither_layout_is_one_line_naming_what_is_missing(tmp_path, voc, capsys):
    folder = str(tmp_path / 'backbone')
    backbone = {name: shape for name, shape in reference_variables('resnet_v2_50').items()
                if name.startswith('resnet_v2_50/')}
    write_checkpoint(folder, random_values(backbone, seed=6), momentum=False)
    assert run_cli(evaluate.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--ground_truth_dir',
                                   str(voc / 'SegmentationClass'), '--image_list', str(voc / 'val.txt'),
                                   '--model_dir', folder]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith('error: ') and 'does not match the model' in line and '(missing)' in line
