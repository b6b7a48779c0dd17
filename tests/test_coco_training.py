"""COCO records through the suite: train.py takes the class count from them, evaluate.py scores with COCO class
names, and a COCO model fine-tunes on VOC with its logits kept (21 classes) or re-initialised (81)."""
import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_coco, write_demo_records

import create_coco_tf_record
import evaluate
import train
from utils.common.errors import run_cli
from utils.runtime.model_config import saved_model_params

TINY = ['--model_variant', 'resnet_v2_50', '--batch_size', '2', '--crop_size', '33', '33', '--no_eval',
        '--log_every_n_steps', '1', '--seed', '1']
FROZEN = ['--max_iter', '1', '--initial_learning_rate', '0', '--end_learning_rate', '0', '--freeze_batch_norm']
LOGITS = 'logits/semantic/weights'


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    """COCO records with VOC classes and with all classes, and the val label PNGs: {name: folder}."""
    root = str(tmp_path_factory.mktemp('coco'))
    flags = write_coco(root)
    out = {'val_images': flags[5], 'labels': os.path.join(root, 'labels')}
    for mode in ('voc', 'all'):
        out[mode] = os.path.join(root, f'records_{mode}')
        argv = [*flags, '--data_dir', out[mode], '--classes', mode, '--num_workers', '1']
        if mode == 'all':
            argv += ['--label_output_dir', out['labels']]
        assert run_cli(create_coco_tf_record.main, argv) == 0
    return out


@pytest.fixture(scope='module')
def voc_records(tmp_path_factory):
    return write_demo_records(tmp_path_factory, 4, 2)


def train_model(model_dir, data_dir, *extra):
    assert run_cli(train.main, ['--model_dir', str(model_dir), '--data_dir', data_dir, *TINY, *extra]) == 0
    return tf.train.latest_checkpoint(str(model_dir))


def model_values(checkpoint, prefix=''):
    """{name: value} of the checkpoint's model variables (optimizer slots and the step left out)."""
    return {name: tf.train.load_variable(checkpoint, name) for name, _ in tf.train.list_variables(checkpoint)
            if name.startswith(prefix) and 'Momentum' not in name and name != 'global_step'}


def test_21_class_coco_model_fine_tunes_on_voc_keeping_every_variable(coco, voc_records, tmp_path):
    coco_ckpt = train_model(tmp_path / 'coco', coco['voc'], '--max_iter', '1')
    assert saved_model_params(str(tmp_path / 'coco'))['num_classes'] == 21
    tuned = train_model(tmp_path / 'voc', voc_records, '--pre_trained_model', str(tmp_path / 'coco'), *FROZEN)
    before, after = model_values(coco_ckpt), model_values(tuned)
    assert sorted(before) == sorted(after) and after[LOGITS].shape == (1, 1, 256, 21)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_81_class_coco_model_is_scored_with_coco_names_and_fine_tunes_with_fresh_logits(coco, voc_records, tmp_path,
                                                                                       caplog):
    coco_dir = tmp_path / 'coco'
    coco_ckpt = train_model(coco_dir, coco['all'], '--max_iter', '1')
    assert saved_model_params(str(coco_dir))['num_classes'] == 81

    scores = tmp_path / 'scores.json'
    argv = ['--image_data_dir', coco['val_images'], '--label_data_dir', coco['labels'], '--image_list',
            os.path.join(coco['labels'], 'val.txt'), '--model_dir', str(coco_dir), '--eval_crop_size', '65', '81',
            '--output_json', str(scores)]
    assert run_cli(evaluate.main, argv) == 0
    per_class = json.loads(scores.read_text())['per_class_iou']
    assert len(per_class) == 81 and list(per_class)[:3] == ['background', 'person', 'bicycle']

    caplog.set_level(logging.INFO, logger='tensorflow')
    tuned = train_model(tmp_path / 'voc', voc_records, '--pre_trained_model', str(coco_dir), *FROZEN)
    assert 'are for 81 classes, the model has 21: logits/semantic/weights and logits/semantic/biases ' \
           're-initialised' in caplog.text
    before, after = model_values(coco_ckpt), model_values(tuned)
    assert before[LOGITS].shape == (1, 1, 256, 81) and after[LOGITS].shape == (1, 1, 256, 21)
    kept = [name for name in before if not name.startswith('logits/')]
    assert len(kept) > 270 and any(name.startswith('aspp') for name in kept)
    for name in kept:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
