"""RESULTS.md of a reproduction run, built from small hand-made scores, lists, markers and tarballs: its exact text."""
import json
import time

import pytest

from utils.common.errors import UserError
from utils.reproduce import report

WRITTEN_AT = (2026, 1, 2, 3, 4, 5, 4, 2, 0)  # 2026-01-02 03:04:05


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')


def _write_json(path, value):
    _write(path, json.dumps(value))


@pytest.fixture
def fixed_clock(monkeypatch):
    """The report's clock stopped at WRITTEN_AT (the format it is written with is the report's own)."""
    strftime = time.strftime
    monkeypatch.setattr(report.time, 'strftime', lambda fmt, when=WRITTEN_AT: strftime(fmt, when))


def _classes(**values):
    """A per-class IoU dict of VOC's 21 classes, 0.5 unless given."""
    names = ('background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike '
             'person pottedplant sheep sofa train tvmonitor').split()
    return {name: values.get(name, 0.5) for name in names}


@pytest.fixture
def scored_run(tmp_path):
    """A full run's work folder part way through: some stages timed, some rows scored, one tarball made, the hard
    stack's CRF tuning choosing no CRF and the soft one's choosing a setting."""
    work = tmp_path / 'work'
    _write(work / 'lists' / 'run_val.txt', '2008_000001\n\n2008_000002\n  \n2008_000003\n2008_000004\n')
    _write(work / 'lists' / 'run_val_check.txt', '2008_000002\n2008_000004')
    _write_json(work / 'scores' / 'val.json', {
        'deeplabv3': {'miou': 0.7712, 'pixel_accuracy': 0.9, 'per_class_iou': _classes()},
        'deeplabv3_msflip': {'miou': None, 'pixel_accuracy': None, 'per_class_iou': _classes()},
        'zoo_trainval': {'miou': 0.87804},
        'stack_hard_crf': {'miou': 0.5},
        'stack_soft_crf': {'miou': 0.5}})
    _write_json(work / 'scores' / 'val_check.json', {  # not in the rows' order
        'stack_hard_crf': {'miou': 0.8, 'per_class_iou': {'background': 0.9675, 'person': 0.0}},
        'deeplabv3': {'miou': 0.003, 'per_class_iou': _classes(background=0.95, aeroplane=None, tvmonitor=1.0)}})
    _write_json(work / 'crf' / 'stack_hard.json', {'no_crf': True})
    _write_json(work / 'crf' / 'stack_soft.json', {'bilateral_sxy': 67, 'bilateral_srgb': 3, 'bilateral_compat': 4})
    _write_json(work / '.reproduce' / 'download.json', {'seconds': 12.4})
    _write_json(work / '.reproduce' / 'labels.json', {'seconds': 0.4})
    _write_json(work / '.reproduce' / 'train.json', {'seconds': 3599.7})
    _write(work / 'submission' / 'stack_hard_comp6.tar.gz', 'tarball')
    return work


SCORED_ROWS = '''\
| row | what it is | published mIoU % | original project % (split) | this run: val (4) | this run: val_check (2) |
| --- | --- | --- | --- | --- | --- |
| deeplabv3 | DeepLabv3 ResNet-v2-101 trained here, single scale | 77.21 val (DeepLabv3 paper, OS 16 single scale) | \
75.72 test (the original project's README calls it a VOC 2012 test score) | 77.12 | 0.30 |
| deeplabv3_msflip | DeepLabv3 ResNet-v2-101 trained here, scales 0.5-1.75 + flip | 79.77 val (DeepLabv3 paper, OS 8 + \
scales + flip) | — | — | — |
| zoo_train_aug | model-zoo DeepLabv3+ Xception-65 train_aug, frozen graph (the OS it was frozen at: 8 as published; \
single scale) | 82.20 val at OS 16 single scale, 83.58 at OS 8 + scales + flip (model zoo) | 83.68 (split not stated) \
| — | — |
| zoo_train_aug_ckpt | the same from its model.ckpt, run at OS 8 (gives probabilities) | — | — | — | — |
| zoo_trainval | model-zoo DeepLabv3+ Xception-65 trainval, frozen graph (as above; trained on val: its val score is \
not a fair one) | 87.80 test at OS 8 + scales + flip (model zoo) | 87.8 (split not stated; the model zoo's 87.80 is on \
test) | 87.80 | — |
| zoo_trainval_ckpt | the same from its model.ckpt, run at OS 8 | — | — | — | — |
| stack_hard | the original stack: per-pixel vote of zoo trainval, zoo train_aug, ours (scales + flip) | — | \
88.1 (split not stated) | — | — |
| stack_hard_crf | the original stack + DenseCRF on the voted labels (tuned on val_tune); no CRF setting beat \
stack_hard on val_tune, so none was applied: it equals stack_hard | — | 84.12 (split not stated) | \
— (tuned on half of val) | 80.00 |
| stack_soft | soft stack: average of the three models' probabilities | — | — | — | — |
| stack_soft_crf | soft stack + DenseCRF on the averaged probabilities (tuned on val_tune) | — | — | \
— (tuned on half of val) | — |'''

