"""train.py: warm start from slim ImageNet and DeepLab model-zoo checkpoints, resume over warm start, clear
mismatch errors, the loss, the scale flags' way into the augmentation, the schedule's checkpoint flags, input
functions, steps per epoch and model folder."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_demo_records, write_random_checkpoint

import deeplab_model
import train
from nets import layers, resnet_v2
from utils.common.errors import run_cli
from utils.runtime.model_config import MODEL_DEFAULTS, resolve_model_params, save_model_params

tf1 = tf.compat.v1
TINY = ['--model_variant', 'resnet_v2_50', '--batch_size', '2', '--crop_size', '33', '33', '--no_eval',
        '--log_every_n_steps', '1']


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_demo_records(tmp_path_factory, 4, 2)


def write_checkpoint(path, values):
    """A checkpoint holding exactly `values` ({name: array}), as a published tarball would."""
    with tf.Graph().as_default():
        variables = [tf1.get_variable(name, initializer=value) for name, value in values.items()]
        with tf1.Session() as sess:
            sess.run(tf1.variables_initializer(variables))
            tf1.train.Saver(variables).save(sess, path)
    return path


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    """A slim-like ResNet-v2-50 ImageNet checkpoint: random backbone (small positive values, so variances
    are valid and activations finite), 1001-way logits and global_step; returns (prefix, values)."""
    rng = np.random.RandomState(0)
    with tf.Graph().as_default():
        bn = layers.BatchNorm(training=False, trainable=True, decay=0.997, epsilon=1e-5)
        resnet_v2.resnet_v2(tf1.placeholder(tf.float32, [1, 33, 33, 3]), 'resnet_v2_50', bn, 16, (1, 2, 4), 1e-4)
        shapes = {v.op.name: v.shape.as_list() for v in tf1.global_variables()}
    values = {name: rng.uniform(0.01, 0.03, shape).astype(np.float32) for name, shape in shapes.items()}
    values['resnet_v2_50/logits/weights'] = np.zeros([1, 1, 2048, 1001], np.float32)
    values['resnet_v2_50/logits/biases'] = np.zeros([1001], np.float32)
    values['global_step'] = np.int64(123456)
    prefix = str(tmp_path_factory.mktemp('imagenet') / 'resnet_v2_50.ckpt')
    return write_checkpoint(prefix, values), values


def test_warm_start_takes_every_backbone_variable_and_leaves_the_imagenet_logits(records, imagenet, tmp_path):
    prefix, values = imagenet
    model_dir = str(tmp_path / 'model')
    argv = ['--model_dir', model_dir, '--data_dir', records, '--pre_trained_model', prefix,
            '--max_iter', '1', '--initial_learning_rate', '0', '--end_learning_rate', '0',
            '--freeze_batch_norm', *TINY]
    assert run_cli(train.main, argv) == 0
    trained = tf.train.latest_checkpoint(model_dir)
    stored = dict(tf.train.list_variables(trained))
    backbone = [n for n in values if n.startswith('resnet_v2_50/') and '/logits/' not in n]
    assert len(backbone) == 270
    for name in backbone:
        np.testing.assert_array_equal(tf.train.load_variable(trained, name), values[name], err_msg=name)
    assert 'resnet_v2_50/logits/weights' not in stored
    assert stored['logits/semantic/weights'] == [1, 1, 256, 21]
    assert tf.train.load_variable(trained, 'global_step') == 1


def test_resuming_uses_the_model_dir_not_the_warm_start(records, imagenet, tmp_path):
    model_dir = str(tmp_path / 'model')
    assert run_cli(train.main, ['--model_dir', model_dir, '--data_dir', records, '--max_iter', '1', *TINY]) == 0
    before = tf.train.load_variable(tf.train.latest_checkpoint(model_dir), 'resnet_v2_50/conv1/weights')
    argv = ['--model_dir', model_dir, '--data_dir', records, '--max_iter', '2', '--pre_trained_model', imagenet[0],
            '--initial_learning_rate', '0', '--end_learning_rate', '0', *TINY]
    assert run_cli(train.main, argv) == 0
    after = tf.train.load_variable(tf.train.latest_checkpoint(model_dir), 'resnet_v2_50/conv1/weights')
    np.testing.assert_array_equal(before, after)
    assert tf.train.load_variable(tf.train.latest_checkpoint(model_dir), 'global_step') == 2


def last_error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith('error: ')
    return lines[-1]


def test_a_checkpoint_of_another_backbone_is_a_one_line_error(records, tmp_path, capsys):
    prefix = write_checkpoint(str(tmp_path / 'r101.ckpt'), {'resnet_v2_101/conv1/weights': np.zeros([7, 7, 3, 64])})
    argv = ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--max_iter', '1',
            '--pre_trained_model', prefix, *TINY]
    assert run_cli(train.main, argv) == 2
    line = last_error_line(capsys)
    assert 'r101.ckpt' in line and 'resnet_v2_50' in line


def test_a_mis_shaped_backbone_variable_is_named(records, imagenet, tmp_path, capsys):
    name = 'resnet_v2_50/block3/unit_2/bottleneck_v2/conv2/weights'
    values = dict(imagenet[1], **{name: np.zeros([1, 1, 256, 256], np.float32)})
    prefix = write_checkpoint(str(tmp_path / 'bad.ckpt'), values)
    argv = ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--max_iter', '1',
            '--pre_trained_model', prefix, *TINY]
    assert run_cli(train.main, argv) == 2
    line = last_error_line(capsys)
    assert f'{name} [3, 3, 256, 256] (checkpoint has [1, 1, 256, 256])' in line


def test_a_missing_pretrained_checkpoint_is_a_one_line_error(records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--max_iter', '1',
            '--pre_trained_model', str(tmp_path / 'nowhere.ckpt'), *TINY]
    assert run_cli(train.main, argv) == 2
    assert 'nowhere.ckpt: checkpoint not found' in capsys.readouterr().err


def test_missing_records_is_a_one_line_error(tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'model'), '--data_dir', str(tmp_path / 'empty'), *TINY]
    assert run_cli(train.main, argv) == 2
    assert str(tmp_path / 'empty') in capsys.readouterr().err


def test_loss_ignores_void_pixels():
    logits = tf.constant(np.random.RandomState(0).randn(1, 2, 2, 3), tf.float32)
    labels = tf.constant([[1, 255], [2, 255]], tf.int32)
    loss, valid = deeplab_model.segmentation_loss(logits, labels, 3)
    flat = tf.reshape(logits, [-1, 3]).numpy()
    expected = np.mean([-np.log(np.exp(flat[i, c]) / np.exp(flat[i]).sum()) for i, c in [(0, 1), (2, 2)]])
    assert loss.numpy() == pytest.approx(expected, rel=1e-5)
    assert valid.numpy().tolist() == [True, False, True, False]


def test_xception_fine_tunes_all_of_a_model_zoo_checkpoint(records, tmp_path):
    params = dict(MODEL_DEFAULTS, model_variant='xception_65', decoder_output_stride=4, atrous_rates=[6, 12, 18])
    zoo = tmp_path / 'zoo'
    zoo.mkdir()
    write_random_checkpoint(str(zoo), params)
    prefix = tf.train.latest_checkpoint(str(zoo))
    model_dir = str(tmp_path / 'model')
    argv = ['--model_dir', model_dir, '--data_dir', records, '--pre_trained_model', prefix, '--max_iter', '1',
            '--initial_learning_rate', '0', '--end_learning_rate', '0', '--freeze_batch_norm', '--batch_size', '2',
            '--crop_size', '33', '33', '--no_eval', '--model_variant', 'xception_65', '--decoder_output_stride', '4']
    assert run_cli(train.main, argv) == 0
    trained = tf.train.latest_checkpoint(model_dir)
    for name in ('logits/semantic/weights', 'decoder/decoder_conv1_pointwise/weights', 'aspp1_depthwise/BatchNorm/beta',
                 'xception_65/exit_flow/block2/unit_1/xception_module/separable_conv3_pointwise/weights'):
        np.testing.assert_array_equal(tf.train.load_variable(trained, name), tf.train.load_variable(prefix, name))


def test_a_label_outside_num_classes_stops_training_naming_the_record_and_value(records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--max_iter', '1', '--num_classes', '5',
            *TINY]
    assert run_cli(train.main, argv) == 2
    line = last_error_line(capsys)
    assert 'voc_train.record: example ' in line and 'has label value ' in line
    assert int(line.split('has label value ')[1].split(',')[0]) in (6, 8, 15, 20)
    assert 'outside 0..4 and the void 255' in line


def test_resuming_with_another_variant_is_one_line_and_leaves_the_model_folder_as_it_was(records, tmp_path, capsys):
    model_dir = tmp_path / 'model'
    assert run_cli(train.main, ['--model_dir', str(model_dir), '--data_dir', records, '--max_iter', '1', *TINY]) == 0
    params = (model_dir / 'deeplab_params.json').read_text()
    files = sorted(os.listdir(model_dir))
    capsys.readouterr()
    argv = ['--model_dir', str(model_dir), '--data_dir', records, '--max_iter', '2', *TINY,
            '--model_variant', 'resnet_v2_101']
    assert run_cli(train.main, argv) == 2
    line = last_error_line(capsys)
    assert 'does not match the model' in line and 'resnet_v2_101/' in line
    assert (model_dir / 'deeplab_params.json').read_text() == params
    assert sorted(os.listdir(model_dir)) == files


def test_a_missing_data_dir_writes_nothing(tmp_path, capsys):
    model_dir = tmp_path / 'model'
    argv = ['--model_dir', str(model_dir), '--data_dir', str(tmp_path / 'nowhere'), *TINY]
    assert run_cli(train.main, argv) == 2
    assert 'nowhere: record folder not found' in capsys.readouterr().err
    assert not model_dir.exists()


def test_warm_starting_from_a_v3plus_checkpoint_takes_its_decoder_unless_its_description_leaves_it_out(
        records, tmp_path, capsys):
    """The structure of a pre-trained model with a head comes from its variables (no flag needed); a description
    beside it that leaves the decoder out is refused, naming the flag."""
    params = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', decoder_output_stride=4)
    zoo = tmp_path / 'zoo'
    write_random_checkpoint(str(zoo), params)
    argv = ['--data_dir', records, '--max_iter', '1', '--pre_trained_model', tf.train.latest_checkpoint(str(zoo)),
            *TINY]
    assert run_cli(train.main, ['--model_dir', str(tmp_path / 'v3plus'), *argv]) == 0
    assert json.loads((tmp_path / 'v3plus' / 'deeplab_params.json').read_text())['decoder_output_stride'] == 4
    save_model_params(str(zoo), resolve_model_params(dict(params, decoder_output_stride=None)))
    assert run_cli(train.main, ['--model_dir', str(tmp_path / 'model'), *argv]) == 2
    line = last_error_line(capsys)
    assert 'model variables the chosen model does not use (decoder/' in line
    assert line.endswith('it was trained with --decoder_output_stride 4: pass it')
    assert not (tmp_path / 'model').exists()


def test_periodic_evaluation_pads_like_evaluate_py(records, tmp_path):
    """The Estimator's evaluation pads each image to --eval_crop_size, so it scores what evaluate.py scores."""
    import preprocessing
    from utils.postprocess.metrics import confusion_matrix, mean_iou
    from utils.runtime.predict import CheckpointPredictor
    params = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', num_classes=21)
    model_dir = str(tmp_path / 'model')
    write_random_checkpoint(model_dir, params)
    pairs = [(features['image'][0].astype(np.uint8), label[0, ..., 0]) for features, label in
             preprocessing.input_fn(records, False, 1).as_numpy_iterator()]
    for crop in ([257, 257], None):
        predictor = CheckpointPredictor(model_dir, params, deeplab_model.predict_probabilities, eval_crop_size=crop)
        expected = mean_iou(sum(confusion_matrix(label, predictor(image)[0], 21) for image, label in pairs))
        predictor.close()
        estimator = tf.estimator.Estimator(deeplab_model.model_fn, model_dir, params=dict(params, eval_crop_size=crop))
        scores = estimator.evaluate(lambda: preprocessing.input_fn(records, False, 1))
        assert scores['miou'] == pytest.approx(expected, abs=1e-6), crop


