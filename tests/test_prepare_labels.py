"""prepare_labels.py: SBD .mat files and VOC palette PNGs become index PNGs; train_aug is
(VOC train + SBD train + SBD val) - VOC val, exactly."""
import os

import numpy as np
import pytest
from PIL import Image
from voc_archives import make_voc_and_sbd, write_sbd_mat

import prepare_labels
from utils.common.errors import UserError, run_cli
from utils.data import train_aug
from utils.data.sbd import read_sbd_label
from utils.data.train_aug import TRAIN_AUG_SIZE, count_note, label_sources, run_lists, train_aug_ids

VOC_TRAIN, VOC_VAL = ['2007_a', '2007_b'], ['2008_c', '2008_d', '2008_g']
SBD_TRAIN, SBD_VAL = ['2007_b', '2009_e', '2008_c'], ['2010_f', '2008_d', '2009_e']


def lines(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read().split()


def test_train_aug_is_voc_train_plus_sbd_minus_voc_val():
    assert train_aug_ids(VOC_TRAIN, VOC_VAL, SBD_TRAIN, SBD_VAL) == ['2007_a', '2007_b', '2009_e', '2010_f']
    # The real list sizes (VOC train 1464, val 1449; SBD train 8498, val 2857) with made-up ids; 2237 SBD
    # images are VOC train or val images (the split between the two is made up, the formula only sees the sum).
    train, val = [f'v{i}' for i in range(1464)], [f'w{i}' for i in range(1449)]
    sbd = train[:1133] + val[:1104] + [f's{i}' for i in range(11355 - 2237)]
    ids = train_aug_ids(train, val, sbd[:8498], sbd[8498:])
    assert len(ids) == TRAIN_AUG_SIZE == 10582 and count_note(ids) is None
    assert not set(ids) & set(val)


def test_a_sbd_mat_file_reads_as_its_class_map(tmp_path):
    label = np.random.default_rng(0).integers(0, 21, (37, 53)).astype(np.uint8)
    write_sbd_mat(str(tmp_path / 'x.mat'), label)
    np.testing.assert_array_equal(read_sbd_label(str(tmp_path / 'x.mat')), label)


def test_a_mat_file_without_gtcls_is_named(tmp_path):
    import scipy.io
    scipy.io.savemat(str(tmp_path / 'inst.mat'), {'GTinst': {'Segmentation': np.zeros((3, 3))}})
    with pytest.raises(UserError, match='inst.mat: no GTcls.Segmentation'):
        read_sbd_label(str(tmp_path / 'inst.mat'))


@pytest.mark.parametrize('junk', [b'', b'not a MATLAB file', b'x' * 200], ids=['empty', 'short', 'not_mat'])
def test_an_unreadable_mat_file_is_one_line_naming_it(tmp_path, junk):
    """Empty, cut short (scipy's header read fails with IndexError) or another format."""
    path = tmp_path / 'junk.mat'
    path.write_bytes(junk)
    with pytest.raises(UserError) as raised:
        read_sbd_label(str(path))
    assert str(raised.value).startswith(f'{path}: unreadable .mat file (') and '\n' not in str(raised.value)


def test_a_mat_file_whose_map_is_not_2d_is_named(tmp_path):
    cube = tmp_path / 'cube.mat'
    write_sbd_mat(str(cube), np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(UserError) as raised:
        read_sbd_label(str(cube))
    assert str(raised.value) == f'{cube}: GTcls.Segmentation has shape (2, 3, 4), expected a 2-D map'


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    labels = make_voc_and_sbd(root, VOC_TRAIN, VOC_VAL, SBD_TRAIN, SBD_VAL, test=['2008_t1', '2008_t2'])
    return root, labels


def test_segmentation_class_aug_and_lists_are_exact(data, tmp_path, capsys):
    root, labels = data
    out, lists = tmp_path / 'aug', tmp_path / 'lists'
    assert run_cli(prepare_labels.main, [
        '--voc_root', f'{root}/voc_trainval/VOCdevkit/VOC2012', '--sbd_root', f'{root}/sbd/benchmark_RELEASE/dataset',
        '--output_dir', str(out), '--list_dir', str(lists), '--voc_test_root', f'{root}/voc_test/VOCdevkit/VOC2012',
        '--run_image_dir', str(tmp_path / 'images'), '--num_workers', '1']) == 0
    assert lines(lists / 'train_aug.txt') == ['2007_a', '2007_b', '2009_e', '2010_f']
    assert sorted(os.listdir(out)) == sorted(f'{i}.png' for i in ['2007_a', '2007_b', '2009_e', '2010_f'] + VOC_VAL)
    for ident in ['2007_a', '2007_b'] + VOC_VAL:  # VOC's own label wins, void border kept
        written = Image.open(out / f'{ident}.png')
        assert written.mode == 'L'
        np.testing.assert_array_equal(np.asarray(written), labels['voc'][ident])
    for ident in ['2009_e', '2010_f']:
        np.testing.assert_array_equal(np.asarray(Image.open(out / f'{ident}.png')), labels['sbd'][ident])
    assert lines(lists / 'run_val_tune.txt') == ['2008_c', '2008_g']
    assert lines(lists / 'run_val_check.txt') == ['2008_d']
    assert lines(lists / 'run_val_test.txt') == VOC_VAL + ['2008_t1', '2008_t2']
    assert sorted(os.listdir(tmp_path / 'images')) == sorted(f'{i}.jpg' for i in VOC_VAL + ['2008_t1', '2008_t2'])
    test_image = f'{root}/voc_test/VOCdevkit/VOC2012/JPEGImages/2008_t1.jpg'
    assert os.path.realpath(tmp_path / 'images' / '2008_t1.jpg') == test_image
    assert f'not the standard {TRAIN_AUG_SIZE}' in capsys.readouterr().err


def test_a_ready_made_segmentation_class_aug_is_used_as_is(data, tmp_path):
    root, labels = data
    aug = tmp_path / 'SegmentationClassAug'
    aug.mkdir()
    for ident in ['2007_a', '2009_e'] + VOC_VAL:
        Image.fromarray(labels['voc'].get(ident, labels['sbd'].get(ident))).save(aug / f'{ident}.png')
    assert run_cli(prepare_labels.main, ['--voc_root', f'{root}/voc_trainval/VOCdevkit/VOC2012',
                                         '--segmentation_class_aug', str(aug), '--list_dir', str(tmp_path / 'l')]) == 0
    assert lines(tmp_path / 'l' / 'train_aug.txt') == ['2007_a', '2009_e']
    assert sorted(os.listdir(aug)) == sorted(f'{i}.png' for i in ['2007_a', '2009_e'] + VOC_VAL)


def test_a_label_in_neither_source_is_named(data, tmp_path, capsys):
    root, _ = data
    sbd = tmp_path / 'sbd'
    sbd.mkdir()
    (sbd / 'cls').mkdir()
    (sbd / 'train.txt').write_text('2011_zz\n')
    (sbd / 'val.txt').write_text('2010_f\n')
    assert run_cli(prepare_labels.main, ['--voc_root', f'{root}/voc_trainval/VOCdevkit/VOC2012', '--sbd_root', str(sbd),
                                         '--output_dir', str(tmp_path / 'aug'), '--list_dir', str(tmp_path / 'l')]) == 2
    assert 'labels found neither' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'aug')


def test_run_lists_take_the_first_images_and_split_val_in_two():
    lists = run_lists(['a', 'b', 'c'], ['v1', 'v2', 'v3', 'v4', 'v5'], ['t1', 't2'], num_train=2, num_val=4, num_test=1)
    assert lists == {'train': ['a', 'b'], 'val': ['v1', 'v2', 'v3', 'v4'], 'val_tune': ['v1', 'v3'],
                     'val_check': ['v2', 'v4'], 'test': ['t1'], 'val_test': ['v1', 'v2', 'v3', 'v4', 't1']}


@pytest.mark.parametrize('flag, what', [('--voc_root', 'VOC2012 folder'), ('--sbd_root', 'SBD dataset folder'),
                                        ('--segmentation_class_aug', 'SegmentationClassAug folder')])
def test_a_missing_input_folder_is_one_line_naming_it_and_what_it_should_be(data, tmp_path, capsys, flag, what):
    root, _ = data
    given = {'--voc_root': f'{root}/voc_trainval/VOCdevkit/VOC2012'}
    if flag == '--segmentation_class_aug':
        given[flag] = str(tmp_path / 'absent')
    else:
        given.update({'--sbd_root': f'{root}/sbd/benchmark_RELEASE/dataset', '--output_dir': str(tmp_path / 'aug'),
                      flag: str(tmp_path / 'absent')})
    argv = [part for pair in given.items() for part in pair] + ['--list_dir', str(tmp_path / 'l')]
    assert run_cli(prepare_labels.main, argv) == 2
    assert capsys.readouterr().err == f'error: {tmp_path / "absent"}: {what} not found\n'
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize('count, shown', [(5, 'm0, m1, m2, m3, m4'), (6, 'm0, m1, m2, m3, m4 ...')])
def test_labels_in_neither_source_are_counted_and_the_first_five_named(tmp_path, count, shown):
    voc, sbd = tmp_path / 'voc', tmp_path / 'cls'
    voc.mkdir(), sbd.mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(voc / 'ok.png')
    ids = ['ok'] + [f'm{i}' for i in range(count)]
    with pytest.raises(UserError) as raised:
        label_sources(str(voc), str(sbd), ids)
    assert str(raised.value) == f'{count} labels found neither in {voc} or {sbd} ({shown})'
    with pytest.raises(UserError) as raised:
        label_sources(str(voc), None, ids[:2])
    assert str(raised.value) == f'1 labels found neither in {voc} (m0)'
    assert label_sources(str(voc), None, ['ok']) == {'ok': str(voc / 'ok.png')}


def test_an_empty_run_list_is_named():
    with pytest.raises(UserError) as raised:
        run_lists(['a'], ['v1'], ['t1'], num_test=0)
    assert str(raised.value) == 'the val_check, test list would be empty; give more images'


def test_a_train_aug_of_another_size_gets_a_note_saying_so():
    assert count_note(['a', 'b']) == ('train_aug has 2 images, not the standard 10582 of the real VOC 2012 + SBD '
                                      'data (expected with other data or subsets)')


def test_num_workers_reaches_the_label_conversion(data, tmp_path, monkeypatch):
    root, _ = data
    seen = []
    real = train_aug.imap_progress

    def recording(function, tasks, num_workers, desc):
        tasks = list(tasks)
        seen.append((num_workers, desc, len(tasks)))
        return real(function, tasks, 1, desc=desc)
    monkeypatch.setattr(train_aug, 'imap_progress', recording)
    assert run_cli(prepare_labels.main, [
        '--voc_root', f'{root}/voc_trainval/VOCdevkit/VOC2012', '--sbd_root', f'{root}/sbd/benchmark_RELEASE/dataset',
        '--output_dir', str(tmp_path / 'aug'), '--list_dir', str(tmp_path / 'l'), '--num_workers', '3']) == 0
    assert seen == [(3, 'labels', 7)]
    assert len(os.listdir(tmp_path / 'aug')) == 7
    seen.clear()
    assert run_cli(prepare_labels.main, [  # a rerun converts nothing again: every label is kept
        '--voc_root', f'{root}/voc_trainval/VOCdevkit/VOC2012', '--sbd_root', f'{root}/sbd/benchmark_RELEASE/dataset',
        '--output_dir', str(tmp_path / 'aug'), '--list_dir', str(tmp_path / 'l'), '--num_workers', '3']) == 0
    assert seen == [(3, 'labels', 0)] and len(os.listdir(tmp_path / 'aug')) == 7
