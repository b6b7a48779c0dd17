"""DenseCRF: equals a direct pydensecrf call on a noisy scene, cleans noise, moves a blurred edge, seed rule, folders,
errors; the defaults are their sources' values and reach pydensecrf from the command line."""
import json

import numpy as np
import pydensecrf.densecrf as dcrf
import pytest
from PIL import Image
from pydensecrf.utils import unary_from_labels

import densecrf_inference
from utils.common.errors import UserError, run_cli
from utils.common.files import SETTINGS_RECORD
from utils.data.voc import read_label, save_label
from utils.postprocess import crf
from utils.postprocess.scoring import Scores

H, W, EDGE = 24, 32, 16


def synthetic_image():
    """Dark left half, bright right half (a person), with a little noise."""
    rng = np.random.default_rng(0)
    image = np.zeros((H, W, 3), dtype=np.int16)
    image[:, EDGE:] = (200, 160, 120)
    image += rng.integers(-2, 3, size=image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def true_label():
    label = np.zeros((H, W), dtype=np.uint8)
    label[:, EDGE:] = 15
    return label


def blurred_label():
    """The true edge smeared four columns into the background."""
    label = true_label()
    label[:, EDGE - 4:EDGE] = 15
    return label


# A 40x60 scene: background, a person disc, a cat and a dog box, each its own colour, under strong noise.
TH, TW = 40, 60
REGION_COLOURS = {0: (40, 40, 40), 15: (200, 160, 120), 8: (60, 170, 60), 12: (70, 80, 200)}


def textured_label():
    """The scene's true classes."""
    yy, xx = np.mgrid[:TH, :TW]
    label = np.zeros((TH, TW), dtype=np.uint8)
    label[(yy - 20) ** 2 + (xx - 15) ** 2 < 110] = 15
    label[5:22, 33:55] = 8
    label[26:37, 30:50] = 12
    return label


def textured_image():
    """The scene's colours plus Gaussian noise (std 20), so the bilateral kernel's colour scale matters."""
    rng = np.random.default_rng(0)
    label = textured_label()
    image = np.zeros((TH, TW, 3))
    for cls, colour in REGION_COLOURS.items():
        image[label == cls] = colour
    image += rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def noisy_label():
    """The true classes with 40% of the pixels redrawn among the scene's classes (about 30% wrong)."""
    rng = np.random.default_rng(1)
    label = textured_label()
    redrawn = rng.random(label.shape) < 0.4
    label[redrawn] = rng.choice(list(REGION_COLOURS), redrawn.sum())
    return label


def noisy_probabilities():
    """Softmax-like maps: the true classes box-blurred over 7x7 pixels plus random (gamma) mass on every class."""
    rng = np.random.default_rng(2)
    onehot = np.eye(21)[textured_label()]
    padded = np.pad(onehot, [(3, 3), (3, 3), (0, 0)], mode='edge')
    blurred = sum(padded[dy:dy + TH, dx:dx + TW] for dy in range(7) for dx in range(7)) / 49
    prob = blurred + rng.gamma(0.3, 0.5, onehot.shape)
    return (prob / prob.sum(axis=2, keepdims=True)).astype(np.float16)


def direct_crf(image, unary, params, gaussian=True):
    d = dcrf.DenseCRF2D(image.shape[1], image.shape[0], unary.shape[0])
    d.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    if gaussian:
        d.addPairwiseGaussian(sxy=params.gauss_sxy, compat=params.gauss_compat)
    d.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb, rgbim=np.ascontiguousarray(image),
                           compat=params.bilateral_compat)
    return np.argmax(d.inference(params.iterations), axis=0).reshape(image.shape[:2])


def assert_fixture_tells_kernels_apart(image, unary, params, expected):
    """Guard: CRFs with a wrong kernel set-up label at least 10 pixels differently from `expected` on this input."""
    wrong = {
        'without the Gaussian term': direct_crf(image, unary, params, gaussian=False),
        'with bilateral sxy and srgb swapped': direct_crf(image, unary, params._replace(
            bilateral_sxy=params.bilateral_srgb, bilateral_srgb=params.bilateral_sxy)),
        'with Gaussian and bilateral compat swapped': direct_crf(image, unary, params._replace(
            gauss_compat=params.bilateral_compat, bilateral_compat=params.gauss_compat)),
    }
    for mistake, labels in wrong.items():
        assert (labels != expected).sum() >= 10, f'the fixture cannot tell a CRF {mistake} from the right one'