def test_the_scale_flags_reach_the_training_augmentation(records, tmp_path):
    """--min_scale 0.25 --max_scale 0.25 (neither a default) shrinks every training image to a quarter: in a crop
    larger than that, the image fills exactly round(h/4) x round(w/4) pixels at the top (round half to even, as
    TensorFlow) and the rest is padding (image at the pad value, label void)."""
    import preprocessing
    from utils.records.tfrecords import find_records
    from utils.runtime import training
    args = train.build_parser().parse_args(
        ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--batch_size', '1', '--crop_size', '48', '48',
         '--min_scale', '0.25', '--max_scale', '0.25', '--seed', '3', '--num_classes', '21'])
    params = train.training_params(args)
    pad = preprocessing.pad_value(params['input_normalization'])
    filled = []
    batches = training.train_input(train.training_run(args), params, 1, args.seed, preprocessing.input_fn)()
    for features, label in batches.as_numpy_iterator():
        content = (features['image'][0] != pad).any(axis=-1) | (label[0, ..., 0] != 255)
        rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
        assert rows[-1] + 1 == rows.size and np.ptp(cols) + 1 == cols.size
        assert content.sum() == rows.size * cols.size
        filled.append((rows.size, cols.size))
    sizes = [preprocessing.parse_record(serialized)[0].shape[:2]
             for serialized in tf.data.TFRecordDataset(find_records(records, 'train'))]
    assert sorted(filled) == sorted((int(np.round(h / 4)), int(np.round(w / 4))) for h, w in sizes)


