"""The soft ensemble (pixel_stacking.py --probabilities), CRF parameters carried from tuning to applying
(densecrf_inference.py --tune_output / --params_json), and probability files that are not probabilities refused by
both readers."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

import densecrf_inference
import pixel_stacking
from utils.common.errors import UserError, run_cli
from utils.common.files import SETTINGS_RECORD
from utils.data.voc import read_label, save_label
from utils.postprocess.crf import PROBABILITY_DEFAULTS, read_params, write_params
from utils.postprocess.probabilities import read_probabilities, save_probabilities
from utils.postprocess.soft_voting import average, fuse_folders


def softmax(logits):
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(np.float32)


@pytest.fixture
def folders(tmp_path):
    """Two probability folders of two images and their ids."""
    rng = np.random.default_rng(0)
    probs = {}
    for name in ('a', 'b'):
        folder = tmp_path / name
        for ident, shape in (('img1', (6, 7)), ('img2', (5, 4))):
            probs[name, ident] = softmax(rng.normal(size=shape + (21,)) * 3)
            save_probabilities(str(folder / f'{ident}.npz'), probs[name, ident])
    return tmp_path, probs


@pytest.fixture
def images(folders):
    """A random RGB image of each probability map's size, for the CRF."""
    tmp_path, probs = folders
    folder = tmp_path / 'images'
    folder.mkdir()
    rng = np.random.default_rng(1)
    for ident in ('img1', 'img2'):
        shape = probs['a', ident].shape[:2]
        Image.fromarray(rng.integers(0, 256, shape + (3,)).astype(np.uint8)).save(folder / f'{ident}.png')
    return folder


def test_the_weighted_average_is_taken_in_float32():
    p = [np.full((1, 1, 2), [0.9, 0.1], np.float32), np.full((1, 1, 2), [0.2, 0.8], np.float32)]
    fused = average(p, [1, 3])
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, [[[(0.9 + 3 * 0.2) / 4, (0.1 + 3 * 0.8) / 4]]], rtol=1e-6)


def steps(*pixel):
    """A 1x1 probability map stored as its 1/255 steps, the way the files hold it."""
    return np.array([[pixel]], dtype=np.uint8)


def test_a_tie_in_the_float32_average_goes_to_the_first_class(tmp_path):
    # with weights 1 and 3 both classes average 503/1020; float32 products rounded before adding keep them equal
    for name, pixel in (('one', (122, 128, 5)), ('two', (127, 125, 3))):
        (tmp_path / name).mkdir()
        np.savez_compressed(tmp_path / name / 'x.npz', probabilities=steps(*pixel))
    assert fuse_folders([str(tmp_path / 'one'), str(tmp_path / 'two')], str(tmp_path / 'out'), weights=[1, 3],
                        num_workers=1, num_classes=3) == (1, 0)
    assert read_label(str(tmp_path / 'out' / 'x.png')).tolist() == [[0]]
    with np.load(tmp_path / 'out' / 'probabilities' / 'x.npz') as data:
        assert data['probabilities'].tolist() == [[[126, 126, 3]]]


def test_fused_labels_and_probabilities_are_written(folders):
    tmp_path, probs = folders
    out = tmp_path / 'soft'
    assert run_cli(pixel_stacking.main, ['--probabilities', '--inputs', str(tmp_path / 'a'), str(tmp_path / 'b'),
                                         '--weights', '2', '1', '--output_dir', str(out), '--num_workers', '1']) == 0
    for ident in ('img1', 'img2'):
        stored = [read_probabilities(str(tmp_path / n / f'{ident}.npz'), 21) for n in ('a', 'b')]
        expected = (2 * stored[0] + stored[1]) / 3
        fused = read_probabilities(str(out / 'probabilities' / f'{ident}.npz'), 21)
        np.testing.assert_allclose(fused, expected, atol=1 / 255)
        np.testing.assert_array_equal(read_label(str(out / f'{ident}.png')), expected.argmax(axis=2))


def test_a_missing_probability_file_is_named(folders, capsys):
    tmp_path, _ = folders
    os.remove(tmp_path / 'b' / 'img2.npz')
    assert run_cli(pixel_stacking.main, ['--probabilities', '--inputs', str(tmp_path / 'a'), str(tmp_path / 'b'),
                                         '--output_dir', str(tmp_path / 'soft')]) == 2
    assert '1 missing probability files (img2)' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'soft')