def probabilities(label, num_classes=21, confidence=0.8):
    """Softmax-like maps: confident away from the edge, torn between person and background near it."""
    prob = np.full(label.shape + (num_classes,), (1 - confidence) / (num_classes - 1), dtype=np.float32)
    np.put_along_axis(prob, np.minimum(label, num_classes - 1)[..., None].astype(np.int64), confidence, axis=2)
    band = np.abs(np.arange(W) - (EDGE - 2.5)) < 3
    prob[:, band, 0], prob[:, band, min(15, num_classes - 1)] = 0.4, 0.45
    return (prob / prob.sum(axis=2, keepdims=True)).astype(np.float16)


def test_hard_label_crf_equals_direct_pydensecrf_call():
    image, label = textured_image(), noisy_label()
    params = crf.LABEL_DEFAULTS
    unary = unary_from_labels(label, 21, params.gt_prob, zero_unsure=False)
    theirs = direct_crf(image, unary, params)
    assert_fixture_tells_kernels_apart(image, unary, params, theirs)
    np.testing.assert_array_equal(crf.refine(image, label, params), theirs)


def test_probability_crf_equals_direct_pydensecrf_call():
    image, prob = textured_image(), noisy_probabilities()
    params = crf.PROBABILITY_DEFAULTS._replace(iterations=3)
    unary = -np.log(np.clip(prob.astype(np.float32), 1e-8, None)).transpose(2, 0, 1).reshape(21, -1)
    theirs = direct_crf(image, unary, params)
    assert_fixture_tells_kernels_apart(image, unary, params, theirs)
    np.testing.assert_array_equal(crf.refine(image, prob, params), theirs)


@pytest.mark.parametrize('source', ['labels', 'probabilities'])
def test_crf_cleans_a_noisy_result_on_a_noisy_scene(source):
    image, noisy = textured_image(), noisy_label() if source == 'labels' else noisy_probabilities()
    refined = crf.refine(image, noisy, crf.default_params(source == 'probabilities'))
    before = ((noisy if source == 'labels' else noisy.argmax(axis=2)) == textured_label()).mean()
    assert before < 0.75
    assert (refined == textured_label()).mean() > 0.95


@pytest.mark.parametrize('source', ['labels', 'probabilities'])
def test_crf_moves_a_blurred_edge_onto_the_image_edge(source):
    image, label = synthetic_image(), blurred_label()
    refined = crf.refine(image, label if source == 'labels' else probabilities(label), crf.default_params(
        source == 'probabilities'))
    before = (label == true_label()).mean()
    after = (refined == true_label()).mean()
    assert before == pytest.approx(1 - 4 / W)
    assert after > before + 0.08


def test_void_gets_a_uniform_unary_and_background_is_a_class():
    label = np.array([[0, 255, 3]], dtype=np.uint8)
    unary = crf.hard_label_unary(label, 21, 0.7)
    assert unary.shape == (21, 3) and unary.dtype == np.float32
    assert unary[0, 0] == pytest.approx(-np.log(0.7)) and unary[1, 0] == pytest.approx(-np.log(0.3 / 20))
    np.testing.assert_allclose(unary[:, 1], -np.log(1 / 21))
    assert unary[3, 2] == pytest.approx(-np.log(0.7))


def test_crf_fills_void_pixels_from_their_neighbours():
    image, label = synthetic_image(), true_label()
    label[5:8, 20:24] = 255
    assert np.array_equal(crf.refine(image, label, crf.LABEL_DEFAULTS), true_label())


def test_seed_compat_copies_images_with_more_than_two_labels():
    label = blurred_label()
    label[0, 0] = 7
    assert crf.refine(synthetic_image(), label, crf.SEED_DEFAULTS, seed_compat=True) is label


