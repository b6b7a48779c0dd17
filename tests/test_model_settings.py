"""No model setting is lost silently: every flag is honoured or refused, a checkpoint prefix brings its folder's
model description, checkpoints with unused model variables are refused, heads start as upstream's."""
import json

import numpy as np
import pytest
import tensorflow as tf

import deeplab_model
from nets import layers
from utils.cli.flags import add_model_flags, model_params, parser_for
from utils.common.errors import UserError
from utils.runtime.checkpoints import unused_variables
from utils.runtime.model_config import MODEL_DEFAULTS, PARAMS_FILE, resolve_model_params, save_model_params

tf1 = tf.compat.v1


def params_from(*argv, model_dir=None):
    parser = parser_for('test')
    parser.add_argument('--model_dir', default=model_dir)
    add_model_flags(parser)
    return model_params(parser.parse_args(list(argv)))


def test_multi_grid_is_defined_once_per_backbone_and_recorded_as_built():
    assert params_from()['multi_grid'] == [1, 2, 4]
    assert params_from('--model_variant', 'xception_65')['multi_grid'] == [1, 1, 1]
    assert params_from('--model_variant', 'xception_65', '--multi_grid', '1', '2', '4')['multi_grid'] == [1, 2, 4]


def test_a_new_variant_brings_its_own_multi_grid_over_the_saved_one(tmp_path):
    save_model_params(str(tmp_path), params_from('--model_variant', 'resnet_v2_50'))
    assert params_from('--model_variant', 'xception_65', model_dir=str(tmp_path))['multi_grid'] == [1, 1, 1]
    assert params_from(model_dir=str(tmp_path))['multi_grid'] == [1, 2, 4]


@pytest.mark.parametrize('change, message', [
    ({'decoder_output_stride': 8}, '--decoder_output_stride 8: the decoder is built at stride 4'),
    ({'output_stride': 32}, '--output_stride 32: resnet_v2_101 reaches 8 or 16'),
    ({'multi_grid': [1, 2]}, '--multi_grid takes three positive integers'),
    ({'atrous_rates': [6, 0, 18]}, '--atrous_rates takes three positive integers'),
    ({'model_variant': 'xception_65', 'input_normalization': 'mean_subtraction'}, 'xception_65 takes inception'),
    ({'num_classes': 256}, '--num_classes 256: between 2 and 255 classes'),
    ({'num_classes': 1}, '--num_classes 1: between 2 and 255 classes'),
    ({'batch_norm_decay': 1.0}, '--batch_norm_decay 1.0 must be between 0 and 1'),
    ({'batch_norm_decay': 0.0}, '--batch_norm_decay 0.0 must be between 0 and 1'),
])
def test_settings_the_model_cannot_build_are_refused(change, message):
    with pytest.raises(UserError, match=message):
        resolve_model_params(dict(MODEL_DEFAULTS, **change))


@pytest.mark.parametrize('change', [{'num_classes': 255}, {'num_classes': 2}, {'batch_norm_decay': 0.99999}])
def test_the_limits_themselves_are_accepted(change):
    """255 classes (0..254 beside the void 255), 2 classes, a decay just below 1 are models that can be built."""
    resolved = resolve_model_params(dict(MODEL_DEFAULTS, **change))
    assert {key: resolved[key] for key in change} == change


def test_batch_norm_follows_the_freeze_and_decay_settings():
    """deeplab_model.batch_norm_config: batch statistics and trained beta/gamma in training unless
    --freeze_batch_norm, --batch_norm_decay for the moving averages (DeepLab's 0.9997 by default), the global batch's
    statistics unless --no_sync_batch_norm, folded into the convolutions in inference graphs."""
    config = deeplab_model.batch_norm_config
    assert config({}, training=True) == layers.BatchNorm(training=True, trainable=True, decay=0.9997, epsilon=1e-5,
                                                         sync=True, fold=False)
    assert config({'freeze_batch_norm': True}, training=True)[:2] == (False, False)
    assert config({'freeze_batch_norm': False, 'batch_norm_decay': 0.99}, training=True).decay == 0.99
    assert config({'sync_batch_norm': False}, training=True).sync is False
    assert config({}, training=False)[:2] == (False, True) and config({}, training=False).fold


def test_the_decoder_flag_takes_stride_4_only(capsys):
    with pytest.raises(SystemExit) as exit_info:
        params_from('--decoder_output_stride', '8')
    assert exit_info.value.code == 2 and "invalid choice: 8 (choose from 4)" in capsys.readouterr().err