SCORED_STAGES = '''\
| stage | what it does | wall time here |
| --- | --- | --- |
| download | fetch the official archives (checked) | 12 s |
| extract | unpack them safely; check and describe the checkpoints | — |
| labels | SegmentationClassAug, train_aug and the run's lists | 0 s |
| records | TFRecords of train_aug and val | — |
| train | DeepLabv3 resnet_v2_101 from the slim ImageNet checkpoint | 3600 s |
| evaluate | our model on val (single scale; scales + flip, also on test) | — |
| zoo | the two model-zoo DeepLabv3+ models on val and test | — |
| stack | hard vote and soft (probability) ensemble of the three | — |
| crf | DenseCRF tuned on val_tune, applied to val and test | — |
| package | PASCAL-server tarballs of the test results (comp6) | — |
| report | score every row on val and val_check, write RESULTS.md | writing this file |'''

SCORED_PER_CLASS = '''\
| class | deeplabv3 | stack_hard_crf |
| --- | --- | --- |
| background | 95.00 | 96.75 |
| aeroplane | n/a | n/a |
| bicycle | 50.00 | n/a |
| bird | 50.00 | n/a |
| boat | 50.00 | n/a |
| bottle | 50.00 | n/a |
| bus | 50.00 | n/a |
| car | 50.00 | n/a |
| cat | 50.00 | n/a |
| chair | 50.00 | n/a |
| cow | 50.00 | n/a |
| diningtable | 50.00 | n/a |
| dog | 50.00 | n/a |
| horse | 50.00 | n/a |
| motorbike | 50.00 | n/a |
| person | 50.00 | 0.00 |
| pottedplant | 50.00 | n/a |
| sheep | 50.00 | n/a |
| sofa | 50.00 | n/a |
| train | 50.00 | n/a |
| tvmonitor | 100.00 | n/a |'''

UPLOAD = 'Upload it at the PASCAL VOC evaluation server as a comp6 (outside training data) segmentation result.'

SCORED_TARBALLS = f'''\
- `submission/deeplabv3_msflip_comp6.tar.gz` (not made yet): DeepLabv3 ResNet-v2-101 trained here, \
scales 0.5-1.75 + flip. {UPLOAD}
- `submission/zoo_train_aug_comp6.tar.gz` (not made yet): model-zoo DeepLabv3+ Xception-65 train_aug, frozen graph \
(the OS it was frozen at: 8 as published; single scale). {UPLOAD}
- `submission/zoo_trainval_comp6.tar.gz` (not made yet): model-zoo DeepLabv3+ Xception-65 trainval, frozen graph \
(as above; trained on val: its val score is not a fair one). {UPLOAD}
- `submission/stack_hard_comp6.tar.gz`: the original stack: per-pixel vote of zoo trainval, zoo train_aug, ours \
(scales + flip). {UPLOAD}
- `submission/stack_hard_crf_comp6.tar.gz` (not made yet): the original stack + DenseCRF on the voted labels \
(tuned on val_tune). {UPLOAD}
- `submission/stack_soft_comp6.tar.gz` (not made yet): soft stack: average of the three models' probabilities. \
{UPLOAD}
- `submission/stack_soft_crf_comp6.tar.gz` (not made yet): soft stack + DenseCRF on the averaged probabilities \
(tuned on val_tune). {UPLOAD}'''

