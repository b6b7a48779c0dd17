"""create_tf_record.py and utils/records/tfrecords.py: label decoding, round trip, shards, class count, bad input,
overwrite, instant --help."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from PIL import Image

import create_pascal_tf_record
import create_tf_record
from preprocessing import parse_record
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list
from utils.data.demo_data import make_demo_voc
from utils.data.voc import read_image, read_label
from utils.records.tfrecords import decode_example, find_records


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A tiny VOC-layout data set, shared read-only by the tests that do not damage it."""
    return make_demo_voc(str(tmp_path_factory.mktemp('voc')), num_train=6, num_val=3, num_test=1)


@pytest.fixture
def own_demo(tmp_path):
    """A tiny VOC-layout data set that a test may damage."""
    return make_demo_voc(str(tmp_path / 'voc'), num_train=6, num_val=3, num_test=1)


def convert(demo, out, *extra, labels='aug_label_dir', workers=1):
    """Run create_tf_record.main on the demo data; returns the exit code."""
    argv = ['--data_dir', str(out), '--image_data_dir', demo['image_dir'], '--label_data_dir', demo[labels],
            '--num_workers', str(workers), *extra]
    return run_cli(create_tf_record.main, argv)


def examples(path):
    """Every serialized example of one record file, in order."""
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


@pytest.mark.parametrize('labels', ['label_dir', 'aug_label_dir'])
def test_palette_and_grayscale_labels_both_decode_to_class_indices(demo, tmp_path, labels):
    assert convert(demo, tmp_path, labels=labels) == 0
    ids = read_id_list(demo['train_list'])
    for ident, serialized in zip(ids, examples(os.path.join(tmp_path, 'voc_train.record'))):
        image, label = parse_record(serialized)
        expected = read_label(os.path.join(demo[labels], ident + '.png'))
        np.testing.assert_array_equal(label.numpy()[..., 0], expected)
        assert image.shape == expected.shape + (3,)
    assert set(np.unique(expected)) - {0, 255}, 'the check needs object classes, not only background and void'


def test_tensorflow_alone_would_lose_palette_indices(demo):
    with open(os.path.join(demo['label_dir'], 'demo_000001.png'), 'rb') as handle:
        naive = tf.io.decode_png(handle.read(), channels=1).numpy()[..., 0]
    assert not np.array_equal(naive, read_label(os.path.join(demo['label_dir'], 'demo_000001.png')))


def test_round_trip_keeps_original_bytes_sizes_and_order(demo, tmp_path):
    assert convert(demo, tmp_path, workers=2) == 0
    for split in ('train', 'val'):
        ids = read_id_list(demo[f'{split}_list'])
        records = [decode_example(s) for s in examples(os.path.join(tmp_path, f'voc_{split}.record'))]
        assert len(records) == len(ids)
        for ident, rec in zip(ids, records):
            with open(os.path.join(demo['image_dir'], ident + '.jpg'), 'rb') as handle:
                assert rec['image/encoded'] == handle.read()
            with open(os.path.join(demo['aug_label_dir'], ident + '.png'), 'rb') as handle:
                assert rec['label/encoded'] == handle.read()
            height, width = read_image(os.path.join(demo['image_dir'], ident + '.jpg')).shape[:2]
            assert (rec['image/height'], rec['image/width']) == (height, width)
            assert (rec['image/format'], rec['label/format']) == (b'jpeg', b'png')


def test_png_images_are_stored_as_png(own_demo, tmp_path):
    jpg = os.path.join(own_demo['image_dir'], 'demo_000001.jpg')
    pixels = read_image(jpg)
    os.remove(jpg)
    Image.fromarray(pixels).save(os.path.join(own_demo['image_dir'], 'demo_000001.png'))
    assert convert(own_demo, tmp_path) == 0
    first = examples(os.path.join(tmp_path, 'voc_train.record'))[0]
    assert decode_example(first)['image/format'] == b'png'
    np.testing.assert_array_equal(parse_record(first)[0].numpy(), pixels)


def test_shards_are_named_like_upstream_and_hold_every_image_once(demo, tmp_path):
    assert convert(demo, tmp_path, '--num_shards', '3', workers=2) == 0
    expected = [os.path.join(tmp_path, f'voc_train.record-{i:05d}-of-00003') for i in range(3)]
    assert find_records(str(tmp_path), 'train') == expected
    ids = read_id_list(demo['train_list'])
    heights = [decode_example(s)['image/height'] for p in expected for s in examples(p)]
    assert heights == [read_image(os.path.join(demo['image_dir'], i + '.jpg')).shape[0] for i in ids]
    assert all(examples(p) for p in expected)


def test_upstream_script_name_runs_the_same_main(demo, tmp_path):
    argv = ['--data_dir', str(tmp_path), '--image_data_dir', demo['image_dir'],
            '--label_data_dir', demo['aug_label_dir'], '--num_workers', '1']
    assert run_cli(create_pascal_tf_record.main, argv) == 0
    assert sorted(os.listdir(tmp_path)) == ['voc_train.record', 'voc_val.record']