def test_seed_compat_copies_images_without_background():
    label = np.where(blurred_label() == 0, 7, blurred_label()).astype(np.uint8)
    assert crf.refine(synthetic_image(), label, crf.SEED_DEFAULTS, seed_compat=True) is label


def test_seed_compat_refines_background_against_one_class_and_keeps_its_name():
    label = blurred_label()
    refined = crf.refine(synthetic_image(), label, crf.SEED_DEFAULTS, seed_compat=True)
    assert set(np.unique(refined)) <= {0, 15}
    binary = (label == 15).astype(np.uint8)
    expected = direct_crf(synthetic_image(), unary_from_labels(binary, 2, 0.7, zero_unsure=False), crf.SEED_DEFAULTS)
    np.testing.assert_array_equal(refined, np.where(expected == 1, 15, 0))


@pytest.fixture
def folders(tmp_path):
    images, labels, probs, gt = (tmp_path / n for n in ('images', 'labels', 'probs', 'gt'))
    for folder in (images, labels, probs):
        folder.mkdir()
    for ident in ('x1', 'x2'):
        Image.fromarray(synthetic_image()).save(images / f'{ident}.jpg', quality=95)
        save_label(str(labels / f'{ident}.png'), blurred_label())
        save_label(str(gt / f'{ident}.png'), true_label())
        np.savez_compressed(probs / f'{ident}.npz', probabilities=probabilities(blurred_label()))
    return images, labels, probs, gt


def test_refine_folder_writes_palette_pngs_and_resumes(folders, tmp_path):
    images, labels, _, _ = folders
    out = tmp_path / 'out'
    assert crf.refine_folder(str(images), str(out), label_dir=str(labels), num_workers=2) == (2, 0)
    with Image.open(out / 'x1.png') as img:
        assert img.mode == 'P'
    assert (read_label(str(out / 'x1.png')) == true_label()).mean() > (blurred_label() == true_label()).mean()
    assert crf.refine_folder(str(images), str(out), label_dir=str(labels), num_workers=1) == (0, 2)
    assert crf.refine_folder(str(images), str(out), ['x2'], label_dir=str(labels), overwrite=True) == (1, 0)


def test_refine_folder_from_probabilities(folders, tmp_path):
    images, _, probs, _ = folders
    crf.refine_folder(str(images), str(tmp_path / 'out'), prob_dir=str(probs), num_workers=1)
    expected = crf.refine(np.asarray(Image.open(images / 'x1.jpg').convert('RGB')), probabilities(blurred_label()),
                          crf.PROBABILITY_DEFAULTS)
    np.testing.assert_array_equal(read_label(str(tmp_path / 'out' / 'x1.png')), expected)


def test_tune_reports_no_crf_and_every_setting(folders):
    images, labels, _, gt = folders
    grid = {'bilateral_sxy': (20, 80), 'bilateral_srgb': (13,), 'bilateral_compat': (10,)}
    scores, settings = crf.tune(str(images), str(gt), label_dir=str(labels), grid=grid, num_workers=1)
    assert list(scores.confusion) == [crf.NO_CRF, 'bilateral_sxy=20 bilateral_srgb=13 bilateral_compat=10',
                                      'bilateral_sxy=80 bilateral_srgb=13 bilateral_compat=10']
    assert settings['bilateral_sxy=20 bilateral_srgb=13 bilateral_compat=10'].bilateral_sxy == 20
    from utils.postprocess.metrics import mean_iou
    assert mean_iou(scores.confusion['bilateral_sxy=80 bilateral_srgb=13 bilateral_compat=10']) > mean_iou(
        scores.confusion[crf.NO_CRF])


def run(argv, capsys):
    code = run_cli(densecrf_inference.main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_cli_seed_command(folders, tmp_path, capsys):
    images, labels, _, _ = folders
    (tmp_path / 'list.txt').write_text('x1\n')
    code, out, _ = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--output_dir',
                        str(tmp_path / 'out'), '--test_data_list', str(tmp_path / 'list.txt'), '--iterations', '2',
                        '--num_workers', '1'], capsys)
    assert code == 0 and '1 refined results' in out and 'iterations=2' in out
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [SETTINGS_RECORD, 'x1.png']