ABOUT_THE_NUMBERS = (
    'mIoU in %, VOC devkit definition. val_check is every second val image (odd positions); the CRF rows were tuned '
    'on the other half (val_tune), so only val_check scores them fairly. This run scores val only; the published '
    'and the original project\'s numbers carry their own split (it names one for its DeepLabv3 row alone).')


def _results(mode_line, rows, stages, per_class, tarballs):
    return f'''\
# Reproduction results

{mode_line}; written 2026-01-02 03:04 by `write_results.py`. {ABOUT_THE_NUMBERS}

## Every row

{rows}

## Stages

{stages}

## Per-class IoU on val_check

{per_class}

![Per-class IoU on val_check](iou_val_check.png)

## PASCAL server tarballs (test set)

{tarballs}
'''


def test_every_row_shows_the_published_and_original_numbers_next_to_this_runs_val_and_val_check_scores(scored_run):
    assert report.rows_table(report.Layout(str(scored_run)), False) == SCORED_ROWS


def test_stages_show_their_wall_time_rounded_to_seconds_a_dash_when_not_run_and_the_report_writing_itself(
        scored_run):
    assert report.stages_table(report.Layout(str(scored_run)), False) == SCORED_STAGES


def test_per_class_table_has_a_column_per_scored_row_in_row_order_and_n_a_for_undefined_or_missing_classes(
        scored_run):
    assert report.per_class_table(report.Layout(str(scored_run))) == SCORED_PER_CLASS


def test_each_tarball_is_listed_relative_to_the_work_folder_and_marked_while_not_made(scored_run):
    assert report.submissions_list(report.Layout(str(scored_run)), False) == SCORED_TARBALLS


def test_a_full_runs_results_in_float32(scored_run, fixed_clock):
    assert report.results_markdown(str(scored_run)) == _results(
        'full run (seed and published settings); training and checkpoint predictions in float32',
        SCORED_ROWS, SCORED_STAGES, SCORED_PER_CLASS, SCORED_TARBALLS)


QUICK_EMPTY_ROWS = '''\
| row | what it is | published mIoU % | original project % (split) | this run: val (0) | this run: val_check (0) |
| --- | --- | --- | --- | --- | --- |
| deeplabv3 | DeepLabv3 ResNet-v2-50 trained here, single scale | 77.21 val (DeepLabv3 paper, OS 16 single scale) | \
75.72 test (the original project's README calls it a VOC 2012 test score) | — | — |
| deeplabv3_msflip | DeepLabv3 ResNet-v2-50 trained here, scales 0.75, 1.25 + flip | 79.77 val (DeepLabv3 paper, OS 8 \
+ scales + flip) | — | — | — |
| zoo_train_aug | model-zoo DeepLabv3+ Xception-65 train_aug, frozen graph (the OS it was frozen at: 8 as published; \
single scale) | 82.20 val at OS 16 single scale, 83.58 at OS 8 + scales + flip (model zoo) | 83.68 (split not stated) \
| — | — |
| zoo_train_aug_ckpt | the same from its model.ckpt, run at OS 16 (gives probabilities) | — | — | — | — |
| zoo_trainval | model-zoo DeepLabv3+ Xception-65 trainval, frozen graph (as above; trained on val: its val score is \
not a fair one) | 87.80 test at OS 8 + scales + flip (model zoo) | 87.8 (split not stated; the model zoo's 87.80 is on \
test) | — | — |
| zoo_trainval_ckpt | the same from its model.ckpt, run at OS 16 | — | — | — | — |
| stack_hard | the original stack: per-pixel vote of zoo trainval, zoo train_aug, ours (scales + flip) | — | \
88.1 (split not stated) | — | — |
| stack_hard_crf | the original stack + DenseCRF on the voted labels (tuned on val_tune) | — | \
84.12 (split not stated) | — (tuned on half of val) | — |
| stack_soft | soft stack: average of the three models' probabilities | — | — | — | — |
| stack_soft_crf | soft stack + DenseCRF on the averaged probabilities (tuned on val_tune) | — | — | \
— (tuned on half of val) | — |'''