@pytest.mark.parametrize('power', [0.9, 2.0])
def test_learning_power_shapes_the_poly_decay(power):
    """--learning_power reaches the optimiser: halfway through, (1 - 1/2) ** power of the way from end to start."""
    args = train.build_parser().parse_args(['--learning_power', str(power), '--initial_learning_rate', '0.5',
                                            '--end_learning_rate', '0.1'])
    params = dict(train.training_params(args), max_iter=10)
    with tf.Graph().as_default():
        weight = tf1.get_variable('w', [], initializer=tf1.ones_initializer())
        _, learning_rate = deeplab_model._train_op(weight * weight, params)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(tf1.train.get_global_step().assign(5))
            assert sess.run(learning_rate) == pytest.approx(0.1 + 0.4 * 0.5 ** power)


def test_slow_start_runs_its_rate_then_decays_over_the_remaining_steps():
    """--slow_start_step/--slow_start_learning_rate reach the optimiser as upstream's slow start: the low rate
    for the first steps, then poly from the initial rate over the steps left."""
    args = train.build_parser().parse_args(['--slow_start_step', '4', '--slow_start_learning_rate', '0.01',
                                            '--initial_learning_rate', '0.5', '--end_learning_rate', '0.1',
                                            '--learning_power', '1'])
    params = dict(train.training_params(args), max_iter=12)
    with tf.Graph().as_default():
        weight = tf1.get_variable('w', [], initializer=tf1.ones_initializer())
        _, learning_rate = deeplab_model._train_op(weight * weight, params)
        step = tf1.placeholder(tf.int64, [])
        assign = tf1.train.get_global_step().assign(step)
        rates = []
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            for value in (0, 3, 4, 8, 12):
                sess.run(assign, {step: value})
                rates.append(sess.run(learning_rate))
    assert rates == pytest.approx([0.01, 0.01, 0.5, 0.3, 0.1])