def test_cli_tune_prints_best(folders, capsys):
    images, _, probs, gt = folders
    code, out, _ = run(['--image_data_dir', str(images), '--prob_dir', str(probs), '--tune', '--label_gt_dir',
                        str(gt), '--tune_bilateral_sxy', '67', '--tune_bilateral_srgb', '3', '--tune_bilateral_compat',
                        '4', '--iterations', '2', '--num_workers', '1'], capsys)
    assert code == 0 and out.splitlines()[-1].startswith('best: ') and 'no CRF' in out


def test_cli_missing_image_lists_it(folders, tmp_path, capsys):
    images, labels, _, _ = folders
    (images / 'x2.jpg').unlink()
    code, _, err = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--output_dir',
                        str(tmp_path / 'out')], capsys)
    assert code == 2 and err == f'error: {images}: 1 missing files (x2)'


def test_cli_size_mismatch_names_the_file(folders, tmp_path, capsys):
    images, labels, _, _ = folders
    save_label(str(labels / 'x2.png'), np.zeros((5, 5), np.uint8))
    code, _, err = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--output_dir',
                        str(tmp_path / 'out'), '--num_workers', '1'], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and str(labels / 'x2.png') in err and '5x5' in err
    assert not (tmp_path / 'out' / 'x2.png').exists()


@pytest.mark.parametrize('content, message', [
    (b'garbage', 'unreadable probability file'),
    ('wrong_key', 'no "probabilities" array'),
    ('wrong_shape', 'expected [H, W, 21]'),
])
def test_cli_bad_probability_file_names_it(folders, tmp_path, capsys, content, message):
    images, _, probs, _ = folders
    path = probs / 'x1.npz'
    if content == 'wrong_key':
        np.savez_compressed(path, logits=probabilities(blurred_label()))
    elif content == 'wrong_shape':
        np.savez_compressed(path, probabilities=probabilities(blurred_label(), num_classes=5))
    else:
        path.write_bytes(content)
    code, _, err = run(['--image_data_dir', str(images), '--prob_dir', str(probs), '--output_dir',
                        str(tmp_path / 'out'), '--num_workers', '1'], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err and message in err


def test_cli_unreadable_image_names_it(folders, tmp_path, capsys):
    images, labels, _, _ = folders
    (images / 'x1.jpg').write_bytes(b'nope')
    code, _, err = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--output_dir',
                        str(tmp_path / 'out'), '--num_workers', '1'], capsys)
    assert code == 2 and f'{images / "x1.jpg"}: unreadable image' in err


@pytest.mark.parametrize('extra, message', [
    (['--gt_prob', '1.5'], '--gt_prob must be in (0, 1)'),
    (['--seed_compat', '--prob_dir', 'p'], '--seed_compat works on hard labels'),
    (['--tune'], '--tune needs --ground_truth_dir'),
    ([], '--output_dir is required'),
])
def test_cli_bad_options(folders, capsys, extra, message):
    images, labels, _, _ = folders
    source = [] if '--prob_dir' in extra else ['--label_data_dir', str(labels)]
    code, _, err = run(['--image_data_dir', str(images), *source, *extra], capsys)
    assert code == 2 and message in err


def test_refine_folder_refuses_to_overwrite_its_input(folders):
    images, labels, _, _ = folders
    with pytest.raises(UserError, match='inputs are never modified'):
        crf.refine_folder(str(images), str(labels), label_dir=str(labels))


# DeepLab-v2's DenseCRF for ResNet-101 on VOC (its run_densecrf.sh: MAX_ITER 10, POS_W 3, POS_XY_STD 1, Bi_W 4,
# Bi_XY_STD 67, Bi_RGB_STD 3), the values behind its 76.35 -> 77.69 val mIoU.
DEEPLAB_V2_VOC = {'gauss_sxy': 1, 'gauss_compat': 3, 'bilateral_sxy': 67, 'bilateral_srgb': 3, 'bilateral_compat': 4,
                  'iterations': 10}
