"""Scoring result folders (evaluate.py --prediction_dir) against hand-computed confusion matrices."""
import csv
import json
import sys

import numpy as np
import pytest
from PIL import Image

import evaluate
from utils.common.errors import UserError, run_cli
from utils.data.voc import save_label
from utils.postprocess import metrics, scoring
from utils.postprocess.scoring import score_folders

GT = {'a': [[0, 0, 1], [1, 255, 2]], 'b': [[2, 2], [0, 0]]}
PRED = {'a': [[0, 1, 1], [1, 0, 2]], 'b': [[2, 200], [0, 2]]}
# rows: gt class, columns: predicted class 0..2 then out-of-range
EXPECTED = np.array([[2, 1, 1, 0],
                     [0, 2, 0, 0],
                     [0, 0, 2, 1]])


def write(folder, name, values):
    folder.mkdir(exist_ok=True)
    save_label(str(folder / name), np.array(values, dtype=np.uint8))


@pytest.fixture
def data(tmp_path):
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    for ident in GT:
        write(gt, ident + '.png', GT[ident])
        write(pred, ident + '.png', PRED[ident])
    (tmp_path / 'val.txt').write_text('a\nb\n')
    return gt, pred, tmp_path / 'val.txt'


def test_confusion_matches_hand_count(data):
    gt, pred, _ = data
    scores = score_folders([str(pred)], str(gt), ['a', 'b'], num_classes=3, num_workers=1)
    np.testing.assert_array_equal(scores.confusion['pred'], EXPECTED)


def test_parallel_scoring_gives_the_same_matrix(data):
    gt, pred, _ = data
    scores = score_folders([str(pred)], str(gt), ['a', 'b'], num_classes=3, num_workers=2)
    np.testing.assert_array_equal(scores.confusion['pred'], EXPECTED)


def test_per_image_stats(data):
    gt, pred, _ = data
    rows = {r.image_id: r for r in score_folders([str(pred)], str(gt), ['a', 'b'], 3, 1).per_image['pred']}
    assert rows['a'].pixel_accuracy == pytest.approx(4 / 5) and rows['a'].pixels == 5
    assert rows['a'].miou == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert rows['b'].pixel_accuracy == pytest.approx(2 / 4)


def test_vis_py_names_are_matched(data, tmp_path):
    gt, pred, _ = data
    (pred / 'a.png').rename(pred / "b'a'.png")
    scores = score_folders([str(pred)], str(gt), ['a', 'b'], 3, 1)
    np.testing.assert_array_equal(scores.confusion['pred'], EXPECTED)


def run(argv, capsys):
    code = run_cli(evaluate.main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_cli_prints_table_and_writes_json_csv_plot(data, tmp_path, capsys):
    gt, pred, val = data
    out = tmp_path / 'report'
    code, stdout, _ = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                           str(val), '--num_classes', '3', '--num_workers', '1', '--output_json',
                           str(out / 's.json'), '--per_image_csv', str(out / 'i.csv'), '--plot', str(out / 'p.png')],
                          capsys)
    assert code == 0
    assert stdout.strip() == metrics.format_table({'pred': EXPECTED})
    summary = json.loads((out / 's.json').read_text())
    assert summary['miou'] == pytest.approx(metrics.mean_iou(EXPECTED))
    assert summary['per_class_iou']['bicycle'] == pytest.approx(2 / 4)
    rows = list(csv.DictReader((out / 'i.csv').open()))
    assert [r['image_id'] for r in rows] == ['b', 'a']  # worst first
    with Image.open(out / 'p.png') as img:
        assert img.format == 'PNG'


def test_cli_default_is_the_21_voc_classes(data, capsys):
    gt, pred, val = data
    code, stdout, _ = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                           str(val), '--num_workers', '1'], capsys)
    assert code == 0 and 'tvmonitor' in stdout
    padded = np.zeros((21, 22), dtype=np.int64)
    padded[:3, :3], padded[:3, 21] = EXPECTED[:, :3], EXPECTED[:, 3]
    assert stdout.strip() == metrics.format_table({'pred': padded})


