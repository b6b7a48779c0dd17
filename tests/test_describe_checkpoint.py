"""describe_checkpoint.py: a published checkpoint is checked by its variable names and described for the
other scripts."""
import json
import os

import pytest
import tensorflow as tf

import describe_checkpoint
from utils.common.errors import run_cli

tf1 = tf.compat.v1


def save_variables(prefix, shapes):
    """A checkpoint holding zero variables of {name: shape}."""
    with tf.Graph().as_default():
        variables = [tf1.get_variable(name, shape, initializer=tf1.zeros_initializer())
                     for name, shape in shapes.items()]
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver(variables).save(sess, prefix, write_meta_graph=False)
    return prefix


def test_a_deeplab_checkpoint_gets_its_description(tmp_path, capsys):
    ckpt = save_variables(str(tmp_path / 'zoo' / 'model.ckpt'), {
        'xception_65/entry_flow/conv1_1/weights': [3, 3, 3, 32], 'decoder/feature_projection0/weights': [1, 1, 8, 4],
        'logits/semantic/weights': [1, 1, 256, 21]})
    assert run_cli(describe_checkpoint.main, ['--checkpoint', ckpt, '--expect_variant', 'xception_65']) == 0
    assert 'xception_65 + decoder, DeepLab model-zoo layout' in capsys.readouterr().out
    params = json.loads((tmp_path / 'zoo' / 'deeplab_params.json').read_text())
    assert (params['layout'], params['model_variant'], params['decoder_output_stride'], params['output_stride'],
            params['num_classes'], params['atrous_rates']) == ('deeplab', 'xception_65', 4, 8, 21, [12, 24, 36])


def test_an_original_project_checkpoint_is_named_as_such(tmp_path, capsys):
    ckpt = save_variables(str(tmp_path / 'original' / 'model.ckpt-30000'), {
        'resnet_v2_101/conv1/weights': [7, 7, 3, 64], 'aspp/conv_1x1_concat/weights': [1, 1, 1280, 256],
        'upsampling_logits/conv_1x1/weights': [1, 1, 256, 21]})
    assert run_cli(describe_checkpoint.main, ['--checkpoint', ckpt, '--output_stride', '16']) == 0
    assert "resnet_v2_101, original project's DeepLabv3 layout" in capsys.readouterr().out
    params = json.loads((tmp_path / 'original' / 'deeplab_params.json').read_text())
    assert (params['layout'], params['model_variant'], params['num_classes'], params['multi_grid'],
            params['input_normalization']) == ('original', 'resnet_v2_101', 21, [1, 1, 1], 'mean_subtraction')


def test_a_slim_checkpoint_is_checked_and_left_undescribed(tmp_path, capsys):
    ckpt = save_variables(str(tmp_path / 'resnet_v2_50.ckpt'), {'resnet_v2_50/conv1/weights': [7, 7, 3, 64],
                                                                'resnet_v2_50/logits/weights': [1, 1, 2048, 1001]})
    assert run_cli(describe_checkpoint.main, ['--checkpoint', ckpt, '--expect_variant', 'resnet_v2_50']) == 0
    assert 'resnet_v2_50, backbone only' in capsys.readouterr().out
    assert not os.path.exists(tmp_path / 'deeplab_params.json')


@pytest.mark.parametrize('expect, problem', [([], 'holds no known backbone'),
                                             (['--expect_variant', 'resnet_v2_101'], 'expected resnet_v2_101')])
def test_a_checkpoint_without_the_expected_variables_is_refused(tmp_path, capsys, expect, problem):
    names = {'foo/weights': [3]} if not expect else {'resnet_v2_50/conv1/weights': [3]}
    ckpt = save_variables(str(tmp_path / 'model.ckpt'), names)
    assert run_cli(describe_checkpoint.main, ['--checkpoint', ckpt, *expect]) == 2
    assert problem in capsys.readouterr().err


def test_a_checkpoint_of_two_backbones_is_refused(tmp_path, capsys):
    ckpt = save_variables(str(tmp_path / 'model.ckpt'), {'resnet_v2_50/conv1/weights': [3],
                                                         'xception_65/entry_flow/conv1_1/weights': [3]})
    assert run_cli(describe_checkpoint.main, ['--checkpoint', ckpt]) == 2
    assert 'holds several known backbone' in capsys.readouterr().err


def test_a_single_file_v1_checkpoint_is_read(tmp_path, capsys):
    """The 2017 slim tarballs may hold one resnet_v2_N.ckpt file in the old (V1) format."""
    with tf.Graph().as_default():
        weights = tf1.get_variable('resnet_v2_50/conv1/weights', [7, 7, 3, 64])
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver([weights], write_version=tf1.train.SaverDef.V1).save(
                sess, str(tmp_path / 'resnet_v2_50.ckpt'), write_meta_graph=False)
    assert os.path.isfile(tmp_path / 'resnet_v2_50.ckpt')
    assert run_cli(describe_checkpoint.main, ['--checkpoint', str(tmp_path / 'resnet_v2_50.ckpt')]) == 0
    assert 'resnet_v2_50, backbone only' in capsys.readouterr().out
    assert run_cli(describe_checkpoint.main, ['--checkpoint', str(tmp_path / 'missing.ckpt.index')]) == 2
