"""Bad input at its smallest, for the TensorFlow-free batch tools (pixel_stacking.py, densecrf_inference.py,
evaluate.py --prediction_dir, make_submission.py, prepare_labels.py) and the probability-file reader: one step past
each check's limit is one line `error: ...` naming the file, exit code 2, nothing new on disk and the inputs as they
were; one step inside is accepted. So a check off by one, or a flag that does not reach it, fails a test."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import ROOT, snapshot
from PIL import Image

import densecrf_inference
import evaluate
import make_submission
import pixel_stacking
import prepare_labels
import write_results
from utils.common.errors import UserError, run_cli
from utils.data.voc import save_label
from utils.postprocess.probabilities import (
    PROBABILITY_KEY,
    PROBABILITY_STEPS,
    PROBABILITY_SUM_TOLERANCE,
    read_probabilities,
    save_probabilities,
)

H, W, C = 4, 5, 21  # a 4x5 map transposed is 5x4: the same pixel count, only the sides swapped


def run(main, argv, capsys):
    """A script's exit code and stderr, run in this process as its __main__ runs it."""
    code = run_cli(main, argv)
    return code, capsys.readouterr().err


def assert_refused(code, err, named, problem):
    """Exit code 2 and exactly one stderr line, `error: ...` naming the file `named` and the `problem`."""
    assert code == 2, err
    assert err.count('\n') == 1 and err.startswith('error: ') and 'Traceback' not in err, err
    assert str(named) in err and problem in err, err


def label(values=None):
    """The inputs' H x W label: classes 0 and 1, with `values` ({(row, col): value}) on top."""
    array = np.zeros((H, W), np.uint8)
    array[:, 3:] = 1
    for where, value in (values or {}).items():
        array[where] = value
    return array


def probabilities():
    """A softmax-like H x W x C map whose argmax is `label()`."""
    prob = np.full((H, W, C), 0.02, np.float32)
    np.put_along_axis(prob, label()[..., None].astype(np.int64), 0.6, axis=2)
    return prob / prob.sum(axis=2, keepdims=True)


def write_foreign_probabilities(path, prob):
    """A .npz as another program might write it: the array as given, no steps."""
    with open(path, 'wb') as handle:
        np.savez_compressed(handle, **{PROBABILITY_KEY: prob})


@pytest.fixture
def data(tmp_path):
    """One image `x` (W wide, H high) with a ground truth (one void pixel), two label folders, two probability
    folders and a list; `out` does not exist yet."""
    d = types.SimpleNamespace(**{name: str(tmp_path / name) for name in ('images', 'gt', 'a', 'b', 'pa', 'pb', 'out')})
    for folder in ('images', 'gt', 'a', 'b', 'pa', 'pb'):
        os.mkdir(getattr(d, folder))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(os.path.join(d.images, 'x.jpg'))
    save_label(os.path.join(d.gt, 'x.png'), label({(0, 0): 255}))
    for folder in (d.a, d.b):
        save_label(os.path.join(folder, 'x.png'), label())
    for folder in (d.pa, d.pb):
        save_probabilities(os.path.join(folder, 'x.npz'), probabilities())
    d.list = str(tmp_path / 'list.txt')
    with open(d.list, 'w', encoding='utf-8') as handle:
        handle.write('x\n')
    d.root = str(tmp_path)
    return d


# tool: (its main, its argv on the fixture, the input file a size check compares with another one)
TOOLS = {
    'pixel_stacking.py': (pixel_stacking.main, lambda d: [
        '--prediction_dir', d.a, d.b, '--output_dir', d.out], lambda d: os.path.join(d.b, 'x.png')),
    'pixel_stacking.py --probabilities': (pixel_stacking.main, lambda d: [
        '--probabilities', '--prediction_dir', d.pa, d.pb, '--output_dir', d.out],
        lambda d: os.path.join(d.pb, 'x.npz')),
    'densecrf_inference.py --prediction_dir': (densecrf_inference.main, lambda d: [
        '--image_data_dir', d.images, '--prediction_dir', d.a, '--output_dir', d.out, '--iterations', '1'],
        lambda d: os.path.join(d.a, 'x.png')),
    'densecrf_inference.py --prob_dir': (densecrf_inference.main, lambda d: [
        '--image_data_dir', d.images, '--prob_dir', d.pa, '--output_dir', d.out, '--iterations', '1'],
        lambda d: os.path.join(d.pa, 'x.npz')),
    'evaluate.py --prediction_dir': (evaluate.main, lambda d: [
        '--prediction_dir', d.a, '--ground_truth_dir', d.gt, '--image_list', d.list,
        '--output_json', os.path.join(d.out, 'scores.json')], lambda d: os.path.join(d.a, 'x.png')),
    'make_submission.py': (make_submission.main, lambda d: [
        '--prediction_dir', d.a, '--output', os.path.join(d.out, 'sub.tar.gz'), '--image_data_dir', d.images,
        '--image_list', d.list], lambda d: os.path.join(d.a, 'x.png')),
}