def test_tuned_crf_parameters_are_applied_from_their_json(folders, images, capsys):
    """Ground truth equal to the inputs' argmax: no CRF setting can beat it, so tuning writes no CRF and applying
    it passes the argmax through; a written setting is applied as written."""
    tmp_path, _ = folders
    stored_argmax = {ident: read_probabilities(str(tmp_path / 'a' / f'{ident}.npz'), 21).argmax(axis=2)
                     for ident in ('img1', 'img2')}
    gt = tmp_path / 'gt'
    for ident in ('img1', 'img2'):
        save_label(str(gt / f'{ident}.png'), stored_argmax[ident])
    best = tmp_path / 'crf' / 'best.json'
    assert run_cli(densecrf_inference.main, [
        '--image_data_dir', str(images), '--prob_dir', str(tmp_path / 'a'), '--tune', '--label_gt_dir', str(gt),
        '--tune_bilateral_sxy', '40', '--tune_bilateral_srgb', '5', '--tune_bilateral_compat', '4', '10',
        '--tune_output', str(best), '--num_workers', '1']) == 0
    assert json.loads(best.read_text()) == {'no_crf': True} and f'{best}: no CRF written' in capsys.readouterr().out
    assert run_cli(densecrf_inference.main, ['--image_data_dir', str(images), '--prob_dir', str(tmp_path / 'a'),
                                             '--output_dir', str(tmp_path / 'out'), '--params_json', str(best),
                                             '--num_workers', '1']) == 0
    for ident in ('img1', 'img2'):
        np.testing.assert_array_equal(read_label(str(tmp_path / 'out' / f'{ident}.png')), stored_argmax[ident])
    setting = tmp_path / 'crf' / 'setting.json'
    write_params(str(setting), PROBABILITY_DEFAULTS._replace(bilateral_sxy=40))
    assert read_params(str(setting), PROBABILITY_DEFAULTS).bilateral_sxy == 40
    assert run_cli(densecrf_inference.main, ['--image_data_dir', str(images), '--prob_dir', str(tmp_path / 'a'),
                                             '--output_dir', str(tmp_path / 'out2'), '--params_json', str(setting),
                                             '--iterations', '2', '--num_workers', '1']) == 0
    out = capsys.readouterr().out
    assert 'bilateral_sxy=40' in out and 'iterations=2' in out
    assert sorted(os.listdir(tmp_path / 'out2')) == [SETTINGS_RECORD, 'img1.png', 'img2.png']


def test_unknown_crf_parameters_are_named(tmp_path):
    (tmp_path / 'p.json').write_text('{"bilateral_sxy": 40, "sxy": 3}')
    with pytest.raises(UserError, match='p.json: unknown CRF parameters sxy'):
        read_params(str(tmp_path / 'p.json'), PROBABILITY_DEFAULTS)


def spoiled(kind, prob):
    """`prob` [H, W, C] made into what another tool might leave: NaN or Inf entries, every value times 5 (per-pixel
    sums of 5), or one pixel with a negative value that still sums to 1."""
    prob = prob.astype(np.float32)
    if kind in ('NaN', 'Inf'):
        prob[0, 0, 3] = prob[1, 2, 0] = prob[2, 1, 5] = np.nan if kind == 'NaN' else np.inf
    elif kind == 'sums to 5':
        prob *= 5
    else:
        prob[0, 0] = 0
        prob[0, 0, :2] = -0.5, 1.5
    return prob.astype(np.float16)


SPOILED_MESSAGES = {
    'NaN': r'3 non-finite values \(NaN or Inf\)',
    'Inf': r'3 non-finite values \(NaN or Inf\)',
    'sums to 5': r'per-pixel sums (\d\.\d{3})\.\.(\d\.\d{3}), expected 1',
    'negative': r'1 negative values \(lowest -0\.5\)',
}


def cli_argv(script, tmp_path, images):
    """(main, argv, the outputs it writes for img1) of a soft ensemble of folders a and b, or a CRF of folder a."""
    out = tmp_path / 'out'
    if script == 'pixel_stacking':
        return (pixel_stacking.main, ['--probabilities', '--inputs', str(tmp_path / 'a'), str(tmp_path / 'b'),
                                      '--output_dir', str(out), '--num_workers', '1'],
                [out / 'img1.png', out / 'probabilities' / 'img1.npz'])
    return (densecrf_inference.main, ['--image_data_dir', str(images), '--prob_dir', str(tmp_path / 'a'),
                                      '--output_dir', str(out), '--iterations', '1', '--num_workers', '1'],
            [out / 'img1.png'])


