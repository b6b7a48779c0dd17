"""Reruns through the command line on output folders that already hold stale results: without --overwrite the
batch tools keep finished results, make only the missing ones and report the kept ones as existing, not as
written; --overwrite gives byte for byte what a fresh run into an empty folder gives; a run killed in the middle
of a write resumes to the fresh run's results, and what it left behind is never taken for a result. A rerun with
other settings than the folder's record is refused, touching nothing, unless --overwrite redoes it all."""
import json
import os
import shutil
import signal
import tarfile
import types

import numpy as np
import pytest
from conftest import snapshot
from PIL import Image

import densecrf_inference
import evaluate
import make_submission
import pixel_stacking
import prepare_labels
from utils.common.errors import run_cli
from utils.common.files import SETTINGS_RECORD, atomic_path, is_bookkeeping
from utils.data.voc import save_label
from utils.postprocess.crf import LABEL_DEFAULTS, write_params
from utils.postprocess.probabilities import PROBABILITY_KEY, save_probabilities

H, W, C = 12, 16, 21
IDS = ('x1', 'x2')
STALE = np.full((H, W), 7, np.uint8)  # a valid label map, but not what any tool here makes


def killed_while_writing(path):
    """Leave what a run killed during a write leaves: atomic_path's half-written temporary beside `path`, and no
    `path` (a child process is SIGKILLed inside the block)."""
    pid = os.fork()
    if pid == 0:  # the child never returns to pytest
        try:
            with atomic_path(path) as tmp:
                with open(tmp, 'wb') as handle:
                    handle.write(b'\x89PNG\r\n\x1a\n half a file')
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and not os.path.exists(path)
    left = [name for name in os.listdir(os.path.dirname(path)) if name.startswith('.') and name != SETTINGS_RECORD]
    assert len(left) == 1
    return os.path.join(os.path.dirname(path), left[0])