QUICK_EMPTY_STAGES = '''\
| stage | what it does | wall time here |
| --- | --- | --- |
| download | fetch the official archives (checked) | — |
| extract | unpack them safely; check and describe the checkpoints | — |
| labels | SegmentationClassAug, train_aug and the run's lists | — |
| records | TFRecords of train_aug and val | — |
| train | DeepLabv3 resnet_v2_50 from the slim ImageNet checkpoint | — |
| evaluate | our model on val (single scale; scales + flip, also on test) | — |
| zoo | the two model-zoo DeepLabv3+ models on val and test | — |
| stack | hard vote and soft (probability) ensemble of the three | — |
| crf | DenseCRF tuned on val_tune, applied to val and test | — |
| package | PASCAL-server tarballs of the test results (comp6) | — |
| report | score every row on val and val_check, write RESULTS.md | writing this file |'''

QUICK_EMPTY_TARBALLS = f'''\
- `submission/deeplabv3_msflip_comp6.tar.gz` (not made yet): DeepLabv3 ResNet-v2-50 trained here, \
scales 0.75, 1.25 + flip. {UPLOAD}
- `submission/zoo_train_aug_comp6.tar.gz` (not made yet): model-zoo DeepLabv3+ Xception-65 train_aug, frozen graph \
(the OS it was frozen at: 8 as published; single scale). {UPLOAD}
- `submission/zoo_trainval_comp6.tar.gz` (not made yet): model-zoo DeepLabv3+ Xception-65 trainval, frozen graph \
(as above; trained on val: its val score is not a fair one). {UPLOAD}
- `submission/stack_hard_comp6.tar.gz` (not made yet): the original stack: per-pixel vote of zoo trainval, zoo \
train_aug, ours (scales + flip). {UPLOAD}
- `submission/stack_hard_crf_comp6.tar.gz` (not made yet): the original stack + DenseCRF on the voted labels \
(tuned on val_tune). {UPLOAD}
- `submission/stack_soft_comp6.tar.gz` (not made yet): soft stack: average of the three models' probabilities. \
{UPLOAD}
- `submission/stack_soft_crf_comp6.tar.gz` (not made yet): soft stack + DenseCRF on the averaged probabilities \
(tuned on val_tune). {UPLOAD}'''


def test_a_quick_run_in_float16_before_any_stage_ran_says_so_and_fills_in_its_own_backbone_scales_and_stride(
        tmp_path, fixed_clock):
    assert report.results_markdown(str(tmp_path), quick=True, precision='float16') == _results(
        'quick run (--quick: ResNet-v2-50, two training steps, a few images): the numbers show the chain works, '
        'not what the models reach; training and checkpoint predictions in float16 (the published numbers are '
        'float32)', QUICK_EMPTY_ROWS, QUICK_EMPTY_STAGES,
        'No val_check scores yet (the report stage scores them).', QUICK_EMPTY_TARBALLS)


def test_a_full_run_in_bfloat16_notes_that_the_published_numbers_are_float32(tmp_path, fixed_clock):
    text = report.results_markdown(str(tmp_path), precision='bfloat16')
    assert text.splitlines()[2].startswith(
        'full run (seed and published settings); training and checkpoint predictions in bfloat16 (the published '
        'numbers are float32); written 2026-01-02 03:04 by')


def test_a_crf_parameter_file_that_is_not_a_json_object_is_named_as_one(scored_run):
    path = scored_run / 'crf' / 'stack_soft.json'
    _write(path, '[1, 2]')
    with pytest.raises(UserError) as raised:
        report.rows_table(report.Layout(str(scored_run)), False)
    assert str(raised.value) == f'{path}: not a CRF parameter file (expected a JSON object)'


def test_a_scores_file_that_is_not_a_json_object_is_named_as_one(scored_run):
    path = scored_run / 'scores' / 'val_check.json'
    _write(path, '"scores"')
    with pytest.raises(UserError) as raised:
        report.per_class_table(report.Layout(str(scored_run)))
    assert str(raised.value) == f'{path}: not a scores file (expected a JSON object)'