def test_cli_several_folders_one_column_each(data, tmp_path, capsys):
    gt, pred, val = data
    perfect = tmp_path / 'perfect'
    for ident in GT:
        write(perfect, ident + '.png', np.where(np.array(GT[ident]) == 255, 0, GT[ident]))
    code, stdout, _ = run(['--prediction_dir', str(pred), str(perfect), '--label_data_dir', str(gt),
                           '--evaluation_data_list', str(val), '--num_classes', '3', '--output_json',
                           str(tmp_path / 's.json')], capsys)
    assert code == 0
    assert stdout.splitlines()[0].split() == ['class', 'pred', 'perfect']
    assert 'mIoU' in stdout and '100.00' in stdout
    assert set(json.loads((tmp_path / 's.json').read_text())) == {'pred', 'perfect'}


def test_cli_missing_predictions_are_all_listed(data, capsys):
    gt, pred, val = data
    (pred / 'a.png').unlink()
    (pred / 'b.png').unlink()
    code, _, err = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                        str(val)], capsys)
    assert code == 2 and err == f'error: {pred}: 2 missing labels (a, b)'


def test_cli_size_mismatch_names_both_files(data, capsys):
    gt, pred, val = data
    write(pred, 'b.png', [[0, 0, 0]])
    code, _, err = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                        str(val), '--num_classes', '3', '--num_workers', '1'], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert str(pred / 'b.png') in err and str(gt / 'b.png') in err and '3x1' in err


def test_cli_bad_ground_truth_value_names_the_file(data, capsys):
    gt, pred, val = data
    write(gt, 'a.png', [[0, 0, 9], [1, 255, 2]])
    code, _, err = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                        str(val), '--num_classes', '3', '--num_workers', '1'], capsys)
    assert code == 2 and str(gt / 'a.png') in err and '[9]' in err


def test_cli_missing_list_and_folder(data, tmp_path, capsys):
    gt, pred, val = data
    code, _, err = run(['--prediction_dir', str(pred), '--label_data_dir', str(gt), '--evaluation_data_list',
                        str(tmp_path / 'none.txt')], capsys)
    assert code == 2 and 'none.txt: list file not found' in err
    code, _, err = run(['--prediction_dir', str(tmp_path / 'x'), '--label_data_dir', str(gt),
                        '--evaluation_data_list', str(val)], capsys)
    assert code == 2 and err == f'error: {tmp_path / "x"}: result folder not found'


def test_cli_checkpoint_mode_needs_images(data, capsys):
    gt, _, val = data
    code, _, err = run(['--label_data_dir', str(gt), '--evaluation_data_list', str(val)], capsys)
    assert code == 2 and '--prediction_dir' in err and '--image_data_dir' in err


def test_score_folders_raises_for_missing_ground_truth(data):
    gt, pred, _ = data
    with pytest.raises(UserError, match='1 missing labels'):
        score_folders([str(pred)], str(gt), ['a', 'c'], 3, 1)


@pytest.fixture
def fake_model(monkeypatch):
    """Stand-in for utils.runtime.predict (TensorFlow): predictions are the PRED maps, or `sizes` overrides."""
    import types

    import utils.runtime
    fake = types.ModuleType('utils.runtime.predict')
    fake.calls = []

    def iter_predictions(image_dir, ids, predict_fn, **source):
        fake.calls.append((image_dir, list(ids)))
        for ident in ids:
            yield ident, np.array(PRED[ident], dtype=np.uint8)[:fake.rows]

    fake.rows = None
    fake.iter_predictions = iter_predictions
    monkeypatch.setitem(sys.modules, 'utils.runtime.predict', fake)
    monkeypatch.setattr(utils.runtime, 'predict', fake, raising=False)
    return fake


def test_cli_checkpoint_mode_scores_with_the_same_code(data, tmp_path, capsys, fake_model):
    gt, _, val = data
    (tmp_path / 'images').mkdir()
    code, stdout, _ = run(['--image_data_dir', str(tmp_path / 'images'), '--label_data_dir', str(gt),
                           '--evaluation_data_list', str(val), '--model_dir', str(tmp_path / 'model'),
                           '--num_classes', '3', '--output_json', str(tmp_path / 's.json')], capsys)
    assert code == 0 and fake_model.calls == [(str(tmp_path / 'images'), ['a', 'b'])]
    assert stdout.strip() == metrics.format_table({'model': EXPECTED})
    assert json.loads((tmp_path / 's.json').read_text())['miou'] == pytest.approx(metrics.mean_iou(EXPECTED))


