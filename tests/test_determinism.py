"""Seeded training is repeatable: two runs of the same tiny configuration end in bit-identical checkpoints.

Run as the demo runs train.py: in-process, with --deterministic (TensorFlow's op determinism while training).
"""
import numpy as np
import pytest
import tensorflow as tf
from conftest import write_demo_records

import deeplab_model
import train
from utils.common.errors import run_cli
from utils.runtime.checkpoints import checkpoint_values

TINY = ['--model_variant', 'resnet_v2_50', '--batch_size', '2', '--crop_size', '33', '33', '--max_iter', '3',
        '--no_eval', '--log_every_n_steps', '1', '--initial_learning_rate', '0.02', '--batch_norm_decay', '0.9']


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_demo_records(tmp_path_factory, 6, 1)


def differing(a, b):
    assert sorted(a) == sorted(b)
    return [name for name in a if not np.array_equal(a[name], b[name])]


def test_two_seeded_trainings_give_bit_identical_checkpoints(records, tmp_path, monkeypatch):
    from tensorflow.python.framework import config

    import preprocessing
    determinism = []  # op determinism as each training cycle's input pipeline is built
    original = preprocessing.input_fn
    monkeypatch.setattr(preprocessing, 'input_fn',
                        lambda *a, **k: determinism.append(config.is_op_determinism_enabled()) or original(*a, **k))
    model_dirs = [str(tmp_path / name) for name in ('first', 'second')]
    for model_dir in model_dirs:
        argv = ['--model_dir', model_dir, '--data_dir', records, '--seed', '1', '--deterministic', *TINY]
        assert run_cli(train.main, argv) == 0
    assert determinism == [True, True] and not config.is_op_determinism_enabled()  # on for training only
    first, second = (checkpoint_values(d) for d in model_dirs)
    assert first['global_step'] == 3 and len(first) > 400
    assert differing(first, second) == []
    # not vacuous: the 3 steps changed the weights since the Estimator's step-0 checkpoint
    start = checkpoint_values(tf.train.get_checkpoint_state(model_dirs[0]).all_model_checkpoint_paths[0])
    assert start['global_step'] == 0
    assert len(differing(first, start)) > 300


def _replayed_weights(argv, replays, steps=3):
    """Final global variables of `steps` seeded training steps (fixed random batches) replayed from the start in
    `replays` fresh sessions of one graph, under train.py's session config and op determinism for `argv`."""
    from utils.runtime import distribute, training
    args = train.build_parser().parse_args(argv)
    params = train.training_params(args)
    params['max_iter'] = steps
    rng = np.random.RandomState(0)
    height, width = args.crop_size
    batches = [(rng.randint(0, 256, (args.batch_size, height, width, 3)).astype(np.float32),
                rng.randint(0, 21, (args.batch_size, height, width, 1)).astype(np.int32)) for _ in range(steps)]
    config = training.run_config(train.training_run(args), distribute.plan()).session_config
    tf.compat.v1.Session(graph=tf.Graph()).close()  # the process's shared pool exists first, as in the demo
    graph = tf.Graph()
    with graph.as_default(), training.op_determinism(True):
        tf.compat.v1.set_random_seed(args.seed)
        images = tf.compat.v1.placeholder(tf.float32, batches[0][0].shape)
        labels = tf.compat.v1.placeholder(tf.int32, batches[0][1].shape)
        spec = deeplab_model.model_fn({'image': images}, labels, tf.estimator.ModeKeys.TRAIN, params)
        variables = tf.compat.v1.global_variables()
        replayed = []
        for _ in range(replays):  # a fresh session restarts the seeded initialisers and dropout
            with tf.compat.v1.Session(graph=graph, config=config) as sess:
                sess.run([tf.compat.v1.global_variables_initializer(), tf.compat.v1.local_variables_initializer()])
                for image, label in batches:
                    sess.run(spec.train_op, {images: image, labels: label})
                replayed.append(dict(zip((v.op.name for v in variables), sess.run(variables))))
    return replayed


def test_deterministic_training_steps_repeat_whatever_the_thread_timing(tmp_path):
    """Op determinism alone is not enough on the CPU: TensorFlow's AddN adds its inputs starting from whichever
    input buffer it may reuse, which depends on the order in which other ops finished. Without oneDNN, 12
    replays of 3 steps ended in 11 different results, parting at the sum of the five ASPP branches' gradients.
    --deterministic therefore runs the graph's ops one at a time, in a thread pool of the session's own (the
    process-wide pool has the size its first session gave it); each op still uses every core."""
    argv = ['--model_dir', str(tmp_path), '--data_dir', str(tmp_path), '--num_classes', '21', '--seed', '1',
            '--deterministic', *TINY]
    first, *others = _replayed_weights(argv, replays=6)
    assert first['global_step'] == 3
    assert [differing(first, other) for other in others] == [[]] * 5


@pytest.mark.parametrize('flags, threads', [([], 0), (['--deterministic'], 1), (['--inter_op_threads', '3'], 3),
                                            (['--deterministic', '--inter_op_threads', '2'], 2)])
def test_inter_op_threads_default_to_one_under_deterministic_in_a_pool_of_the_sessions_own(flags, threads):
    from utils.runtime import distribute, training
    args = train.build_parser().parse_args(['--model_dir', 'm', '--data_dir', 'd', '--seed', '1', *flags])
    config = training.run_config(train.training_run(args), distribute.plan()).session_config
    assert config.inter_op_parallelism_threads == threads
    assert [pool.num_threads for pool in config.session_inter_op_thread_pool] == ([threads] if threads else [])


def test_deterministic_needs_a_seed(records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'm'), '--data_dir', records, '--deterministic', *TINY]
    assert run_cli(train.main, argv) == 2
    assert capsys.readouterr().err.strip() == 'error: --deterministic needs --seed (op determinism refuses ' \
        'unseeded random ops)'
    assert not (tmp_path / 'm').exists()