# pydensecrf's README and examples/inference.py (gt_prob 0.7, Gaussian sxy 3 compat 3, bilateral sxy 80 srgb 13
# compat 10, inference(5)), which the original project's densecrf script ran on hard labels.
PYDENSECRF_EXAMPLE = {'gt_prob': 0.7, 'gauss_sxy': 3, 'gauss_compat': 3, 'bilateral_sxy': 80, 'bilateral_srgb': 13,
                      'bilateral_compat': 10, 'iterations': 5}
# The original project's background-vs-one-class rule ran those values for a single mean-field step.
SEED_RULE = dict(PYDENSECRF_EXAMPLE, iterations=1)


def test_crf_defaults_are_deeplab_v2s_with_probabilities_and_the_seeds_with_hard_labels():
    assert {k: v for k, v in crf.PROBABILITY_DEFAULTS._asdict().items() if k != 'gt_prob'} == DEEPLAB_V2_VOC
    assert crf.LABEL_DEFAULTS._asdict() == PYDENSECRF_EXAMPLE
    assert crf.SEED_DEFAULTS._asdict() == SEED_RULE


@pytest.fixture
def pydensecrf_calls(monkeypatch):
    """Every DenseCRF2D the suite builds, as {'unary', 'gaussian', 'bilateral', 'iterations'} of what it was given."""
    calls, real = [], dcrf.DenseCRF2D

    class Spy:
        def __init__(self, *shape):
            self.crf, self.seen = real(*shape), {}
            calls.append(self.seen)

        def setUnaryEnergy(self, unary):
            self.seen['unary'] = np.array(unary)
            self.crf.setUnaryEnergy(unary)

        def addPairwiseGaussian(self, **kernel):
            self.seen['gaussian'] = kernel
            self.crf.addPairwiseGaussian(**kernel)

        def addPairwiseBilateral(self, **kernel):
            self.seen['bilateral'] = {k: v for k, v in kernel.items() if k != 'rgbim'}
            self.crf.addPairwiseBilateral(**kernel)

        def inference(self, iterations):
            self.seen['iterations'] = iterations
            return self.crf.inference(iterations)

    monkeypatch.setattr(crf.dcrf, 'DenseCRF2D', Spy)
    return calls


@pytest.mark.parametrize('mode, expected', [
    (['--prob_dir'], DEEPLAB_V2_VOC),
    (['--label_data_dir'], PYDENSECRF_EXAMPLE),
    (['--seed_compat', '--label_data_dir'], SEED_RULE),
], ids=['probabilities', 'hard labels', 'seed rule'])
def test_without_parameter_flags_pydensecrf_gets_the_defaults(folders, tmp_path, capsys, pydensecrf_calls, mode,
                                                               expected):
    images, labels, probs, _ = folders
    source = probs if mode[-1] == '--prob_dir' else labels
    code, _, _ = run(['--image_data_dir', str(images), *mode, str(source), '--output_dir', str(tmp_path / 'out'),
                      '--num_workers', '1'], capsys)
    assert code == 0 and len(pydensecrf_calls) == 2
    for seen in pydensecrf_calls:
        assert seen['iterations'] == expected['iterations']
        assert seen['gaussian'] == {'sxy': expected['gauss_sxy'], 'compat': expected['gauss_compat']}
        assert seen['bilateral'] == {'sxy': expected['bilateral_sxy'], 'srgb': expected['bilateral_srgb'],
                                     'compat': expected['bilateral_compat']}
        if 'gt_prob' in expected:  # a labelled pixel's own class costs -log(gt_prob)
            assert seen['unary'].min() == pytest.approx(-np.log(expected['gt_prob']))


def confusion_of(correct):
    """A two-class confusion matrix [21, 22] with `correct` of 10 pixels of each class right."""
    conf = np.zeros((21, 22), np.int64)
    conf[0, 0], conf[15, 15], conf[0, 15], conf[15, 0] = correct, correct, 10 - correct, 10 - correct
    return conf