def argv_of(tool, d, *extra):
    return [*TOOLS[tool][1](d), '--num_workers', '1', *extra]


@pytest.mark.parametrize('tool', TOOLS)
def test_the_fixture_is_accepted_by_every_tool_so_each_refusal_below_is_its_one_change(tool, data, capsys):
    assert run(TOOLS[tool][0], argv_of(tool, data), capsys)[0] == 0
    assert os.listdir(data.out)


def spoil_size(path):
    """Rewrite a label PNG or probability file with its sides swapped (W high, H wide)."""
    if path.endswith('.npz'):
        write_foreign_probabilities(path, probabilities().transpose(1, 0, 2).copy())
    else:
        save_label(path, label().T.copy())


@pytest.mark.parametrize('tool', TOOLS)
def test_a_map_with_height_and_width_swapped_is_refused_naming_it(tool, data, capsys):
    spoiled = TOOLS[tool][2](data)
    spoil_size(spoiled)
    before = snapshot(data.root)
    code, err = run(TOOLS[tool][0], argv_of(tool, data), capsys)
    assert_refused(code, err, spoiled, f'{H}x{W}')  # the spoiled map is W high and H wide: "4x5" (width x height)
    assert f'{W}x{H}' in err  # and what it should have been
    assert snapshot(data.root) == before


@pytest.mark.parametrize('tool, spoiled', [
    ('pixel_stacking.py', 'b'), ('densecrf_inference.py --prediction_dir', 'a'), ('evaluate.py --prediction_dir', 'gt'),
])
@pytest.mark.parametrize('num_classes, value, accepted', [
    (None, 20, True), (None, 255, True), (None, 21, False), (None, 254, False), ('3', 2, True), ('3', 3, False),
])
def test_label_values_up_to_the_last_class_and_void_pass_one_past_the_last_class_is_refused(
        tool, spoiled, num_classes, value, accepted, data, capsys):
    """The largest class id (20 for VOC, 2 with --num_classes 3) and 255 are valid, the next id and 254 are not;
    --num_classes must reach the check."""
    path = os.path.join(getattr(data, spoiled), 'x.png')
    save_label(path, label({(2, 1): value}))
    before = snapshot(data.root)
    code, err = run(TOOLS[tool][0], argv_of(tool, data, *(['--num_classes', num_classes] if num_classes else [])),
                    capsys)
    if accepted:
        assert code == 0, err
    else:
        assert_refused(code, err, path, f'[{value}] outside 0..{int(num_classes or C) - 1} and 255')
        assert snapshot(data.root) == before


def test_a_predicted_value_past_the_classes_is_scored_as_wrong_not_refused(data, capsys):
    """evaluate.py's documented rule: only the ground truth is checked; a prediction of 21 counts as an error."""
    save_label(os.path.join(data.a, 'x.png'), label({(2, 1): 21}))
    assert run(evaluate.main, argv_of('evaluate.py --prediction_dir', data), capsys)[0] == 0
    with open(os.path.join(data.out, 'scores.json'), encoding='utf-8') as handle:
        assert '"pixel_accuracy": 0.94736' in handle.read()  # 18 of the 19 non-void pixels right


def sum_spoiled(dtype, distance):
    """Probabilities whose pixel (1, 2) sums to 1 + `distance` (float32), or to 255 + `distance` steps (uint8)."""
    if dtype == 'uint8':
        prob = np.full((H, W, C), 12, np.uint8)
        prob[..., 0] = PROBABILITY_STEPS - 12 * (C - 1)
        prob[1, 2, 0] += distance
        return prob
    prob = probabilities()
    prob[1, 2] *= np.float32(1 + distance)
    return prob


