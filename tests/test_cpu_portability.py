"""Atrous convolutions train and predict on every CPU: with oneDNN off (no gradient kernel for dilated
tf.nn.conv2d, so space-to-batch) and on (native dilation), a training step runs and the same checkpoint gives
the same predictions, for ResNet-v2 (multi-grid block4 at output stride 8) and Xception-65 with the decoder."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, write_random_checkpoint

from utils.runtime.model_config import MODEL_DEFAULTS

NUM_CLASSES = 5
MODELS = {
    'resnet': dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', output_stride=8, multi_grid=[1, 2, 4],
                   atrous_rates=[12, 24, 36], num_classes=NUM_CLASSES),  # block3 rate 2, block4 4 8 16
    'xception': dict(MODEL_DEFAULTS, model_variant='xception_65', output_stride=16, decoder_output_stride=4,
                     num_classes=NUM_CLASSES),
}
TRAIN_PARAMS = {'initial_learning_rate': 1e-3, 'end_learning_rate': 0.0, 'max_iter': 10, 'momentum': 0.9}
# The ResNet training step keeps block3 rate 2 and block4 rates 4 8 16 but takes ASPP rates 2 4 6: on its 5x5
# feature map the defaults 12 24 36 reach only padding, and through space-to-batch reduce to 1x1 convolutions
# (nets.layers.reachable_taps), while 2 and 4 stay atrous. Prediction uses the full output-stride-8 defaults.
TRAIN_OVERRIDES = {'resnet': {'atrous_rates': [2, 4, 6]}, 'xception': {}}
# Random logits weights (stddev 0.01) leave Xception's probabilities near 1/5 everywhere; scaled after restoring
# (the same in both runs), they give distinct labels to compare.
LOGIT_SCALE = {'resnet': 1.0, 'xception': 100.0}
# The first layer's kernel, whose update comes back through every atrous convolution of the network.
FIRST_LAYER = {'resnet': 'resnet_v2_50/conv1/weights', 'xception': 'xception_65/entry_flow/conv1_1/weights'}
# Grappler stays on for ResNet, whose dilated Conv2D are the point (train.py's sessions run it); Xception's atrous
# convolutions are all depthwise, space-to-batch either way, and grappler would double its time here.
GRAPPLER = {'resnet': True, 'xception': False}
ATOL = 1e-4

# Run in a fresh interpreter, so TF_ENABLE_ONEDNN_OPTS is read by this TensorFlow: probabilities for a 37x45
# image from the model's checkpoint, then one model_fn training step (batch of two 33x33 crops) from there.
SCRIPT = r'''
import json, sys, time
import numpy as np
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
import deeplab_model
from nets import layers
from utils.runtime import checkpoints

tf1 = tf.compat.v1
models, train_params, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
result = {'mkl': bool(_pywrap_util_port.IsMklEnabled()), 'native': layers.native_dilation(),
          'gpus': len(tf.config.list_physical_devices('GPU'))}
arrays = {}
for name, spec in models.items():
    start = time.time()
    rng = np.random.RandomState(0)
    with tf.Graph().as_default() as graph:
        tf1.set_random_seed(0)
        # (b) the inference graph, restored from the shared checkpoint
        image = tf.constant(rng.uniform(0, 255, (1, 37, 45, 3)), tf.float32)
        probabilities = deeplab_model.predict_probabilities(image, spec['params'])
        restored = tf1.global_variables()
        # (a) a training graph on the same variables: model_fn in TRAIN mode, batch of two 33x33 crops
        params = dict(spec['params'], **train_params, **spec['train_overrides'])
        images = tf.constant(rng.uniform(0, 255, (2, 33, 33, 3)), tf.float32)
        labels = tf.constant(rng.randint(0, params['num_classes'], (2, 33, 33, 1)), tf.int32)
        with tf1.variable_scope(tf1.get_variable_scope(), reuse=tf1.AUTO_REUSE):
            estimator_spec = deeplab_model.model_fn({'image': images}, labels, tf.estimator.ModeKeys.TRAIN, params)
        dilated = [op.name for op in graph.get_operations()
                   if op.type.startswith('Conv2D') and max(op.get_attr('dilations')) > 1]
        fresh = [v for v in tf1.global_variables() if v not in restored]
        first = [v for v in restored if v.op.name == spec['first_layer']][0].read_value()
        config = tf1.ConfigProto()
        config.graph_options.rewrite_options.disable_meta_optimizer = not spec['grappler']
        with tf1.Session(config=config) as sess:
            tf1.train.Saver(restored).restore(sess, checkpoints.resolve_checkpoint(spec['model_dir']))
            logits_weights = [v for v in restored if v.op.name == 'logits/semantic/weights'][0]
            sess.run(logits_weights.assign(logits_weights * spec['logit_scale']))
            arrays[name] = sess.run(probabilities)[0]
            sess.run([tf1.variables_initializer(fresh), tf1.local_variables_initializer()])
            first_before = sess.run(first)
            loss, _ = sess.run([estimator_spec.loss, estimator_spec.train_op])
            first_after = sess.run(first)
    result[name] = {'loss': float(loss), 'dilated_conv2d': dilated, 'seconds': time.time() - start,
                    'first_layer_update': float(np.abs(first_after - first_before).max()),
                    'first_layer_finite': bool(np.isfinite(first_after).all())}
np.savez(out + '.npz', **arrays)
with open(out + '.json', 'w') as handle:
    json.dump(result, handle)
'''


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """{'0': (summary, probabilities), '1': ...}: both oneDNN settings, run side by side on one checkpoint per model."""
    root = tmp_path_factory.mktemp('portability')
    models = {}
    for name, params in MODELS.items():
        model_dir = root / name
        model_dir.mkdir()
        write_random_checkpoint(str(model_dir), params)
        models[name] = {'params': params, 'model_dir': str(model_dir), 'train_overrides': TRAIN_OVERRIDES[name],
                        'first_layer': FIRST_LAYER[name], 'grappler': GRAPPLER[name], 'logit_scale': LOGIT_SCALE[name]}
    processes = {}
    for onednn in ('0', '1'):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
        out = str(root / f'onednn_{onednn}')
        processes[onednn] = (out, subprocess.Popen(
            [sys.executable, '-c', SCRIPT, json.dumps(models), json.dumps(TRAIN_PARAMS), out],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = {onednn: process.communicate(timeout=600)[0] for onednn, (_, process) in processes.items()}
    results = {}
    for onednn, (out, process) in processes.items():
        assert process.returncode == 0, f'TF_ENABLE_ONEDNN_OPTS={onednn}:\n{outputs[onednn][-3000:]}'
        with open(out + '.json', encoding='utf-8') as handle:
            summary = json.load(handle)
        results[onednn] = summary, dict(np.load(out + '.npz'))
    shutil.rmtree(root)  # every result is in memory; the two random models take 300 MB
    return results


def test_each_run_had_onednn_as_asked_and_the_matching_convolution_path(runs):
    for onednn, (summary, _) in runs.items():
        assert summary['mkl'] == (onednn == '1')
        assert summary['gpus'] == 0
        assert summary['native'] == (onednn == '1')
        dilated = summary['resnet']['dilated_conv2d']
        if onednn == '1':
            assert any('block4/unit_1/bottleneck_v2/conv2' in name for name in dilated)  # rate 4 on 5x5
        else:
            assert dilated == []  # no dilated Conv2D: it would have no gradient kernel here


@pytest.mark.parametrize('onednn', ['0', '1'])
@pytest.mark.parametrize('model', sorted(MODELS))
def test_a_training_step_runs_with_a_finite_loss_and_updates_the_first_layer(runs, onednn, model):
    step = runs[onednn][0][model]
    assert np.isfinite(step['loss']) and step['loss'] > 0
    assert step['first_layer_finite'] and step['first_layer_update'] > 0


@pytest.mark.parametrize('model', sorted(MODELS))
def test_the_same_checkpoint_predicts_the_same_with_onednn_off_and_on(runs, model):
    off, on = runs['0'][1][model], runs['1'][1][model]
    assert off.shape == on.shape == (37, 45, NUM_CLASSES)
    np.testing.assert_allclose(off, on, rtol=0, atol=ATOL)
    top2 = np.sort(off, axis=2)[..., -2:]
    clear = top2[..., 1] - top2[..., 0] > 2 * ATOL  # labels of near-ties may flip within the tolerance
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(off.argmax(axis=2)[clear], on.argmax(axis=2)[clear])
    assert len(np.unique(off.argmax(axis=2))) > 1  # a random model that predicts something, not one flat class


def run_python(code, env):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize('user_value, expected', [(None, '1'), ('0', '0'), ('1', '1')])
def test_a_tensorflow_script_turns_onednn_on_unless_the_user_chose(user_value, expected):
    env = {k: v for k, v in os.environ.items() if k != 'TF_ENABLE_ONEDNN_OPTS'}
    if user_value is not None:
        env['TF_ENABLE_ONEDNN_OPTS'] = user_value
    assert run_python('import os, train; print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"))', env) == expected


def test_importing_the_library_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k not in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL')}
    code = ('import os, utils, utils.cli.flags, utils.postprocess.crf, utils.data.voc; '
            'print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), os.environ.get("TF_CPP_MIN_LOG_LEVEL"))')
    assert run_python(code, env) == 'None None'