def test_the_best_setting_is_the_highest_and_a_tie_goes_to_the_earliest():
    assert crf.best_setting({crf.NO_CRF: confusion_of(6), 'a': confusion_of(8), 'b': confusion_of(8)}) == 'a'
    assert crf.best_setting({crf.NO_CRF: confusion_of(8), 'a': confusion_of(8), 'b': confusion_of(7)}) == crf.NO_CRF
    assert crf.best_setting({crf.NO_CRF: confusion_of(8), 'a': confusion_of(7), 'b': confusion_of(9)}) == 'b'


def tune_with(monkeypatch, folders, tmp_path, capsys, confusion):
    """densecrf_inference.py --tune whose scores are `confusion` ({setting: matrix}); (stdout lines, JSON written)."""
    images, labels, _, gt = folders
    settings = {name: crf.LABEL_DEFAULTS._replace(bilateral_sxy=k) for k, name in enumerate(confusion) if k}
    monkeypatch.setattr(crf, 'tune', lambda *args: (Scores(confusion, {}), settings))
    output = tmp_path / 'best.json'
    code, out, err = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--tune', '--label_gt_dir',
                          str(gt), '--tune_output', str(output)], capsys)
    assert code == 0, err
    return out.splitlines(), json.loads(output.read_text())


def test_tuning_prints_and_writes_the_same_setting_on_a_tie(monkeypatch, folders, tmp_path, capsys):
    lines, written = tune_with(monkeypatch, folders, tmp_path, capsys, {
        crf.NO_CRF: confusion_of(6), 'first': confusion_of(8), 'second': confusion_of(8)})
    assert lines[-3].startswith('first ') and lines[-2].startswith('best: first (')
    assert lines[-1] == f'{tmp_path / "best.json"}: first written' and written['bilateral_sxy'] == 1


def test_tuning_applies_no_crf_when_no_setting_beats_it(monkeypatch, folders, tmp_path, capsys):
    lines, written = tune_with(monkeypatch, folders, tmp_path, capsys, {
        crf.NO_CRF: confusion_of(8), 'first': confusion_of(8), 'second': confusion_of(7)})
    assert lines[-2].startswith('best: no CRF (') and 'none is applied' in lines[-2]
    assert written == {'no_crf': True}
    images, labels, _, _ = folders
    code, out, _ = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--params_json',
                        str(tmp_path / 'best.json'), '--output_dir', str(tmp_path / 'out'), '--num_workers', '2'],
                       capsys)
    assert code == 0 and 'says no CRF: inputs passed through' in out  # two workers: the setting crosses processes
    for ident in ('x1', 'x2'):
        np.testing.assert_array_equal(read_label(str(tmp_path / 'out' / f'{ident}.png')), blurred_label())
    code, _, err = run(['--image_data_dir', str(images), '--label_data_dir', str(labels), '--params_json',
                        str(tmp_path / 'best.json'), '--output_dir', str(tmp_path / 'out2'), '--iterations', '3'],
                       capsys)
    assert code == 2 and err.startswith(f'error: {tmp_path / "best.json"}: says no CRF') and '--iterations' in err


def test_tuning_on_perfect_labels_chooses_no_crf(folders, tmp_path, capsys):
    """No CRF can beat labels that equal the ground truth: at best it ties, and a tie keeps the inputs."""
    images, _, _, gt = folders
    code, out, _ = run(['--image_data_dir', str(images), '--label_data_dir', str(gt), '--tune', '--label_gt_dir',
                        str(gt), '--tune_output', str(tmp_path / 'best.json'), '--tune_bilateral_sxy', '80',
                        '--tune_bilateral_srgb', '13', '--tune_bilateral_compat', '10', '--num_workers', '1'], capsys)
    assert code == 0 and out.splitlines()[-2].startswith('best: no CRF (100.00 mIoU)')
    assert json.loads((tmp_path / 'best.json').read_text()) == {'no_crf': True}


