"""The helpers behind the upstream-compatible deeplab/eval.py, vis.py and train.py, called in process: the slow
script tests run them only in a subprocess, where their details go unchecked."""
import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from utils.common.errors import UserError
from utils.data.voc import PALETTE, read_image
from utils.upstream import run
from utils.upstream.data import link_as_training_split, unpack_split
from utils.upstream.flags import flag_table, usage
from utils.upstream.run import global_step, log_miou, logged_metrics, new_checkpoints, save_visualisation

TAG = 'eval/miou_1.0_overall'
SCORES = {'miou': 0.5, 'per_class_iou': {'background': 0.75, 'aeroplane': None, 'bicycle': 0.25}}


def _example(**features):
    """A serialized tf.train.Example with these bytes features (feature name: bytes)."""
    return tf.train.Example(features=tf.train.Features(feature={
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])) for key, value in features.items()
    })).SerializeToString()


def _write_shards(folder, split, shards):
    """`split`-NNNNN-of-NNNNN.tfrecord files in `folder`, one per list of serialized examples; returns their paths."""
    paths = []
    for index, examples in enumerate(shards):
        paths.append(os.path.join(folder, f'{split}-{index:05d}-of-{len(shards):05d}.tfrecord'))
        with tf.io.TFRecordWriter(paths[-1]) as writer:
            for example in examples:
                writer.write(example)
    return paths


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


# unpack_split: a split's records as image and label files

VAL = [
    [_example(**{'image/encoded': b'image-0', 'image/filename': b'JPEGImages/2007_000033', 'image/format': b'jpeg',
                 'image/segmentation/class/encoded': b'label-0'}),
     _example(**{'image/encoded': b'image-1', 'image/format': b'PNG', 'label/encoded': b'label-1'})],
    [_example(**{'image/encoded': b'image-2', 'image/filename': b''}),
     _example(**{'image/encoded': b'image-3', 'image/format': b'gif', 'label/encoded': b'suite-label-3',
                 'image/segmentation/class/encoded': b'upstream-label-3'})],
]


@pytest.fixture
def val_dir(tmp_path):
    """Upstream val shards (2) beside a train shard, in tmp_path/records."""
    records = tmp_path / 'records'
    records.mkdir()
    _write_shards(str(records), 'val', VAL)
    _write_shards(str(records), 'train', [[_example(**{'image/encoded': b'train', 'image/filename': b'train'})]])
    return str(records)


def test_unpack_split_returns_the_folders_the_list_file_and_the_ids_in_record_order(val_dir, tmp_path):
    out = str(tmp_path / 'out')
    assert unpack_split(val_dir, 'val', out) == (
        os.path.join(out, 'images'), os.path.join(out, 'labels'), os.path.join(out, 'val.txt'),
        ['2007_000033', '000001', '000002', '000003'])
    assert (tmp_path / 'out' / 'val.txt').read_text(encoding='utf-8') == '2007_000033\n000001\n000002\n000003\n'


def test_unpack_split_names_images_by_filename_else_index_with_the_extension_of_their_format(val_dir, tmp_path):
    unpack_split(val_dir, 'val', str(tmp_path / 'out'))
    images = tmp_path / 'out' / 'images'
    assert sorted(os.listdir(images)) == ['000001.png', '000002.jpg', '000003.jpg', '2007_000033.jpg']
    assert [_read(images / name) for name in ('2007_000033.jpg', '000001.png', '000002.jpg', '000003.jpg')] == [
        b'image-0', b'image-1', b'image-2', b'image-3']


def test_unpack_split_writes_the_upstream_label_else_the_suite_label_and_none_when_absent(val_dir, tmp_path):
    unpack_split(val_dir, 'val', str(tmp_path / 'out'))
    labels = tmp_path / 'out' / 'labels'
    assert sorted(os.listdir(labels)) == ['000001.png', '000003.png', '2007_000033.png']
    assert [_read(labels / name) for name in ('2007_000033.png', '000001.png', '000003.png')] == [
        b'label-0', b'label-1', b'upstream-label-3']


def test_unpack_split_refuses_an_image_name_twice(tmp_path):
    records = str(tmp_path)
    _write_shards(records, 'val', [[_example(**{'image/encoded': b'1', 'image/filename': b'a/x'}),
                                    _example(**{'image/encoded': b'2', 'image/filename': b'b/x'})]])
    with pytest.raises(UserError) as error:
        unpack_split(records, 'val', str(tmp_path / 'out'))
    assert str(error.value) == f'--dataset_dir={records}: image name x occurs twice in split val'