@pytest.mark.parametrize('steps', ['5', '-1'])
def test_a_slow_start_as_long_as_training_or_negative_is_refused(records, tmp_path, capsys, steps):
    code = run_cli(train.main, ['--model_dir', str(tmp_path / 'model'), '--data_dir', records, '--max_iter', '5',
                                '--slow_start_step', steps, *TINY])
    assert code == 2
    assert f'--slow_start_step {steps}: must be 0 or more and fewer than the 5 training steps' in \
        capsys.readouterr().err
    assert not (tmp_path / 'model').exists()


def test_a_record_set_of_exactly_one_batch_trains_and_a_smaller_one_is_refused():
    from utils.common.errors import UserError
    from utils.runtime import training
    assert training.steps_per_epoch(4, 4, 'voc_train.record') == 1
    assert training.steps_per_epoch(9, 4, 'voc_train.record') == 2
    with pytest.raises(UserError, match='voc_train.record: 3 training examples, fewer than --batch_size 4'):
        training.steps_per_epoch(3, 4, 'voc_train.record')


@pytest.mark.parametrize('flags, steps, seconds, keep', [([], None, 600, 3),
                                                         (['--save_checkpoints_steps', '25'], 25, None, 3),
                                                         (['--save_checkpoints_secs', '60', '--keep_checkpoints', '7'],
                                                          None, 60, 7)])