def test_the_parameter_file_is_the_settings_as_indented_json(tmp_path):
    path = tmp_path / 'best.json'
    crf.write_params(str(path), crf.CrfParams(0.7, 3, 3, 80, 13, 10, 5))
    assert path.read_bytes() == (b'{\n  "gt_prob": 0.7,\n  "gauss_sxy": 3,\n  "gauss_compat": 3,\n'
                                 b'  "bilateral_sxy": 80,\n  "bilateral_srgb": 13,\n  "bilateral_compat": 10,\n'
                                 b'  "iterations": 5\n}')
    crf.write_params(str(path), crf.NO_CRF)
    assert path.read_bytes() == b'{\n  "no_crf": true\n}'
    assert crf.read_params(str(path), crf.LABEL_DEFAULTS) == crf.NO_CRF


@pytest.mark.parametrize('content, message', [
    ('{"bilateral_sxy": 5, "zeta": 1, "alpha": 2}', '{path}: unknown CRF parameters alpha, zeta'),
    ('[80, 13]', '{path}: not a CRF parameter file (expected a JSON object)'),
])
def test_a_bad_parameter_file_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / 'params.json'
    path.write_text(content)
    with pytest.raises(UserError) as err:
        crf.read_params(str(path), crf.LABEL_DEFAULTS)
    assert str(err.value) == message.format(path=path)


def test_seed_compat_crf_fills_void_from_the_object_beside_it():
    image = synthetic_image()
    label = true_label()
    label[:, EDGE:W - 4] = 255  # void over most of the person: were it background, it would stay background
    refined = crf.seed_compat_crf(image, label, crf.SEED_DEFAULTS)
    assert (refined[:, EDGE:] == 15).all()


def test_tuning_with_the_seed_rule_leaves_images_of_several_classes_as_they_are(folders, tmp_path):
    images, labels, _, gt = folders
    for ident in ('x1', 'x2'):
        label = blurred_label()
        label[:3, :3] = 8  # a third class: the original project's rule passes the image unchanged
        save_label(str(labels / f'{ident}.png'), label)
    grid = {'bilateral_sxy': (80,), 'bilateral_srgb': (13,), 'bilateral_compat': (10,)}
    plain, _ = crf.tune(str(images), str(gt), label_dir=str(labels), grid=grid, num_workers=1)
    seed, _ = crf.tune(str(images), str(gt), label_dir=str(labels), grid=grid, seed_compat=True, num_workers=1)
    setting = 'bilateral_sxy=80 bilateral_srgb=13 bilateral_compat=10'
    np.testing.assert_array_equal(seed.confusion[setting], seed.confusion[crf.NO_CRF])
    assert not np.array_equal(plain.confusion[setting], plain.confusion[crf.NO_CRF])


def test_tuning_against_ground_truth_of_another_size_names_both_files(folders, tmp_path):
    images, labels, _, gt = folders
    save_label(str(gt / 'x2.png'), true_label()[:, :20])
    with pytest.raises(UserError) as err:
        crf.tune(str(images), str(gt), label_dir=str(labels), grid={'bilateral_sxy': (80,)}, num_workers=1)
    assert str(err.value) == f'{labels / "x2.png"}: is {W}x{H} but ground truth {gt / "x2.png"} is 20x{H}'


def test_the_library_applies_the_seed_rules_single_step_when_no_parameters_are_given(folders, tmp_path,
                                                                                     pydensecrf_calls):
    images, labels, _, _ = folders
    crf.refine_folder(str(images), str(tmp_path / 'out'), label_dir=str(labels), seed_compat=True, num_workers=1)
    assert [seen['iterations'] for seen in pydensecrf_calls] == [1, 1]
    scores, _ = crf.tune(str(images), str(labels), ['x1'], label_dir=str(labels), seed_compat=True,
                         grid={'bilateral_sxy': (80,)}, num_workers=1)
    assert [seen['iterations'] for seen in pydensecrf_calls[2:]] == [1]
    assert [row.image_id for row in scores.per_image[crf.NO_CRF]] == ['x1']