def scene(k):
    """Image and label of `k`: a bright box on a dark ground, the label smeared one column past its edge."""
    rng = np.random.default_rng(k)
    image = np.full((H, W, 3), 40, np.int16)
    image[2:9, 4 + k:12] = (200, 150, 100)
    image = np.clip(image + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
    label = np.zeros((H, W), np.uint8)
    label[2:9, 3 + k:12] = 15
    return image, label


@pytest.fixture
def data(tmp_path):
    """Two images with ground truth, three label folders that disagree a little, two probability folders and a
    list; the outputs go under out/."""
    d = types.SimpleNamespace(root=tmp_path, out=tmp_path / 'out', list=tmp_path / 'list.txt')
    for name in ('images', 'gt', 'a', 'b', 'c', 'pa', 'pb'):
        setattr(d, name, tmp_path / name)
        (tmp_path / name).mkdir()
    for k, ident in enumerate(IDS):
        image, label = scene(k)
        Image.fromarray(image).save(d.images / f'{ident}.png')
        save_label(str(d.gt / f'{ident}.png'), label)
        for shift, folder in enumerate((d.a, d.b, d.c)):
            save_label(str(folder / f'{ident}.png'), np.roll(label, shift - 1, axis=1))
        for shift, folder in enumerate((d.pa, d.pb)):
            prob = np.full((H, W, C), 0.01, np.float32)
            np.put_along_axis(prob, np.roll(label, shift, axis=0)[..., None].astype(np.int64), 0.8, axis=2)
            save_probabilities(str(folder / f'{ident}.npz'), prob / prob.sum(axis=2, keepdims=True))
    d.list.write_text(''.join(f'{i}\n' for i in IDS))
    return d


def stacking(d, out):
    return pixel_stacking.main, ['--prediction_dir', str(d.a), str(d.b), str(d.c), '--weights', '1', '2', '1',
                                 '--output_dir', str(out), '--num_workers', '1']


def soft_stacking(d, out):
    return pixel_stacking.main, ['--probabilities', '--prediction_dir', str(d.pa), str(d.pb), '--output_dir', str(out),
                                 '--num_workers', '1']


def crf_labels(d, out):
    return densecrf_inference.main, ['--image_data_dir', str(d.images), '--prediction_dir', str(d.a), '--output_dir',
                                     str(out), '--iterations', '2', '--num_workers', '1']


def crf_probabilities(d, out):
    return densecrf_inference.main, ['--image_data_dir', str(d.images), '--prob_dir', str(d.pa), '--output_dir',
                                     str(out), '--iterations', '2', '--num_workers', '1']


BATCH_TOOLS = {'pixel_stacking.py': (stacking, 'stacked'),
               'pixel_stacking.py --probabilities': (soft_stacking, 'averaged'),
               'densecrf_inference.py --prediction_dir': (crf_labels, 'refined'),
               'densecrf_inference.py --prob_dir': (crf_probabilities, 'refined')}


def run_argv(main, argv, capsys):
    """A script's exit code, stdout and stderr for `argv`."""
    code = run_cli(main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run(tool, d, out, capsys, *extra):
    """Run a batch tool into `out`; its stdout (the run must succeed)."""
    main, argv = BATCH_TOOLS[tool][0](d, out)
    code, printed, err = run_argv(main, [*argv, *extra], capsys)
    assert code == 0, err
    return printed


def results(out):
    """{relative path: content} of a tool's outputs: the bytes of label PNGs, the array of probability files (a
    .npz holds its write time); a killed run's temporaries are left out."""
    found = {}
    for folder, _, files in os.walk(out):
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith('.'):
                continue
            if name.endswith('.npz'):
                with np.load(path) as stored:
                    found[os.path.relpath(path, out)] = stored[PROBABILITY_KEY].tolist()
            else:
                with open(path, 'rb') as handle:
                    found[os.path.relpath(path, out)] = handle.read()
    return found


@pytest.fixture
def fresh(data, tmp_path_factory, capsys):
    """{tool: its results} of a run into an empty folder, made once per test that asks."""
    made = {}

    def of(tool):
        if tool not in made:
            out = tmp_path_factory.mktemp('fresh')
            run(tool, data, out / 'out', capsys)
            made[tool] = results(out / 'out')
        return made[tool]
    return of


def stale_outputs(tool, out, ids):
    """Stale results of `ids` in `out`, as an earlier run with other inputs could have left them."""
    for ident in ids:
        save_label(str(out / f'{ident}.png'), STALE)
        if tool == 'pixel_stacking.py --probabilities':
            prob = np.zeros((H, W, C), np.float32)
            prob[..., 7] = 1
            save_probabilities(str(out / 'probabilities' / f'{ident}.npz'), prob)


OLD_FOLDER_NOTE = ('holds results without a record of their settings (made by an older version): kept and taken as '
                   'made with these settings')


@pytest.mark.parametrize('tool', BATCH_TOOLS)
def test_without_overwrite_finished_results_are_kept_and_reported_as_existing(tool, data, fresh, capsys):
    """The stale results have no settings record, as an older version's folder: resumed, with a note saying so."""
    stale_outputs(tool, data.out, ['x1'])
    kept = snapshot(data.out)
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    code, printed, err = run_argv(main, argv, capsys)
    assert code == 0 and err == f'note: {data.out}: {OLD_FOLDER_NOTE}\n'
    assert printed.startswith(f'1 {BATCH_TOOLS[tool][1]} results written to {data.out}, 1 existed already')
    assert {path: state for path, state in snapshot(data.out).items() if path in kept} == kept  # not even touched
    expected = fresh(tool)
    made = results(data.out)
    assert {p: v for p, v in made.items() if 'x2' in p} == {p: v for p, v in expected.items() if 'x2' in p}


@pytest.mark.parametrize('tool', BATCH_TOOLS)
def test_overwrite_replaces_stale_results_with_what_a_fresh_run_makes(tool, data, fresh, capsys):
    stale_outputs(tool, data.out, IDS)
    printed = run(tool, data, data.out, capsys, '--overwrite')
    assert printed.startswith(f'2 {BATCH_TOOLS[tool][1]} results written to {data.out}, 0 existed already')
    assert results(data.out) == fresh(tool)


def test_a_soft_ensemble_result_without_its_probabilities_is_unfinished_and_made_again(data, fresh, capsys):
    """Killed between writing x1.png and probabilities/x1.npz: x1 is not finished, so its stale label goes too."""
    tool = 'pixel_stacking.py --probabilities'
    save_label(str(data.out / 'x1.png'), STALE)
    killed_while_writing(str(data.out / 'probabilities' / 'x1.npz'))
    printed = run(tool, data, data.out, capsys)
    assert printed.startswith(f'2 averaged results written to {data.out}, 0 existed already')
    assert results(data.out) == fresh(tool)


@pytest.mark.parametrize('tool', BATCH_TOOLS)
def test_a_run_killed_in_the_middle_of_a_write_resumes_to_the_fresh_runs_results(tool, data, fresh, capsys):
    (data.root / 'first.txt').write_text('x1\n')
    run(tool, data, data.out, capsys, '--image_list', str(data.root / 'first.txt'))  # x1 finished before the kill
    killed_while_writing(str(data.out / ('probabilities/x2.npz' if 'probabilities' in tool else 'x2.png')))
    printed = run(tool, data, data.out, capsys)
    assert printed.startswith(f'1 {BATCH_TOOLS[tool][1]} results written to {data.out}, 1 existed already')
    assert results(data.out) == fresh(tool)


def with_flag(argv, flag, values):
    """`argv` with `flag` given `values`: in place of its values when it is there, else added."""
    if flag not in argv:
        return [*argv, flag, *values]
    start = argv.index(flag) + 1
    end = next((k for k in range(start, len(argv)) if argv[k].startswith('--')), len(argv))
    return [*argv[:start], *values, *argv[end:]]


def crf_params_file(d):
    """A --params_json of the hard-label defaults but a Gaussian compat of 5."""
    write_params(str(d.root / 'crf.json'), LABEL_DEFAULTS._replace(gauss_compat=5.0))
    return [str(d.root / 'crf.json')]


def other_images(d):
    """A copy of the image folder elsewhere: the same images, another --image_data_dir."""
    shutil.copytree(d.images, d.root / 'images2')
    return [str(d.root / 'images2')]


# (tool, flag, its new values from the data, the settings the refusal names): each changes what the results are
CHANGES = [
    ('pixel_stacking.py', '--weights', lambda d: ['2', '1', '1'], ['weights']),
    ('pixel_stacking.py', '--prediction_dir', lambda d: [str(d.a), str(d.c), str(d.b)], ['prediction_dir']),
    ('pixel_stacking.py', '--tie_break', lambda d: ['smallest'], ['tie_break']),
    ('pixel_stacking.py', '--num_classes', lambda d: ['16'], ['num_classes']),
    ('pixel_stacking.py', '--probabilities', lambda d: ['--prediction_dir', str(d.pa), str(d.pb), '--weights', '1', '2',
                                                        '1'], ['probabilities', 'prediction_dir', 'tie_break']),
    ('pixel_stacking.py --probabilities', '--weights', lambda d: ['3', '1'], ['weights']),
    ('pixel_stacking.py --probabilities', '--prediction_dir', lambda d: [str(d.pb), str(d.pa)], ['prediction_dir']),
    ('pixel_stacking.py --probabilities', '--num_classes', lambda d: ['22'], ['num_classes']),
    ('densecrf_inference.py --prediction_dir', '--iterations', lambda d: ['3'], ['iterations']),
    ('densecrf_inference.py --prediction_dir', '--bilateral_sxy', lambda d: ['50'], ['bilateral_sxy']),
    ('densecrf_inference.py --prediction_dir', '--gt_prob', lambda d: ['0.6'], ['gt_prob']),
    ('densecrf_inference.py --prediction_dir', '--params_json', crf_params_file, ['gauss_compat']),
    ('densecrf_inference.py --prediction_dir', '--prediction_dir', lambda d: [str(d.b)], ['prediction_dir']),
    ('densecrf_inference.py --prediction_dir', '--image_data_dir', other_images, ['image_data_dir']),
    ('densecrf_inference.py --prediction_dir', '--seed_compat', lambda d: [], ['seed_compat']),
    ('densecrf_inference.py --prediction_dir', '--num_classes', lambda d: ['16'], ['num_classes']),
    ('densecrf_inference.py --prob_dir', '--prob_dir', lambda d: [str(d.pb)], ['prob_dir']),
    ('densecrf_inference.py --prob_dir', '--gauss_sxy', lambda d: ['2'], ['gauss_sxy']),
    ('densecrf_inference.py --prob_dir', '--bilateral_compat', lambda d: ['5'], ['bilateral_compat']),
]


def refused_settings(err, out):
    """The names of the settings a refusal's one line (naming `out`) says changed."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    start = f'error: {out}: holds results made with other settings ('
    end = '); pass --overwrite to redo them all with these, or choose another output folder'
    assert lines[0].startswith(start) and lines[0].endswith(end), lines[0]
    return [change.split(' ')[0] for change in lines[0][len(start):-len(end)].split('; ')]


@pytest.mark.parametrize('tool, flag, values, named', CHANGES, ids=[f'{c[0]} {c[1]}' for c in CHANGES])
def test_a_rerun_with_other_settings_is_refused_naming_them_and_touches_nothing(tool, flag, values, named, data,
                                                                                capsys):
    run(tool, data, data.out, capsys)
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    changed = with_flag(argv, flag, values(data))
    before = snapshot(data.root)
    code, printed, err = run_argv(main, changed, capsys)
    assert (code, printed) == (2, '')
    assert refused_settings(err, data.out) == named
    assert snapshot(data.root) == before


@pytest.mark.parametrize('tool', BATCH_TOOLS)
def test_a_rerun_with_the_same_settings_resumes_without_a_note(tool, data, fresh, capsys):
    """--image_list and --num_workers choose which images and how many processes, not what the results are."""
    (data.root / 'first.txt').write_text('x1\n')
    run(tool, data, data.out, capsys, '--image_list', str(data.root / 'first.txt'))
    assert (data.out / SETTINGS_RECORD).is_file()
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    code, printed, err = run_argv(main, [*argv, '--num_workers', '2'], capsys)
    assert (code, err) == (0, '')
    assert printed.startswith(f'1 {BATCH_TOOLS[tool][1]} results written to {data.out}, 1 existed already')
    assert results(data.out) == fresh(tool)


# (tool, flag, values from the data): the same settings told otherwise, or flags that do not change the results
SAME_RESULTS = [
    ('pixel_stacking.py', '--weights', lambda d: ['1', '2.0', '1.00']),
    ('pixel_stacking.py', '--prediction_dir', lambda d: [os.path.relpath(f) for f in (d.a, d.b, d.c)]),
    ('pixel_stacking.py', '--allow_missing', lambda d: []),
    ('pixel_stacking.py --probabilities', '--tie_break', lambda d: ['smallest']),
    ('densecrf_inference.py --prediction_dir', '--image_data_dir', lambda d: [str(d.images) + '/']),
    ('densecrf_inference.py --prob_dir', '--gt_prob', lambda d: ['0.6']),
]


@pytest.mark.parametrize('tool, flag, values', SAME_RESULTS, ids=[f'{c[0]} {c[1]}' for c in SAME_RESULTS])
def test_a_rerun_whose_flags_do_not_change_the_results_resumes(tool, flag, values, data, capsys):
    run(tool, data, data.out, capsys)
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    before = snapshot(data.root)
    code, printed, err = run_argv(main, with_flag(argv, flag, values(data)), capsys)
    assert (code, err) == (0, '')
    assert printed.startswith(f'0 {BATCH_TOOLS[tool][1]} results written to {data.out}, 2 existed already')
    assert snapshot(data.root) == before


# (tool, flag, new values): a change of setting that changes the results
NEW_SETTINGS = [
    ('pixel_stacking.py', '--weights', lambda d: ['2', '1', '1']),
    ('pixel_stacking.py --probabilities', '--weights', lambda d: ['3', '1']),
    ('densecrf_inference.py --prediction_dir', '--iterations', lambda d: ['1']),
    ('densecrf_inference.py --prob_dir', '--prob_dir', lambda d: [str(d.pb)]),
]


@pytest.mark.parametrize('tool, flag, values', NEW_SETTINGS, ids=[f'{c[0]} {c[1]}' for c in NEW_SETTINGS])
def test_overwrite_redoes_every_result_with_the_new_settings_which_a_rerun_then_resumes(tool, flag, values, data,
                                                                                        fresh, capsys):
    run(tool, data, data.out, capsys)
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    new = with_flag(argv, flag, values(data))
    fresh_new = data.root / 'fresh_new'
    assert run_argv(main, with_flag(new, '--output_dir', [str(fresh_new)]), capsys)[0] == 0
    assert results(fresh_new) != fresh(tool)  # guard: the new setting changes the results
    code, printed, err = run_argv(main, [*new, '--overwrite'], capsys)
    assert (code, err) == (0, '')
    assert printed.startswith(f'2 {BATCH_TOOLS[tool][1]} results written to {data.out}, 0 existed already')
    assert results(data.out) == results(fresh_new)
    code, printed, err = run_argv(main, new, capsys)  # the record now holds the new settings
    assert (code, err) == (0, '')
    assert printed.startswith(f'0 {BATCH_TOOLS[tool][1]} results written to {data.out}, 2 existed already')
    assert refused_settings(run_argv(main, argv, capsys)[2], data.out) == [flag[2:]]


def writer_of(tool):
    """The module whose save_label writes the tool's label PNGs."""
    from utils.postprocess import crf, soft_voting, voting
    return {'pixel_stacking.py': voting, 'pixel_stacking.py --probabilities': soft_voting}.get(tool, crf)


@pytest.mark.parametrize('tool, flag, values', NEW_SETTINGS, ids=[f'{c[0]} {c[1]}' for c in NEW_SETTINGS])
def test_an_interrupted_overwrite_with_new_settings_is_refused_until_an_overwrite_finishes(tool, flag, values, data,
                                                                                           capsys, monkeypatch):
    """Interrupted after redoing x1: x2 is still the earlier settings', so resuming would pass it off as new."""
    run(tool, data, data.out, capsys)
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    new = with_flag(argv, flag, values(data))
    module = writer_of(tool)
    save_label = module.save_label

    def killed_after_one(path, label):
        save_label(path, label)
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(module, 'save_label', killed_after_one)
        assert run_argv(main, [*new, '--overwrite'], capsys)[0] == 130
    before = snapshot(data.root)
    assert run_argv(main, new, capsys) == (2, '', f'error: {data.out}: an --overwrite run with these settings did not '
                                                  'finish, so results of the earlier settings may remain; pass '
                                                  '--overwrite to redo them all\n')
    assert snapshot(data.root) == before
    code, printed, _ = run_argv(main, [*new, '--overwrite'], capsys)
    assert code == 0 and printed.startswith(f'2 {BATCH_TOOLS[tool][1]} results written to {data.out}, 0 existed')
    code, printed, err = run_argv(main, new, capsys)
    assert (code, err) == (0, '') and printed.startswith(f'0 {BATCH_TOOLS[tool][1]} results written to {data.out}, '
                                                         '2 existed already')


@pytest.mark.parametrize('tool, flag, values', NEW_SETTINGS, ids=[f'{c[0]} {c[1]}' for c in NEW_SETTINGS])
def test_a_run_that_fails_before_its_first_result_leaves_the_record_as_it_was(tool, flag, values, data, capsys,
                                                                              monkeypatch):
    """The folder's results gone, a rerun with other settings may start; if it makes nothing, the record stays."""
    run(tool, data, data.out, capsys)
    record = (data.out / SETTINGS_RECORD).read_bytes()
    for path in [*data.out.glob('*.png'), *data.out.glob('probabilities/*.npz')]:
        path.unlink()
    main, argv = BATCH_TOOLS[tool][0](data, data.out)
    new = with_flag(argv, flag, values(data))

    def failing(path, label):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(writer_of(tool), 'save_label', failing)
        assert run_argv(main, new, capsys)[0] == 130
    assert (data.out / SETTINGS_RECORD).read_bytes() == record
    assert run_argv(main, new, capsys)[0] == 0
    assert run_argv(main, with_flag(new, '--output_dir', [str(data.root / 'fresh_new')]), capsys)[0] == 0
    assert (data.out / SETTINGS_RECORD).read_bytes() == (data.root / 'fresh_new' / SETTINGS_RECORD).read_bytes()


def test_the_settings_record_is_no_result_for_the_tools_that_read_the_folder(data, capsys):
    """A stacked folder with its record, read by evaluate.py, make_submission.py and the CRF as a result folder."""
    run('pixel_stacking.py', data, data.out, capsys)
    assert sorted(os.listdir(data.out)) == [SETTINGS_RECORD, 'x1.png', 'x2.png'] and is_bookkeeping(SETTINGS_RECORD)
    scores = data.root / 'scores.csv'
    argv = ['--prediction_dir', str(data.out), '--ground_truth_dir', str(data.gt), '--image_list', str(data.list),
            '--per_image_csv', str(scores), '--num_workers', '1']
    assert run_argv(evaluate.main, argv, capsys)[0] == 0
    assert [line.split(',')[1] for line in scores.read_text().splitlines()[1:]] == list(IDS)
    submission = data.root / 'sub.tar.gz'
    assert run_argv(make_submission.main, ['--prediction_dir', str(data.out), '--image_data_dir', str(data.images),
                                           '--output', str(submission), '--num_workers', '1'], capsys)[0] == 0
    with tarfile.open(submission) as tar:
        assert [os.path.basename(n) for n in tar.getnames()] == ['x1.png', 'x2.png']
    printed = run('densecrf_inference.py --prediction_dir', types.SimpleNamespace(**dict(vars(data), a=data.out)),
                  data.root / 'crf', capsys)
    assert printed.startswith(f'2 refined results written to {data.root / "crf"}, 0 existed already')


def with_leftover(folder, name):
    """`folder` holding, beside its results, the temporary of a run killed while writing `name`."""
    return killed_while_writing(str(folder / name))


# what reads a folder without a list: (main, argv, the folder it lists, a result name to leave a temporary of)
NEXT_TOOLS = {
    'pixel_stacking.py': lambda d: (pixel_stacking.main, [
        '--prediction_dir', str(d.a), str(d.b), '--output_dir', str(d.out)], d.a, 'x3.png'),
    'pixel_stacking.py --probabilities': lambda d: (pixel_stacking.main, [
        '--probabilities', '--prediction_dir', str(d.pa), str(d.pb), '--output_dir', str(d.out)], d.pa, 'x3.npz'),
    'densecrf_inference.py --prediction_dir': lambda d: (densecrf_inference.main, [
        '--image_data_dir', str(d.images), '--prediction_dir', str(d.a), '--output_dir', str(d.out)], d.a, 'x3.png'),
    'densecrf_inference.py --prob_dir': lambda d: (densecrf_inference.main, [
        '--image_data_dir', str(d.images), '--prob_dir', str(d.pa), '--output_dir', str(d.out)], d.pa, 'x3.npz'),
    'make_submission.py': lambda d: (make_submission.main, [
        '--prediction_dir', str(d.a), '--output', str(d.out / 'sub.tar.gz'), '--image_data_dir', str(d.images)],
        d.a, 'x3.png'),
}


@pytest.mark.parametrize('tool', NEXT_TOOLS)
def test_what_a_killed_run_left_in_a_folder_is_not_taken_for_a_result_by_the_next_tool(tool, data, capsys):
    main, argv, folder, name = NEXT_TOOLS[tool](data)
    leftover = with_leftover(folder, name)
    code = run_cli(main, [*argv, '--num_workers', '1'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert os.path.basename(leftover)[:-4] not in captured.out + captured.err
    if tool == 'make_submission.py':
        with tarfile.open(data.out / 'sub.tar.gz') as tar:
            assert [os.path.basename(n) for n in tar.getnames()] == ['x1.png', 'x2.png']
    else:
        assert sorted(n for n in os.listdir(data.out) if n.endswith('.png')) == ['x1.png', 'x2.png']


def test_a_refused_submission_leaves_the_earlier_tarball_as_it_was_and_a_rerun_replaces_it(data, capsys):
    """make_submission.py has no --overwrite: it packs anew each time, atomically, so a refusal keeps the earlier
    tarball whole and a good run replaces it with exactly the fresh run's members."""
    out, fresh_out = data.out / 'sub.tar.gz', data.root / 'fresh.tar.gz'
    argv = ['--prediction_dir', str(data.a), '--image_data_dir', str(data.images), '--num_workers', '1']
    assert run_cli(make_submission.main, [*argv, '--output', str(fresh_out)]) == 0
    out.parent.mkdir()
    out.write_bytes(b'a stale tarball')
    save_label(str(data.a / 'x2.png'), np.full((H, W), 21, np.uint8))
    before = snapshot(data.root)
    assert run_cli(make_submission.main, [*argv, '--output', str(out)]) == 2
    assert snapshot(data.root) == before
    save_label(str(data.a / 'x2.png'), np.roll(scene(1)[1], -1, axis=1))  # back as the fixture wrote it
    assert run_cli(make_submission.main, [*argv, '--output', str(out)]) == 0
    capsys.readouterr()

    def members(path):
        with tarfile.open(path) as tar:
            return {name: tar.extractfile(name).read() for name in tar.getnames()}
    assert members(out) == members(fresh_out)


def test_evaluate_replaces_a_stale_score_file(data, capsys):
    out = data.out / 'scores.json'
    out.parent.mkdir()
    out.write_text('{"miou": 0.99}')
    argv = ['--prediction_dir', str(data.a), '--ground_truth_dir', str(data.gt), '--image_list', str(data.list),
            '--num_workers', '1']
    assert run_cli(evaluate.main, [*argv, '--output_json', str(out)]) == 0
    assert run_cli(evaluate.main, [*argv, '--output_json', str(data.root / 'fresh.json')]) == 0
    capsys.readouterr()
    assert out.read_bytes() == (data.root / 'fresh.json').read_bytes()
    assert json.loads(out.read_text())['miou'] < 0.99


# ---------------------------------------------------------------------------------------------------------------
# prepare_labels.py: no --overwrite; converted labels are kept, the lists are written anew each run

@pytest.fixture
def voc_sbd(tmp_path):
    """VOC 2012 (train a1, val v1 v2) and SBD (train s1, val s2) in their release layouts."""
    from voc_archives import make_voc_and_sbd
    make_voc_and_sbd(str(tmp_path), ['a1'], ['v1', 'v2'], ['s1'], ['s2'])
    voc, sbd = tmp_path / 'voc_trainval/VOCdevkit/VOC2012', tmp_path / 'sbd/benchmark_RELEASE/dataset'
    return types.SimpleNamespace(root=tmp_path, argv=['--voc_root', str(voc), '--sbd_root', str(sbd), '--num_workers',
                                                      '1'])


def prepare(voc_sbd, out, capsys):
    code = run_cli(prepare_labels.main, [*voc_sbd.argv, '--output_dir', str(out / 'aug'), '--list_dir',
                                         str(out / 'lists')])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_prepare_labels_killed_midway_resumes_to_the_fresh_runs_labels_and_lists(voc_sbd, capsys):
    fresh, out = voc_sbd.root / 'fresh', voc_sbd.root / 'out'
    prepare(voc_sbd, fresh, capsys)
    shutil.copytree(fresh / 'aug', out / 'aug')
    for ident in ('s2', 'v2'):
        (out / 'aug' / f'{ident}.png').unlink()
    killed_while_writing(str(out / 'aug' / 's2.png'))
    (out / 'lists').mkdir()
    (out / 'lists' / 'train_aug.txt').write_text('stale\n')
    printed = prepare(voc_sbd, out, capsys)
    assert f'{out / "aug"}: 2 index PNGs written, 3 existed already' in printed
    assert results(out) == results(fresh)


def test_a_ready_made_label_folder_with_a_killed_runs_leftover_gives_lists_of_its_labels_only(voc_sbd, capsys):
    """--segmentation_class_aug lists the folder: the temporary of an interrupted conversion into it is no label."""
    prepare(voc_sbd, voc_sbd.root / 'made', capsys)
    aug = voc_sbd.root / 'made' / 'aug'
    with_leftover(aug, 's3.png')
    argv = [*voc_sbd.argv[:2], '--segmentation_class_aug', str(aug), '--list_dir', str(voc_sbd.root / 'lists')]
    assert run_cli(prepare_labels.main, argv) == 0
    assert (voc_sbd.root / 'lists' / 'train_aug.txt').read_text() == 'a1\ns1\ns2\n'


# ---------------------------------------------------------------------------------------------------------------
# reproduce.py: a finished stage is skipped, --redo makes it anew, an interrupted one resumes; and one interrupted
# before a stage it needs was redone starts from nothing, since what it made came from the replaced outputs

def stand_in_plan(layout, texts):
    """Two stages: `first` writes first.txt; `second` (needs first) writes two files, keeping existing ones as the
    batch tools do. The texts stand for what each makes from its inputs."""
    from utils.cli.commands import Command
    from utils.reproduce.plan import Stage
    outputs = {'first': ['first.txt'], 'second': ['second1.txt', 'second2.txt']}
    return [Stage(name, name, [Command('make', ['--output', layout.path(path), '--text', text])
                               for path in outputs[name]], [layout.path(path) for path in outputs[name]], needs)
            for (name, needs), text in zip((('first', ()), ('second', ('first',))), texts)]


@pytest.fixture
def stand_in(monkeypatch):
    """reproduce's run_command replaced: a stand-in command writes its --text to --output unless it exists; `kill`
    set to a path interrupts the run (Ctrl-C) right after that path is written."""
    from utils.reproduce import run as reproduce_run
    state = types.SimpleNamespace(kill=None)

    def run_command(command):
        argv = dict(zip(command.argv[::2], command.argv[1::2]))
        if not os.path.exists(argv['--output']):
            with open(argv['--output'], 'w', encoding='utf-8') as handle:
                handle.write(argv['--text'])
        if argv['--output'] == state.kill:
            raise KeyboardInterrupt
    monkeypatch.setattr(reproduce_run, 'run_command', run_command)
    return state


def texts(layout):
    return [open(layout.path(name), encoding='utf-8').read() for name in ('first.txt', 'second1.txt', 'second2.txt')]


def test_an_interrupted_stage_resumes_keeping_what_it_finished(tmp_path, stand_in, capsys):
    from utils.reproduce.plan import Layout
    from utils.reproduce.run import run_plan
    layout = Layout(tmp_path)
    run_plan(stand_in_plan(layout, 'ab'), layout, ['first'])
    stand_in.kill = layout.path('second1.txt')
    with pytest.raises(KeyboardInterrupt):
        run_plan(stand_in_plan(layout, 'ab'), layout, ['second'])
    stand_in.kill = None
    run_plan(stand_in_plan(layout, 'aB'), layout, ['first', 'second'])  # B: a later attempt, same inputs
    assert texts(layout) == ['a', 'b', 'B'] and 'starts again' not in capsys.readouterr().err


def test_a_stage_interrupted_before_a_stage_it_needs_was_redone_starts_from_nothing(tmp_path, stand_in, capsys):
    from utils.reproduce.plan import Layout
    from utils.reproduce.run import run_plan
    layout = Layout(tmp_path)
    run_plan(stand_in_plan(layout, 'ab'), layout, ['first'])
    stand_in.kill = layout.path('second1.txt')
    with pytest.raises(KeyboardInterrupt):
        run_plan(stand_in_plan(layout, 'ab'), layout, ['second'])  # second1.txt made from first's 'a'
    stand_in.kill = None
    partial = os.path.join(layout.state, 'second.partial.json')
    with open(partial, encoding='utf-8') as handle:
        progress = json.load(handle)
    with open(partial, 'w', encoding='utf-8') as handle:  # as if the attempt had run for an hour
        json.dump(dict(progress, seconds=3600.0), handle)
    run_plan(stand_in_plan(layout, 'AB'), layout, ['first'], redo=True)
    capsys.readouterr()
    run_plan(stand_in_plan(layout, 'AB'), layout, ['first', 'second'])
    assert texts(layout) == ['A', 'B', 'B']
    assert 'note: the interrupted second began before the current outputs of first:' in capsys.readouterr().err
    with open(os.path.join(layout.state, 'second.json'), encoding='utf-8') as handle:
        assert json.load(handle)['seconds'] < 60  # the discarded attempt's hour is not the stage's time


def test_a_stage_interrupted_while_a_stage_it_needs_was_unfinished_starts_from_nothing_once_that_one_finished(
        tmp_path, stand_in, capsys):
    """--stages second before first ever finished (the run notes it and goes on): its partial outputs were not
    made from first's outputs."""
    from utils.reproduce.plan import Layout
    from utils.reproduce.run import run_plan
    layout = Layout(tmp_path)
    stand_in.kill = layout.path('second1.txt')
    with pytest.raises(KeyboardInterrupt):
        run_plan(stand_in_plan(layout, 'ab'), layout, ['second'])
    stand_in.kill = None
    run_plan(stand_in_plan(layout, 'AB'), layout, ['first', 'second'])
    assert texts(layout) == ['A', 'B', 'B']
    assert 'note: the interrupted second began before the current outputs of first:' in capsys.readouterr().err


@pytest.fixture
def work(tmp_path):
    """A reproduction work folder at the stack stage: every earlier stage finished (markers with the plan's
    commands), the three hard and three soft inputs of the stack stage for two images, and the run's lists."""
    from utils.reproduce import plan as reproduce_plan
    layout = reproduce_plan.Layout(tmp_path / 'work')
    os.makedirs(layout.state)
    for sequence, stage in enumerate(reproduce_plan.build_plan(layout)[:7], 1):  # download .. zoo
        with open(os.path.join(layout.state, f'{stage.name}.json'), 'w', encoding='utf-8') as handle:
            json.dump({'seconds': 1.0, 'sequence': sequence, 'commands': [
                [command.script, *command.argv] for command in stage.commands]}, handle)
    os.makedirs(layout.lists)
    for name in ('val', 'val_test'):
        with open(layout.list(name), 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{i}\n' for i in IDS))
    for k, name in enumerate(reproduce_plan.HARD_INPUTS[:2], 1):  # the two zoo models disagree: class 1 or 2
        write_result(layout.result(name), k)
        write_result(layout.result(f'{name}_ckpt'), k)
    write_result(layout.result('deeplabv3_msflip'), 2)  # our model sides with the second: 2 wins
    return layout


def write_result(folder, cls):
    """A result folder of the ids as inference.py --save_probabilities writes them, class `cls` in the box."""
    os.makedirs(os.path.join(folder, 'probabilities'), exist_ok=True)
    for k, ident in enumerate(IDS):
        label = np.where(scene(k)[1] > 0, cls, 0).astype(np.uint8)
        save_label(os.path.join(folder, f'{ident}.png'), label)
        prob = np.full((H, W, C), 0.01, np.float32)
        np.put_along_axis(prob, label[..., None].astype(np.int64), 0.8, axis=2)
        prob /= prob.sum(axis=2, keepdims=True)
        save_probabilities(os.path.join(folder, 'probabilities', f'{ident}.npz'), prob)


def reproduce_cli(layout, capsys, *argv):
    """reproduce.py --work_dir WORK ...: exit code, stdout, stderr."""
    import reproduce
    code = run_cli(reproduce.main, ['--work_dir', layout.work, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fresh_stack(layout, tmp_path, capsys):
    """The stack stage's commands run into empty folders: what its outputs must be on the current inputs."""
    from utils.cli.commands import run_command
    from utils.reproduce.plan import build_plan
    stage = next(stage for stage in build_plan(layout) if stage.name == 'stack')
    made = {}
    for command in stage.commands:
        out = command.argv[command.argv.index('--output_dir') + 1]
        fresh_out = str(tmp_path / 'fresh' / os.path.basename(out))
        run_command(command._replace(argv=[fresh_out if item == out else item for item in command.argv]))
        made[os.path.basename(out)] = results(fresh_out)
    capsys.readouterr()
    return made


def stack_results(layout):
    return {name: results(layout.result(name)) for name in ('stack_hard', 'stack_soft')}


def redo_evaluate(layout, capsys, monkeypatch):
    """reproduce.py --redo --stages evaluate with its networks stood in for: our model now says class 3 (the zoo
    models still disagree, so the hard vote changes)."""
    from utils.reproduce import run as reproduce_run
    real_run_command = reproduce_run.run_command

    def networks_stood_in(command):
        if command.script == 'inference':
            write_result(command.argv[command.argv.index('--output_dir') + 1], 3)
        elif command.script != 'evaluate':
            real_run_command(command)
    with monkeypatch.context() as patch:
        patch.setattr(reproduce_run, 'run_command', networks_stood_in)
        assert reproduce_cli(layout, capsys, '--redo', '--stages', 'evaluate')[0] == 0


def test_reproduce_redoes_a_finished_stack_stage_made_before_evaluate_was_redone(work, tmp_path, monkeypatch, capsys):
    assert reproduce_cli(work, capsys, '--stages', 'stack')[0] == 0
    stacked_before = stack_results(work)
    redo_evaluate(work, capsys, monkeypatch)
    code, out, _ = reproduce_cli(work, capsys, '--stages', 'stack')
    expected = fresh_stack(work, tmp_path, capsys)
    assert code == 0 and stack_results(work) == expected != stacked_before
    assert 'stack: redone, out of date' in out


def test_reproduce_stack_stage_interrupted_then_evaluate_redone_is_stacked_anew(work, tmp_path, monkeypatch, capsys):
    """Through reproduce.py's command line with the real stack stage (pixel_stacking.py); only the networks of the
    evaluate stage are stood in for."""
    import utils.cli.flags
    from utils.postprocess import voting
    monkeypatch.setattr(utils.cli.flags, 'default_workers', lambda: 1)  # the stack stage's pixel_stacking runs here
    save_label = voting.save_label
    written = []

    def killed_after_one(path, label):
        save_label(path, label)
        written.append(path)
        raise KeyboardInterrupt
    monkeypatch.setattr(voting, 'save_label', killed_after_one)
    code, _, err = reproduce_cli(work, capsys, '--stages', 'stack')
    assert (code, err.splitlines()[-1], [os.path.basename(p) for p in written]) == (130, 'interrupted', ['x1.png'])
    monkeypatch.setattr(voting, 'save_label', save_label)
    stacked_before = results(work.result('stack_hard'))['x1.png']

    redo_evaluate(work, capsys, monkeypatch)
    code, _, err = reproduce_cli(work, capsys, '--stages', 'stack')
    expected = fresh_stack(work, tmp_path, capsys)
    assert code == 0 and stack_results(work) == expected
    assert 'note: the interrupted stack began before the current outputs of evaluate:' in err
    assert expected['stack_hard']['x1.png'] != stacked_before  # guard: the redo changed the vote


def test_reproduce_skips_a_finished_stack_stage_and_redo_replaces_stale_outputs(work, tmp_path, capsys):
    assert reproduce_cli(work, capsys, '--stages', 'stack')[0] == 0
    expected = fresh_stack(work, tmp_path, capsys)
    assert stack_results(work) == expected
    save_label(os.path.join(work.result('stack_hard'), 'x1.png'), STALE)  # by hand, after the stage finished
    before = snapshot(work.work)
    code, out, _ = reproduce_cli(work, capsys, '--stages', 'stack')
    assert code == 0 and 'stack: done already, skipped' in out and snapshot(work.work) == before
    code, out, _ = reproduce_cli(work, capsys, '--redo', '--stages', 'stack')
    assert code == 0 and 'stack: redone' in out
    assert stack_results(work) == expected


def test_reproduce_refuses_a_stage_finished_with_other_settings_before_touching_anything(work, capsys):
    """The crf stage recorded by a --quick run: a full run of it is refused, naming the flag that changed."""
    from utils.reproduce import plan as reproduce_plan
    quick = {stage.name: stage for stage in reproduce_plan.build_plan(work, quick=True)}
    for sequence, name in enumerate(('stack', 'crf'), 8):
        with open(os.path.join(work.state, f'{name}.json'), 'w', encoding='utf-8') as handle:
            json.dump({'seconds': 1.0, 'sequence': sequence, 'commands': [
                [command.script, *command.argv] for command in quick[name].commands]}, handle)
    before = snapshot(work.work)
    code, out, err = reproduce_cli(work, capsys, '--stages', 'crf')
    assert code == 2 and err.count('\n') == 1 and out == ''
    assert err.startswith(f'error: {work.work}: stage crf finished with other settings (densecrf_inference.py '
                          '--tune_bilateral_sxy 67 -> (not given)')
    assert '--redo --stages crf' in err and snapshot(work.work) == before