def test_cli_checkpoint_mode_size_mismatch(data, tmp_path, capsys, fake_model):
    gt, _, val = data
    (tmp_path / 'images').mkdir()
    fake_model.rows = 1
    code, _, err = run(['--image_data_dir', str(tmp_path / 'images'), '--label_data_dir', str(gt),
                        '--evaluation_data_list', str(val), '--num_classes', '3'], capsys)
    assert code == 2 and 'prediction for a: is 3x1 but ground truth' in err and str(gt / 'a.png') in err


def test_the_per_image_csv_lists_each_results_worst_image_first_and_images_without_iou_last(tmp_path):
    rows = [scoring.ImageScore('c', 0.75, 0.5, 8), scoring.ImageScore('a', 1.0, float('nan'), 4),
            scoring.ImageScore('b', 0.5, 0.0, 6)]
    scores = scoring.Scores({}, {'crf': rows, 'plain': rows[:1]})
    scoring.write_per_image_csv(str(tmp_path / 'per_image.csv'), scores)
    assert (tmp_path / 'per_image.csv').read_bytes() == (
        b'result,image_id,pixel_accuracy,miou,pixels\r\n'
        b'crf,b,0.500000,0.000000,6\r\ncrf,c,0.750000,0.500000,8\r\ncrf,a,1.000000,nan,4\r\n'
        b'plain,c,0.750000,0.500000,8\r\n')


def test_the_json_summary_is_indented_by_two(data, tmp_path):
    gt, pred, _ = data
    scores = score_folders([str(pred)], str(gt), ['a', 'b'], 3, 1)
    scoring.write_json(str(tmp_path / 'scores.json'), scores, {'source': 'folders'})
    text = (tmp_path / 'scores.json').read_text()
    assert text == json.dumps(json.loads(text), indent=2) and '\n  "source": "folders"' in text


@pytest.mark.parametrize('folders, title', [(['pred'], 'Per-class IoU (pred)'), (['pred', 'crf'], 'Per-class IoU')])
def test_the_chart_shows_one_result_in_its_class_colours_and_several_side_by_side(data, tmp_path, monkeypatch,
                                                                                   folders, title):
    gt, pred, _ = data
    (tmp_path / 'crf').symlink_to(pred)
    charts = []
    monkeypatch.setattr(scoring, 'iou_bar_chart', lambda *args, **kwargs: charts.append((args, kwargs)))
    scores = score_folders([str(tmp_path / f) for f in folders], str(gt), ['a', 'b'], 3, 1)
    scoring.write_outputs(scores, plot='iou.png')
    per_class = metrics.summary(scores.confusion['pred'])['per_class_iou']
    values = per_class if len(folders) == 1 else dict.fromkeys(folders, per_class)
    assert charts == [(('iou.png', values), {'title': title})]


def test_an_empty_id_list_scores_nothing_as_zero_matrices(data):
    gt, pred, _ = data
    scores = score_folders([str(pred)], str(gt), [], 3, 1)
    assert scores.confusion['pred'].dtype == np.int64
    np.testing.assert_array_equal(scores.confusion['pred'], np.zeros((3, 4)))
    assert scores.per_image == {'pred': []}


def test_folders_of_the_same_name_are_told_apart_by_their_path():
    assert scoring.result_names(['runs/a/pred', 'runs/b/pred/', 'crf']) == ['runs/a/pred', 'runs/b/pred', 'crf']


def test_missing_files_of_several_folders_are_one_line(data, tmp_path):
    gt, pred, _ = data
    with pytest.raises(UserError) as err:
        score_folders([str(pred), str(tmp_path / 'empty')], str(tmp_path / 'none'), ['a'], 3, 1)
    assert str(err.value) == f'{tmp_path / "none"}: ground-truth folder not found'
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UserError) as err:
        score_folders([str(pred), str(tmp_path / 'empty')], str(gt), ['a', 'c'], 3, 1)
    assert str(err.value) == (f'{gt}: 1 missing labels (c); {pred}: 1 missing labels (c); '
                              f'{tmp_path / "empty"}: 2 missing labels (a, c)')


def test_two_results_for_one_image_are_refused_naming_both(data):
    gt, pred, _ = data
    (pred / "b'a'.png").write_bytes((pred / 'a.png').read_bytes())
    with pytest.raises(UserError) as err:
        score_folders([str(pred)], str(gt), ['a'], 3, 1)
    assert str(err.value) == f"{pred}: both a.png and b'a'.png are results for a"