def test_refining_with_the_seed_rule_leaves_an_image_of_three_classes_as_it_is(folders, tmp_path):
    images, labels, _, _ = folders
    label = blurred_label()
    label[:3, :3] = 8
    save_label(str(labels / 'x1.png'), label)
    crf.refine_folder(str(images), str(tmp_path / 'seed'), ['x1'], label_dir=str(labels), seed_compat=True,
                      num_workers=1)
    crf.refine_folder(str(images), str(tmp_path / 'plain'), ['x1'], label_dir=str(labels), num_workers=1)
    np.testing.assert_array_equal(read_label(str(tmp_path / 'seed' / 'x1.png')), label)
    assert not np.array_equal(read_label(str(tmp_path / 'plain' / 'x1.png')), label)


def test_tuning_starts_every_setting_from_the_given_parameters(folders):
    images, labels, _, gt = folders
    base = crf.LABEL_DEFAULTS._replace(iterations=3, gauss_sxy=2)
    _, settings = crf.tune(str(images), str(gt), label_dir=str(labels), params=base, grid={'bilateral_sxy': (40, 80)},
                           num_workers=1)
    assert list(settings.values()) == [base._replace(bilateral_sxy=40), base._replace(bilateral_sxy=80)]


@pytest.mark.parametrize('call', [crf.refine_folder, crf.tune], ids=['refine', 'tune'])
def test_the_seed_rule_on_probabilities_is_refused_by_the_library_too(folders, tmp_path, call):
    images, _, probs, gt = folders
    second = str(tmp_path / 'out') if call is crf.refine_folder else str(gt)
    with pytest.raises(UserError) as err:
        call(str(images), second, prob_dir=str(probs), seed_compat=True, num_workers=1)
    assert str(err.value) == '--seed_compat works on hard labels (--prediction_dir), not on probabilities'


@pytest.mark.parametrize('folder, message', [
    ('images', '{path}: image folder not found'),
    ('labels', '{path}: label folder not found'),
    ('probs', '{path}: probability folder not found'),
    ('gt', '{path}: ground-truth folder not found'),
])
def test_a_missing_input_folder_is_named_with_what_it_should_hold(folders, tmp_path, folder, message):
    paths = dict(zip(('images', 'labels', 'probs', 'gt'), map(str, folders)))
    paths[folder] = str(tmp_path / 'none')
    source = {'prob_dir': paths['probs']} if folder == 'probs' else {'label_dir': paths['labels']}
    with pytest.raises(UserError) as err:
        crf.tune(paths['images'], paths['gt'], grid={'bilateral_sxy': (80,)}, num_workers=1, **source)
    assert str(err.value) == message.format(path=tmp_path / 'none')


def test_tuning_lists_the_images_without_ground_truth_and_refuses_two_sources(folders):
    images, labels, probs, gt = folders
    (gt / 'x2.png').unlink()
    with pytest.raises(UserError) as err:
        crf.tune(str(images), str(gt), label_dir=str(labels), num_workers=1)
    assert str(err.value) == f'{gt}: 1 missing labels (x2)'
    with pytest.raises(UserError) as err:
        crf.tune(str(images), str(gt), label_dir=str(labels), prob_dir=str(probs), num_workers=1)
    assert str(err.value) == 'give exactly one of a label folder and a probability folder'


def test_a_zero_probability_costs_the_clipped_unary_even_in_float16():
    unary = crf.probability_unary(np.array([[[1.0, 0.0]]], dtype=np.float16))
    assert unary.dtype == np.float32
    np.testing.assert_array_equal(unary, np.array([[0.0], [-np.log(np.float32(1e-8))]], dtype=np.float32))


def test_no_crf_gives_uint8_labels_and_integer_images_are_read_as_bytes():
    assert crf.refine(None, probabilities(true_label()), crf.NO_CRF).dtype == np.uint8
    image, unary = synthetic_image(), crf.hard_label_unary(blurred_label(), 21, 0.7)
    np.testing.assert_array_equal(crf.dense_crf(image.astype(np.int32), unary, crf.LABEL_DEFAULTS),
                                  crf.dense_crf(image, unary, crf.LABEL_DEFAULTS))