def test_train_aug_list_is_preferred_when_present(own_demo, tmp_path):
    with open(os.path.join(own_demo['list_dir'], 'train_aug.txt'), 'w', encoding='utf-8') as handle:
        handle.write('/JPEGImages/demo_000002.jpg /SegmentationClassAug/demo_000002.png\ndemo_000003.jpg\n')
    assert convert(own_demo, tmp_path) == 0
    assert len(examples(os.path.join(tmp_path, 'voc_train.record'))) == 2


def test_existing_records_are_kept_unless_overwrite(demo, tmp_path, capsys):
    assert convert(demo, tmp_path, '--num_shards', '2') == 0
    before = examples(os.path.join(tmp_path, 'voc_train.record-00000-of-00002'))
    assert convert(demo, tmp_path) == 2
    assert '--overwrite' in capsys.readouterr().err
    assert examples(os.path.join(tmp_path, 'voc_train.record-00000-of-00002')) == before
    assert convert(demo, tmp_path, '--overwrite') == 0
    assert sorted(os.listdir(tmp_path)) == ['voc_train.record', 'voc_val.record']


def _missing_image(demo):
    os.remove(os.path.join(demo['image_dir'], 'demo_000002.jpg'))


def _missing_label(demo):
    os.remove(os.path.join(demo['aug_label_dir'], 'demo_000002.png'))


def _unreadable_image(demo):
    with open(os.path.join(demo['image_dir'], 'demo_000002.jpg'), 'wb') as handle:
        handle.write(b'not a jpeg at all')


def _size_mismatch(demo):
    path = os.path.join(demo['aug_label_dir'], 'demo_000002.png')
    Image.fromarray(read_label(path)[:-3], mode='L').save(path)


def _bad_label_values(demo):
    path = os.path.join(demo['aug_label_dir'], 'demo_000002.png')
    label = read_label(path).copy()
    label[:2, :2] = 30
    Image.fromarray(label, mode='L').save(path)


@pytest.mark.parametrize('damage, words', [
    (_missing_image, 'JPEGImages/demo_000002.jpg not found'),
    (_missing_label, 'SegmentationClassAug/demo_000002.png not found'),
    (_unreadable_image, 'unreadable image'),
    (_size_mismatch, 'but label'),
    (_bad_label_values, '[30]'),
])
def test_bad_pair_exits_2_with_one_line_and_writes_nothing(own_demo, tmp_path, capsys, damage, words):
    damage(own_demo)
    out = tmp_path / 'records'
    assert convert(own_demo, out, workers=2) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and err.startswith('error: 1 of 9 ')
    assert 'demo_000002' in err and words in err
    assert not out.exists() or os.listdir(out) == []


def test_every_bad_pair_is_named_on_its_own_line_after_the_count(own_demo, tmp_path, capsys):
    bad = ('demo_000002', 'demo_000004', 'demo_000005', 'demo_000008', 'demo_000009')
    for ident in bad:
        os.remove(os.path.join(own_demo['aug_label_dir'], ident + '.png'))
    out = tmp_path / 'records'
    assert convert(own_demo, out) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == 'error: 5 of 9 image/label pairs are bad, nothing written:'
    assert [line.split(':')[0].strip() for line in lines[1:]] == list(bad)
    assert all(line.startswith('  ') and 'not found' in line for line in lines[1:])
    assert not out.exists()


def test_label_values_are_checked_against_num_classes_and_255_stays_void(own_demo, tmp_path, capsys):
    _bad_label_values(own_demo)
    out = tmp_path / 'records'
    assert convert(own_demo, out) == 2
    assert 'demo_000002' in capsys.readouterr().err
    assert not out.exists()
    assert convert(own_demo, out, '--num_classes', '40') == 0
    stored = parse_record(examples(os.path.join(out, 'voc_train.record'))[1])[1].numpy()
    assert {30, 255} <= set(np.unique(stored))


@pytest.mark.parametrize('argv_change, words', [
    (('--image_data_dir', '/nonexistent/JPEGImages'), 'image folder not found'),
    (('--train_data_list', '/nonexistent/train.txt'), 'list file not found'),
    (('--num_shards', '20'), 'more than the 6 images'),
    (('--num_classes', '256'), '--num_classes must be 1..255'),
])
def test_bad_arguments_exit_2_naming_the_problem(demo, tmp_path, capsys, argv_change, words):
    assert convert(demo, tmp_path, *argv_change) == 2
    assert words in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_find_records_reports_missing_or_incomplete_records(demo, tmp_path):
    with pytest.raises(UserError, match=f'{tmp_path}: no voc_val.record'):
        find_records(str(tmp_path), 'val')
    assert convert(demo, tmp_path, '--num_shards', '2') == 0
    shutil.copy(os.path.join(tmp_path, 'voc_val.record-00000-of-00002'), os.path.join(tmp_path, 'voc_val.record'))
    with pytest.raises(UserError, match='mix of runs'):
        find_records(str(tmp_path), 'val')
    os.remove(os.path.join(tmp_path, 'voc_val.record-00001-of-00002'))
    os.remove(os.path.join(tmp_path, 'voc_val.record'))
    with pytest.raises(UserError, match='incomplete'):
        find_records(str(tmp_path), 'val')


def test_importing_the_script_does_not_import_tensorflow():
    """--help and argument errors must not wait seconds for TensorFlow."""
    code = "import sys, create_tf_record; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'False'