def test_the_checkpoint_flags_reach_the_estimator(flags, steps, seconds, keep):
    """--save_checkpoints_steps replaces the every-600-seconds default (the Estimator takes one or the other), and
    --keep_checkpoints sets how many are kept."""
    from utils.runtime import distribute, training
    args = train.build_parser().parse_args(['--model_dir', 'm', '--data_dir', 'd', *flags])
    config = training.run_config(train.training_run(args), distribute.plan())
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs, config.keep_checkpoint_max) == (
        steps, seconds, keep)


def test_the_input_functions_get_the_models_normalisation_and_classes():
    """The padding of training crops and the label check follow the model: its normalisation and class count reach
    both input functions."""
    from utils.runtime import training
    calls = []

    def input_fn(*args, **kwargs):
        calls.append((args, kwargs))

    args = train.build_parser().parse_args(['--model_dir', 'm', '--data_dir', 'd', '--crop_size', '65', '97'])
    run, params = train.training_run(args), {'input_normalization': 'mean_subtraction', 'num_classes': 5}
    training.train_input(run, params, 2, 7, input_fn)()
    training.eval_input(run, params, input_fn)()
    (train_args, train_kwargs), (eval_args, eval_kwargs) = calls
    assert train_args[:6] == ('d', True, 10, 2, (65, 97), 'mean_subtraction') and train_kwargs['num_classes'] == 5
    assert eval_args[:2] == ('d', False) and eval_args[5] == 'mean_subtraction' and eval_kwargs['num_classes'] == 5


def test_the_model_folder_is_emptied_only_with_clean_model_dir(tmp_path):
    from utils.runtime import training
    (tmp_path / 'model').mkdir()
    (tmp_path / 'model' / 'checkpoint').write_text('model_checkpoint_path: "model.ckpt-5"\n')
    training.check_model_dir(str(tmp_path / 'model'), clean=False)
    assert os.listdir(tmp_path / 'model') == ['checkpoint']
    training.check_model_dir(str(tmp_path / 'model'), clean=True)
    assert os.listdir(tmp_path / 'model') == []
    training.check_model_dir(str(tmp_path / 'new'), clean=False)
    assert os.path.isdir(tmp_path / 'new')