# the last distance from 1 the tolerance accepts and the first it refuses, in each stored form
TOLERATED_STEPS = int(PROBABILITY_STEPS * PROBABILITY_SUM_TOLERANCE)
SUM_LIMITS = {'float32': (0.99 * PROBABILITY_SUM_TOLERANCE, 1.01 * PROBABILITY_SUM_TOLERANCE),
              'uint8': (TOLERATED_STEPS, TOLERATED_STEPS + 1)}


@pytest.mark.parametrize('dtype', SUM_LIMITS)
@pytest.mark.parametrize('sign', [1, -1], ids=['above', 'below'])
def test_a_pixel_sum_just_inside_the_tolerance_is_read_and_just_outside_is_refused(dtype, sign, tmp_path):
    inside, outside = SUM_LIMITS[dtype]
    path = str(tmp_path / 'x.npz')
    write_foreign_probabilities(path, sum_spoiled(dtype, sign * inside))
    assert read_probabilities(path, C).shape == (H, W, C)
    write_foreign_probabilities(path, sum_spoiled(dtype, sign * outside))
    with pytest.raises(UserError, match=f'^{path}: per-pixel sums .* expected 1 '):
        read_probabilities(path, C)


def probability_case(case):
    """A foreign probability file's array with one thing wrong (or, for `inside*`, sums just within tolerance)."""
    prob = probabilities()
    if case in ('NaN', 'inf'):
        prob[1, 2, 3] = float(case)
    elif case == 'one negative value':
        prob[1, 2, 0], prob[1, 2, 1] = -1e-3, prob[1, 2, 1] + 1e-3  # the pixel still sums to 1
    elif case.startswith(('sum', 'inside')):
        prob = sum_spoiled('float32', SUM_LIMITS['float32'][case.startswith('sum')] * (-1 if 'low' in case else 1))
    elif case in ('one class short', 'one class too many'):
        classes = C - 1 if case == 'one class short' else C + 1
        prob = np.full((H, W, classes), 1 / classes, np.float32)
    elif case == 'no pixels':
        prob = np.zeros((0, W, C), np.float32)
    return prob


PROBABILITY_CASES = {'NaN': 'non-finite', 'inf': 'non-finite', 'one negative value': 'negative values',
                     'sum high': 'per-pixel sums', 'sum low': 'per-pixel sums',
                     'one class short': f'expected [H, W, {C}]', 'one class too many': f'expected [H, W, {C}]',
                     'no pixels': f'expected [H, W, {C}]', 'inside high': None, 'inside low': None}


@pytest.mark.parametrize('tool', ['pixel_stacking.py --probabilities', 'densecrf_inference.py --prob_dir'])
@pytest.mark.parametrize('case', PROBABILITY_CASES)
def test_a_probability_file_that_holds_no_probabilities_is_refused_naming_it(tool, case, data, capsys):
    spoiled = TOOLS[tool][2](data)
    write_foreign_probabilities(spoiled, probability_case(case))
    before = snapshot(data.root)
    code, err = run(TOOLS[tool][0], argv_of(tool, data), capsys)
    if PROBABILITY_CASES[case] is None:
        assert code == 0, err
    else:
        assert_refused(code, err, spoiled, PROBABILITY_CASES[case])
        assert snapshot(data.root) == before


EMPTY_LIST_TOOLS = ['pixel_stacking.py --probabilities', 'densecrf_inference.py --prediction_dir',
                    'evaluate.py --prediction_dir', 'make_submission.py']  # pixel_stacking.py's: test_stacking.py


@pytest.mark.parametrize('tool', EMPTY_LIST_TOOLS)
def test_a_list_file_of_blank_lines_is_refused_naming_it(tool, data, capsys):
    with open(data.list, 'w', encoding='utf-8') as handle:
        handle.write('\n \n')
    argv = [item for item in argv_of(tool, data) if item != data.list]
    if '--image_list' in argv:
        argv.remove('--image_list')
    before = snapshot(data.root)
    code, err = run(TOOLS[tool][0], [*argv, '--image_list', data.list], capsys)
    assert_refused(code, err, data.list, 'list file is empty')
    assert snapshot(data.root) == before