def test_unpack_split_names_a_missing_split(val_dir, tmp_path):
    with pytest.raises(UserError, match='no test-NNNNN-of-NNNNN.tfrecord shards'):
        unpack_split(val_dir, 'test', str(tmp_path / 'out'))


# link_as_training_split: a split under the train-* names train.py reads

def test_link_as_training_split_links_each_shard_by_absolute_path_under_train_names(val_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'linked').mkdir()
    assert link_as_training_split('records', 'val', 'linked') == 'linked'
    names = ['train-00000-of-00002.tfrecord', 'train-00001-of-00002.tfrecord']
    assert sorted(os.listdir(tmp_path / 'linked')) == names
    for index, name in enumerate(names):
        assert os.readlink(tmp_path / 'linked' / name) == os.path.join(val_dir, f'val-{index:05d}-of-00002.tfrecord')
    assert sorted(os.listdir(tmp_path)) == ['linked', 'records']


# new_checkpoints: following a checkpoint folder

def _set_checkpoint(folder, step):
    """Make model.ckpt-`step` the latest checkpoint of `folder`, as a saver's `checkpoint` file names it."""
    (folder / f'model.ckpt-{step}.index').write_bytes(b'')
    (folder / 'checkpoint').write_text(f'model_checkpoint_path: "model.ckpt-{step}"\n'
                                       f'all_model_checkpoint_paths: "model.ckpt-{step}"\n')


@pytest.fixture
def polled(tmp_path, monkeypatch):
    """An empty checkpoint folder whose latest checkpoint moves along `states` (steps, None: no change) at each
    time.sleep, which is recorded; a sleep past the last state fails instead of waiting for ever."""
    sleeps, states = [], []

    def sleep(seconds):
        sleeps.append(seconds)
        if not states:
            raise AssertionError(f'waited again after {sleeps}')
        step = states.pop(0)
        if step is not None:
            _set_checkpoint(tmp_path, step)

    monkeypatch.setattr(run.time, 'sleep', sleep)
    return tmp_path, states, sleeps


def test_new_checkpoints_yields_each_new_checkpoint_max_count_times_waiting_between(polled, capsys):
    folder, states, sleeps = polled
    states += [10, None, 20]
    found = list(new_checkpoints(str(folder), 2, 7, '--max_number_of_evaluations'))
    assert found == [str(folder / 'model.ckpt-10'), str(folder / 'model.ckpt-20')]
    assert sleeps == [1, 7, 7]  # 1 s until a first checkpoint, then the interval
    assert capsys.readouterr() == ('', '')


def test_new_checkpoints_with_one_pass_takes_the_checkpoint_already_there(polled, capsys):
    folder, states, sleeps = polled
    _set_checkpoint(folder, 30000)
    assert list(new_checkpoints(str(folder), 1, 5, '--max_number_of_iterations')) == [str(folder / 'model.ckpt-30000')]
    assert sleeps == []
    assert capsys.readouterr() == ('', '')


@pytest.mark.parametrize('max_count', [0, -1])
def test_new_checkpoints_follows_for_ever_at_zero_and_says_so_on_stderr(polled, capsys, max_count):
    folder, states, sleeps = polled
    _set_checkpoint(folder, 1)
    states += [2, 3]
    checkpoints = new_checkpoints(str(folder), max_count, 3, '--max_number_of_evaluations')
    assert [next(checkpoints) for _ in range(3)] == [str(folder / f'model.ckpt-{step}') for step in (1, 2, 3)]
    checkpoints.close()
    assert sleeps == [3, 3]
    assert capsys.readouterr() == ('', (
        f'--max_number_of_evaluations={max_count}: following new checkpoints in {folder} until interrupted, as '
        'upstream (give --max_number_of_evaluations=1 for one pass)\n'))


# global_step, logged_metrics and log_miou: what eval.py logs

def test_global_step_is_the_number_after_the_last_dash_else_zero():
    assert global_step('/runs/x-7/model.ckpt-30000') == 30000
    assert global_step('model.ckpt-5') == 5
    assert global_step('model.ckpt') == 0
    assert global_step('model.ckpt-5.index') == 0


def test_logged_metrics_are_the_miou_then_each_class_iou_under_the_tags_prefix_nan_when_undefined():
    metrics = logged_metrics(SCORES, TAG)
    assert [name for name, _ in metrics] == [TAG, 'eval/miou_1.0_class_0', 'eval/miou_1.0_class_1',
                                             'eval/miou_1.0_class_2']
    assert [metrics[0][1], metrics[1][1], metrics[3][1]] == [0.5, 0.75, 0.25]
    assert math.isnan(metrics[2][1])
    assert [name for name, _ in logged_metrics(SCORES, 'eval/miou_0.5_1.0_flipped_overall')][1] == \
        'eval/miou_0.5_1.0_flipped_class_0'


