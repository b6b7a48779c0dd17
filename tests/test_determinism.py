"""Seeded training is repeatable: two runs of the same tiny configuration end in bit-identical checkpoints.

Run as the demo runs train.py: in-process, with --deterministic (TensorFlow's op determinism while training).
"""
import numpy as np
import pytest
import tensorflow as tf

import train
from conftest import write_demo_records
from utils.checkpoints import checkpoint_values
from utils.errors import run_cli

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
    from utils import training
    determinism = []  # op determinism as each training cycle's input pipeline is built
    original = training.preprocessing.input_fn
    monkeypatch.setattr(training.preprocessing, 'input_fn',
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


def test_deterministic_needs_a_seed(records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'm'), '--data_dir', records, '--deterministic', *TINY]
    assert run_cli(train.main, argv) == 2
    assert capsys.readouterr().err.strip() == 'error: --deterministic needs --seed (op determinism refuses ' \
        'unseeded random ops)'
    assert not (tmp_path / 'm').exists()