@pytest.mark.parametrize('tool, emptied, problem', [
    ('pixel_stacking.py', 'a', 'no label PNGs in'),
    ('pixel_stacking.py --probabilities', 'pa', 'no .npz probability files'),
    ('densecrf_inference.py --prediction_dir', 'a', 'no inputs found'),
    ('densecrf_inference.py --prob_dir', 'pa', 'no inputs found'),
    ('make_submission.py', 'a', 'no result PNGs'),
])
def test_an_input_folder_without_results_is_refused_naming_it(tool, emptied, problem, data, capsys):
    """Without a list every result in the folder is the work: none (only a non-result file) is an error."""
    folder = getattr(data, emptied)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    if tool == 'pixel_stacking.py':
        os.remove(os.path.join(data.b, 'x.png'))
    with open(os.path.join(folder, 'README.txt'), 'w', encoding='utf-8') as handle:
        handle.write('x.png\n')
    argv = argv_of(tool, data)
    if '--image_list' in argv:
        del argv[argv.index('--image_list'):argv.index('--image_list') + 2]
    before = snapshot(data.root)
    code, err = run(TOOLS[tool][0], argv, capsys)
    assert_refused(code, err, folder, problem)
    assert snapshot(data.root) == before


@pytest.mark.parametrize('tool', TOOLS)
def test_a_refusal_is_one_line_and_exit_code_2_from_the_shell_too(tool, data):
    """The scripts' __main__ wiring: the same refusal through a real process, no traceback."""
    spoil_size(TOOLS[tool][2](data))
    before = snapshot(data.root)
    script = os.path.join(ROOT, tool.split()[0])
    done = subprocess.run([sys.executable, script, *argv_of(tool, data)], capture_output=True, text=True, cwd=ROOT)
    assert_refused(done.returncode, done.stderr, TOOLS[tool][2](data), f'{H}x{W}')
    assert done.stdout == '' and snapshot(data.root) == before


# ---------------------------------------------------------------------------------------------------------------
# prepare_labels.py: SBD .mat labels hold 0..20 (SBD has no void)

@pytest.fixture
def voc_sbd(tmp_path):
    """VOC 2012 (train a1, val v1 v2) and SBD (train s1, val s2) in their release layouts; outputs under out/."""
    from voc_archives import make_voc_and_sbd
    make_voc_and_sbd(str(tmp_path), ['a1'], ['v1', 'v2'], ['s1'], ['s2'])
    voc, sbd = tmp_path / 'voc_trainval/VOCdevkit/VOC2012', tmp_path / 'sbd/benchmark_RELEASE/dataset'
    argv = ['--voc_root', str(voc), '--sbd_root', str(sbd), '--output_dir', str(tmp_path / 'out' / 'aug'),
            '--list_dir', str(tmp_path / 'out' / 'lists'), '--num_workers', '1']
    return types.SimpleNamespace(root=str(tmp_path), voc=voc, sbd=sbd, out=tmp_path / 'out', argv=argv)


def assert_nothing_of(spoiled_id, out):
    """After a refusal: no label of the refused id, no temporary, no list (the lists come last)."""
    written = sorted(os.listdir(out / 'aug')) if (out / 'aug').exists() else []
    assert f'{spoiled_id}.png' not in written and not [n for n in written if n.startswith('.')]
    assert not (out / 'lists').exists()


@pytest.mark.parametrize('value, accepted', [(20, True), (21, False)])
def test_a_sbd_label_of_the_last_class_is_converted_one_past_it_refused(value, accepted, voc_sbd, capsys):
    from voc_archives import write_sbd_mat
    mat = voc_sbd.sbd / 'cls' / 's1.mat'
    write_sbd_mat(str(mat), label({(2, 1): value}))
    inputs = {path: state for path, state in snapshot(voc_sbd.root).items() if not path.startswith(str(voc_sbd.out))}
    code, err = run(prepare_labels.main, voc_sbd.argv, capsys)
    if accepted:
        assert code == 0 and np.asarray(Image.open(voc_sbd.out / 'aug' / 's1.png'))[2, 1] == value
    else:
        assert_refused(code, err, mat, 'values outside 0..20')
        assert_nothing_of('s1', voc_sbd.out)
    assert {p: s for p, s in snapshot(voc_sbd.root).items() if not p.startswith(str(voc_sbd.out))} == inputs