@pytest.mark.parametrize('script', ['pixel_stacking', 'densecrf_inference'])
@pytest.mark.parametrize('kind', list(SPOILED_MESSAGES))
def test_a_file_that_holds_no_probabilities_is_refused_by_name(folders, images, capsys, script, kind):
    tmp_path, probs = folders
    path = tmp_path / 'a' / 'img1.npz'
    np.savez_compressed(path, probabilities=spoiled(kind, probs['a', 'img1']))
    main, argv, outputs = cli_argv(script, tmp_path, images)
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f'error: {path}: ')
    match = re.search(SPOILED_MESSAGES[kind], err)
    assert match, err
    if kind == 'sums to 5':
        assert all(float(total) == pytest.approx(5, abs=0.01) for total in match.groups())
    assert not any(output.exists() for output in outputs)


def fuse(tmp_path, **kwargs):
    return fuse_folders([str(tmp_path / 'a'), str(tmp_path / 'b')], str(tmp_path / 'soft'), num_workers=1, **kwargs)


def test_one_folder_is_its_own_average(folders):
    tmp_path, _ = folders
    assert fuse_folders([str(tmp_path / 'a')], str(tmp_path / 'soft'), num_workers=1) == (2, 0)
    for ident in ('img1', 'img2'):
        stored = read_probabilities(str(tmp_path / 'a' / f'{ident}.npz'), 21)
        np.testing.assert_array_equal(read_probabilities(str(tmp_path / 'soft' / 'probabilities' / f'{ident}.npz'),
                                                         21), stored)
        np.testing.assert_array_equal(read_label(str(tmp_path / 'soft' / f'{ident}.png')), stored.argmax(axis=2))


def test_existing_outputs_are_kept_and_a_lone_missing_label_or_probability_file_is_redone(folders):
    tmp_path, _ = folders
    assert fuse(tmp_path) == (2, 0)
    soft = tmp_path / 'soft'
    fused = {name: (soft / name).read_bytes() for name in ('img1.png', 'probabilities/img2.npz')}
    (soft / 'img1.png').unlink()
    assert fuse(tmp_path) == (1, 1)
    (soft / 'probabilities' / 'img2.npz').unlink()
    assert fuse(tmp_path) == (1, 1)
    assert {name: (soft / name).read_bytes() for name in fused} == fused
    (soft / 'img2.png').write_bytes(b'stale')
    assert fuse(tmp_path) == (0, 2)
    assert (soft / 'img2.png').read_bytes() == b'stale'
    assert fuse(tmp_path, overwrite=True) == (2, 0)
    assert read_label(str(soft / 'img2.png')).shape == (5, 4)


def test_before_writing_is_called_once_and_only_when_something_is_written(folders):
    tmp_path, _ = folders
    calls = []
    assert fuse(tmp_path, before_writing=lambda: calls.append('now')) == (2, 0)
    assert calls == ['now']
    assert fuse(tmp_path, before_writing=lambda: calls.append('again')) == (0, 2)
    assert calls == ['now']


@pytest.mark.parametrize('weights, given', [([1.0, 0.0], '[1.0, 0.0]'), ([2.0], '[2.0]'), ([1, 1, 1], '[1, 1, 1]')])
def test_weights_must_be_one_positive_number_per_folder(folders, weights, given):
    tmp_path, _ = folders
    with pytest.raises(UserError) as err:
        fuse(tmp_path, weights=weights)
    assert str(err.value) == f'give one positive weight per input folder (2), got {given}'
    assert not (tmp_path / 'soft').exists()


def test_a_missing_probability_folder_is_named(folders):
    tmp_path, _ = folders
    with pytest.raises(UserError) as err:
        fuse_folders([str(tmp_path / 'a'), str(tmp_path / 'nope')], str(tmp_path / 'soft'))
    assert str(err.value) == f'{tmp_path / "nope"}: probability folder not found'


def test_maps_of_different_sizes_are_named_with_their_sizes(folders):
    tmp_path, probs = folders
    save_probabilities(str(tmp_path / 'b' / 'img1.npz'), probs['b', 'img2'])
    with pytest.raises(UserError) as err:
        fuse(tmp_path, ids=['img1'])
    assert str(err.value) == (f'img1: probability maps differ in size ({tmp_path / "a" / "img1.npz"} is 7x6, '
                              f'{tmp_path / "b" / "img1.npz"} is 4x5)')
    assert not (tmp_path / 'soft' / 'img1.png').exists()