def test_log_miou_prints_writes_summaries_at_the_checkpoint_step_and_returns_the_miou(tmp_path, capsys):
    json_path = tmp_path / 'scores.json'
    json_path.write_text(json.dumps(SCORES), encoding='utf-8')
    logdir = tmp_path / 'eval'
    assert log_miou(str(json_path), TAG, str(logdir), '/train/model.ckpt-1234') == 0.5
    assert capsys.readouterr().out == (
        'eval/miou_1.0_overall[0.5]\neval/miou_1.0_class_0[0.75]\neval/miou_1.0_class_1[nan]\n'
        'eval/miou_1.0_class_2[0.25]\n')
    events = [event for path in glob.glob(str(logdir / 'events.out.tfevents.*'))
              for event in tf.compat.v1.train.summary_iterator(path) if event.HasField('summary')]
    assert len(events) == 1 and events[0].step == 1234
    values = [(value.tag, value.simple_value) for value in events[0].summary.value]
    assert [tag for tag, _ in values] == [TAG, 'eval/miou_1.0_class_0', 'eval/miou_1.0_class_1',
                                          'eval/miou_1.0_class_2']
    assert [values[0][1], values[1][1], values[3][1]] == [0.5, 0.75, 0.25]
    assert math.isnan(values[2][1])


# save_visualisation: vis.py's PNGs

@pytest.fixture
def predicted(tmp_path):
    """Two images (PNG and JPEG) and inference.py's label maps for them; returns (image dir, result dir, labels)."""
    images, results = tmp_path / 'images', tmp_path / 'results'
    images.mkdir()
    results.mkdir()
    rng = np.random.default_rng(0)
    labels = {}
    for image_id, extension in (('b', '.png'), ('a', '.jpg')):
        Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(images / (image_id + extension))
        labels[image_id] = rng.choice(np.array([0, 1, 15, 20, 255], dtype=np.uint8), (6, 5))
        Image.fromarray(labels[image_id]).save(results / f'{image_id}.png')
    return str(images), str(results), labels


@pytest.mark.parametrize('raw', [False, True])
def test_save_visualisation_numbers_images_and_palette_predictions_in_id_order(predicted, tmp_path, raw):
    image_dir, result_dir, labels = predicted
    logdir = tmp_path / 'vis'
    (logdir / 'segmentation_results').mkdir(parents=True)  # a folder of an earlier run is reused
    save_visualisation(str(logdir), image_dir, result_dir, ['b', 'a'], raw)
    out = logdir / 'segmentation_results'
    assert sorted(os.listdir(out)) == ['000000_image.png', '000000_prediction.png', '000001_image.png',
                                       '000001_prediction.png']
    for index, (image_id, extension) in enumerate((('b', '.png'), ('a', '.jpg'))):
        np.testing.assert_array_equal(read_image(str(out / f'{index:06d}_image.png')),
                                      read_image(os.path.join(image_dir, image_id + extension)))
        np.testing.assert_array_equal(np.asarray(Image.open(out / f'{index:06d}_prediction.png')),
                                      PALETTE[labels[image_id]])
    raw_out = logdir / 'raw_segmentation_results'
    assert sorted(os.listdir(raw_out)) == (['a.png', 'b.png'] if raw else [])
    for name in os.listdir(raw_out):
        with Image.open(raw_out / name) as image:
            assert image.mode == 'L'
            np.testing.assert_array_equal(np.asarray(image), labels[name[0]])


# usage: --help of the upstream scripts

def test_usage_is_the_description_then_every_flag_sorted_with_its_kind_and_default():
    lines = usage('eval', 'Evaluates a checkpoint.').split('\n')
    assert lines[:3] == ['Evaluates a checkpoint.', '', "flags (upstream's definitions; absl syntax):"]
    assert len(lines) == 3 + len(flag_table('eval'))
    assert lines[3:] == sorted(lines[3:])
    assert '  --eval_interval_secs (integer, default 300)' in lines
    assert "  --model_variant (string, default 'mobilenet_v2')" in lines
    assert "  --eval_crop_size (list, default ['513', '513'])" in lines
    assert '  --checkpoint_dir (string, default None)' in lines
    assert "  --colormap_type (enum, default 'pascal')" in usage('vis', '').split('\n')
    assert '  --eval_split' not in usage('vis', '')