@pytest.mark.parametrize('value, accepted', [(20, True), (255, True), (21, False), (254, False)])
def test_a_voc_label_of_the_last_class_or_void_is_converted_one_past_the_last_class_refused(value, accepted, voc_sbd,
                                                                                          capsys):
    """VOC's palette PNGs are checked as SBD's .mat files are: a bad one is not copied into SegmentationClassAug."""
    png = voc_sbd.voc / 'SegmentationClass' / 'a1.png'
    save_label(str(png), label({(2, 1): value}))
    inputs = {path: state for path, state in snapshot(voc_sbd.root).items() if not path.startswith(str(voc_sbd.out))}
    code, err = run(prepare_labels.main, voc_sbd.argv, capsys)
    if accepted:
        assert code == 0 and np.asarray(Image.open(voc_sbd.out / 'aug' / 'a1.png'))[2, 1] == value
    else:
        assert_refused(code, err, png, f'[{value}] outside 0..20 and 255')
        assert_nothing_of('a1', voc_sbd.out)
    assert {p: s for p, s in snapshot(voc_sbd.root).items() if not p.startswith(str(voc_sbd.out))} == inputs


@pytest.mark.parametrize('extra, accepted, problem', [
    (['--num_val', '2'], True, None),
    (['--num_val', '1'], False, 'the val_check list would be empty'),  # val_check is every second val image
    (['--num_train', '0'], False, 'the train list would be empty'),
    (['--run_image_dir', 'images'], False, '--run_image_dir needs --voc_test_root'),
])
def test_list_options_that_leave_a_run_list_empty_are_refused_before_any_label_is_converted(
        extra, accepted, problem, voc_sbd, capsys):
    before = snapshot(voc_sbd.root)
    code, err = run(prepare_labels.main, [*voc_sbd.argv, *extra], capsys)
    if accepted:
        assert code == 0 and (voc_sbd.out / 'lists' / 'run_val_check.txt').read_text() == 'v2\n'
    else:
        assert code == 2 and err.count('\n') == 1 and problem in err, err
        assert snapshot(voc_sbd.root) == before


def test_an_empty_voc_list_is_refused_before_any_label_is_written(voc_sbd, capsys):
    listing = voc_sbd.voc / 'ImageSets' / 'Segmentation' / 'train.txt'
    listing.write_text('\n')
    before = snapshot(voc_sbd.root)
    code, err = run(prepare_labels.main, voc_sbd.argv, capsys)
    assert_refused(code, err, listing, 'list file is empty')
    assert snapshot(voc_sbd.root) == before


# ---------------------------------------------------------------------------------------------------------------
# write_results.py: RESULTS.md from the scores (evaluate.py --output_json) and stage markers in a work folder

@pytest.fixture
def work(tmp_path):
    """A reproduction work folder with the scores of one row and the marker of one finished stage."""
    (tmp_path / 'scores').mkdir()
    (tmp_path / 'scores' / 'val.json').write_text('{"deeplabv3": {"miou": 0.5}}')
    (tmp_path / '.reproduce').mkdir()
    (tmp_path / '.reproduce' / 'train.json').write_text('{"seconds": 60.0, "sequence": 1}')
    return tmp_path


def test_write_results_reads_a_work_folder_of_scores_and_markers(work, capsys):
    assert run(write_results.main, ['--work_dir', str(work)], capsys)[0] == 0
    text = (work / 'RESULTS.md').read_text()
    assert '| 50.00 |' in text and '| 60 s |' in text


@pytest.mark.parametrize('spoiled, content, problem', [
    ('scores/val.json', '{"deeplabv3": {"miou": 0.5}', 'unreadable scores file'),
    ('scores/val.json', '[0.5]', 'not a scores file'),
    ('scores/val_check.json', '', 'unreadable scores file'),
    ('.reproduce/train.json', '{"seconds": 60.0', 'unreadable stage marker'),
])
def test_write_results_refuses_a_scores_file_or_marker_that_is_not_a_json_object_naming_it(
        spoiled, content, problem, work, capsys):
    """A truncated or foreign JSON file (by hand, or another program's) is one line, not a traceback."""
    (work / spoiled).write_text(content)
    before = snapshot(str(work))
    code, err = run(write_results.main, ['--work_dir', str(work)], capsys)
    assert_refused(code, err, work / spoiled, problem)
    assert snapshot(str(work)) == before


def test_a_killed_runs_marker_temporary_is_no_stage(work, capsys):
    """The half-written temporary of a marker (reproduce.py killed while recording a stage) is not read."""
    (work / '.reproduce' / '.evaluate.k3j4h5g6.tmp.json').write_text('{"seconds": 1')
    assert run(write_results.main, ['--work_dir', str(work)], capsys)[0] == 0