def test_a_checkpoint_prefix_reads_the_model_description_of_its_folder(tmp_path):
    trained = params_from('--model_variant', 'resnet_v2_50', '--output_stride', '8', '--decoder_output_stride', '4',
                          '--input_normalization', 'mean_subtraction')
    save_model_params(str(tmp_path), trained)
    from_prefix = params_from(model_dir=str(tmp_path / 'model.ckpt-27000'))
    assert from_prefix == trained
    assert from_prefix['atrous_rates'] == [12, 24, 36]


def test_the_saved_description_holds_the_model_keys_only(tmp_path):
    save_model_params(str(tmp_path), dict(params_from(), initial_learning_rate=0.1))
    assert set(json.loads((tmp_path / PARAMS_FILE).read_text())) == set(MODEL_DEFAULTS)


def test_an_unreadable_description_is_a_user_error(tmp_path):
    (tmp_path / PARAMS_FILE).write_text('{not json')
    with pytest.raises(UserError, match=f'{PARAMS_FILE}: unreadable model description'):
        params_from(model_dir=str(tmp_path))


def test_training_state_is_not_an_unused_model_variable():
    graph = tf.Graph()
    with graph.as_default():
        used = [tf1.get_variable('logits/semantic/weights', [1])]
    stored = {'logits/semantic/weights': [1], 'logits/semantic/weights/Momentum': [1], 'global_step': [],
              'decoder/feature_projection0/weights': [1, 1, 256, 48]}
    assert unused_variables(stored, used) == ['decoder/feature_projection0/weights']


def test_train_miou_is_over_the_recent_window_not_since_the_start():
    with tf.Graph().as_default():
        check_recent_window()


def check_recent_window():
    labels, good, bad = tf1.placeholder(tf.int32, [4]), tf.constant([0, 1, 0, 1]), tf.constant([1, 0, 1, 0])
    use_good = tf1.placeholder(tf.bool, [])
    confusion = deeplab_model.recent_confusion(labels, tf.where(use_good, good, bad), tf.ones([4]), 2, window=5)
    miou, accuracy = deeplab_model.confusion_scores(confusion)
    with tf1.Session() as sess:
        sess.run(tf1.local_variables_initializer())
        for _ in range(50):
            sess.run(confusion, {labels: [0, 1, 0, 1], use_good: True})
        after_good = sess.run(miou, {labels: [0, 1, 0, 1], use_good: True})
        for _ in range(25):
            sess.run(confusion, {labels: [0, 1, 0, 1], use_good: False})
        after_bad = sess.run([miou, accuracy], {labels: [0, 1, 0, 1], use_good: False})
    assert after_good == pytest.approx(1.0)
    assert after_bad[0] < 0.01 and after_bad[1] < 0.01  # a running mean since the start would still be 2/3


def test_fresh_heads_start_as_upstream_model_py():
    params = resolve_model_params(dict(MODEL_DEFAULTS, model_variant='xception_65', decoder_output_stride=4))
    expected = {'logits/semantic/weights': 0.01, 'decoder/decoder_conv0_depthwise/depthwise_weights': 0.33,
                'decoder/decoder_conv0_pointwise/weights': 0.06, 'aspp1_depthwise/depthwise_weights': 0.33,
                'aspp1_pointwise/weights': 0.06,
                'xception_65/middle_flow/block1/unit_1/xception_module/separable_conv1_pointwise/weights': 0.09}
    with tf.Graph().as_default():
        tf1.set_random_seed(0)
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 65, 65, 3]), params, training=False)
        variables = [v for v in tf1.global_variables() if v.op.name in {*expected, 'aspp0/weights'}]
        with tf1.Session() as sess:
            sess.run(tf1.variables_initializer(variables))
            values = {v.op.name: sess.run(v) for v in variables}
    truncated = 0.8796  # the standard deviation of a unit normal truncated at two standard deviations
    for name, stddev in expected.items():
        assert values[name].std() == pytest.approx(stddev * truncated, rel=0.1), name
        assert np.abs(values[name]).max() <= 2 * stddev, name
    glorot = np.sqrt(2.0 / (2048 + 256))  # slim's default for the other head convs: uniform, var 2/(in+out)
    assert values['aspp0/weights'].std() == pytest.approx(glorot, rel=0.05)
