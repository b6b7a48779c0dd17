"""Confusion matrix, IoU, mIoU, pixel accuracy and the report, against hand-computed values."""
import io
import math
import warnings

import numpy as np
import pytest

from utils.postprocess import metrics

GT = np.array([[0, 0, 1, 1],
               [0, 2, 2, 255]], dtype=np.uint8)
PRED = np.array([[0, 1, 1, 1],
                 [0, 2, 7, 0]], dtype=np.uint8)


def test_confusion_matrix_counts_pairs_ignores_void_and_marks_out_of_range_predictions():
    conf = metrics.confusion_matrix(GT, PRED, num_classes=3)
    expected = np.array([[2, 1, 0, 0],   # gt 0: two right, one called 1
                         [0, 2, 0, 0],   # gt 1: both right
                         [0, 0, 1, 1]])  # gt 2: one right, one out-of-range (7) prediction; gt 255 not counted
    np.testing.assert_array_equal(conf, expected)


def test_class_iou_is_tp_over_tp_fp_fn():
    iou = metrics.class_iou(metrics.confusion_matrix(GT, PRED, num_classes=3))
    np.testing.assert_allclose(iou, [2 / 3, 2 / 3, 1 / 2])


def test_out_of_range_prediction_is_wrong_for_its_gt_class():
    gt = np.array([1, 1], dtype=np.uint8)
    assert metrics.class_iou(metrics.confusion_matrix(gt, np.array([1, 255], np.uint8), 3))[1] == 0.5
    assert metrics.pixel_accuracy(metrics.confusion_matrix(gt, np.array([1, 255], np.uint8), 3)) == 0.5


def test_mean_iou_and_pixel_accuracy():
    conf = metrics.confusion_matrix(GT, PRED, num_classes=3)
    assert math.isclose(metrics.mean_iou(conf), (2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert math.isclose(metrics.pixel_accuracy(conf), 5 / 7)


def test_class_absent_from_gt_and_prediction_has_no_iou_and_is_left_out_of_the_mean():
    conf = metrics.confusion_matrix(GT, PRED, num_classes=5)
    iou = metrics.class_iou(conf)
    assert np.isnan(iou[3]) and np.isnan(iou[4])
    assert math.isclose(metrics.mean_iou(conf), (2 / 3 + 2 / 3 + 1 / 2) / 3)


def test_predicted_class_absent_from_gt_scores_zero():
    conf = metrics.confusion_matrix(np.array([0, 0], np.uint8), np.array([0, 1], np.uint8), num_classes=2)
    np.testing.assert_allclose(metrics.class_iou(conf), [0.5, 0.0])


def test_summary_is_json_ready_with_class_names_and_null_for_absent_classes():
    summary = metrics.summary(metrics.confusion_matrix(GT, PRED, num_classes=21))
    assert set(summary) == {'miou', 'pixel_accuracy', 'per_class_iou'}
    assert math.isclose(summary['per_class_iou']['aeroplane'], 2 / 3)
    assert summary['per_class_iou']['tvmonitor'] is None
    assert list(summary['per_class_iou'])[0] == 'background'


def test_table_has_one_column_per_result_and_percentages():
    good = metrics.confusion_matrix(GT, GT, num_classes=3)
    table = metrics.format_table({'stacking': metrics.confusion_matrix(GT, PRED, 3), 'perfect': good})
    lines = table.splitlines()
    assert lines[0].split() == ['class', 'stacking', 'perfect']
    assert lines[2].split() == ['background', '66.67', '100.00']
    assert lines[-2].split() == ['mIoU', '61.11', '100.00']
    assert lines[-1].split() == ['pixel', 'accuracy', '71.43', '100.00']
    assert 'n/a' in metrics.format_table({'x': metrics.confusion_matrix(GT, PRED, 4)})


def brute_force_confusion(gt, pred, num_classes):
    conf = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    for g, p in zip(gt.reshape(-1).tolist(), pred.reshape(-1).tolist()):
        if g < num_classes:
            conf[g, min(p, num_classes)] += 1
    return conf


def test_run_counting_and_pixel_counting_both_match_a_brute_force_count():
    rng = np.random.default_rng(1)
    blocky = np.repeat(rng.integers(0, 6, size=(6, 4)), 20, axis=1).astype(np.uint8)  # long runs
    blocky[blocky == 5] = 255
    noisy = rng.choice([0, 1, 2, 3, 4, 255], size=(6, 80)).astype(np.uint8)  # runs of about one pixel
    noisy_pred = rng.choice([0, 1, 2, 3, 4, 9, 255], size=(6, 80)).astype(np.uint8)
    for gt, pred in ((blocky, np.roll(blocky, 3)), (noisy, noisy_pred), (blocky, noisy_pred)):
        np.testing.assert_array_equal(metrics.confusion_matrix(gt, pred, 5), brute_force_confusion(gt, pred, 5))


def test_scores_of_a_stack_of_matrices_equal_the_scores_of_each():
    rng = np.random.default_rng(2)
    confs = np.stack([metrics.confusion_matrix(rng.integers(0, 4, 30).astype(np.uint8),
                                               rng.integers(0, 4, 30).astype(np.uint8), 5) for _ in range(3)])
    np.testing.assert_allclose(metrics.mean_iou(confs), [metrics.mean_iou(c) for c in confs])
    np.testing.assert_allclose(metrics.pixel_accuracy(confs), [metrics.pixel_accuracy(c) for c in confs])
    assert isinstance(metrics.mean_iou(confs[0]), float)


def test_empty_matrix_has_no_scores():
    conf = metrics.confusion_matrix(np.full(4, 255, np.uint8), np.zeros(4, np.uint8), 3)
    assert not conf.any()
    assert np.isnan(metrics.mean_iou(conf)) and np.isnan(metrics.pixel_accuracy(conf))


@pytest.mark.parametrize('repeat', [1, 40])  # pixel by pixel, and per run
def test_ground_truth_outside_classes_and_void_is_refused(repeat):
    gt = np.repeat(np.array([0, 7, 255, 9, 1], np.uint8), repeat)
    with pytest.raises(ValueError, match=r'ground-truth values \[7, 9\] outside 0..4 and 255'):
        metrics.confusion_matrix(gt, np.zeros_like(gt), 5)


def test_mismatched_sizes_are_refused_with_both_pixel_counts():
    with pytest.raises(ValueError) as err:
        metrics.confusion_matrix(np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.uint8), 3)
    assert str(err.value) == 'ground truth has 6 pixels, prediction 4'


@pytest.mark.parametrize('repeat', [1, 40])  # pixel by pixel, and per run
def test_refusal_names_the_first_five_bad_ground_truth_values(repeat):
    gt = np.repeat(np.array([0, 3, 4, 5, 6, 7, 8, 9, 255], np.uint8), repeat)
    with pytest.raises(ValueError) as err:
        metrics.confusion_matrix(gt, np.zeros_like(gt), 3)
    assert str(err.value) == 'ground-truth values [3, 4, 5, 6, 7] outside 0..2 and 255'


def test_empty_image_gives_an_all_zero_int64_matrix():
    conf = metrics.confusion_matrix(np.zeros((0, 5), np.uint8), np.zeros((0, 5), np.uint8), 3)
    assert conf.dtype == np.int64
    assert conf.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_single_pixel_image_is_counted():
    conf = metrics.confusion_matrix(np.array([[1]], np.uint8), np.array([[2]], np.uint8), 3)
    assert conf.tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize('gt, pred, expected', [
    # ground truth changes at every pixel, prediction never: counted pixel by pixel
    ([0, 1] * 8, [0] * 16, [[8, 0, 0], [8, 0, 0]]),
    # prediction changes at every pixel, ground truth never: counted pixel by pixel
    ([0] * 16, [0, 1] * 8, [[8, 8, 0], [0, 0, 0]]),
    # three long runs, the last back to the first ground-truth value: counted per run
    ([0] * 20 + [1] * 2 + [0] * 20, [0] * 42, [[40, 0, 0], [2, 0, 0]]),
    # three long runs, the last back to the first prediction: counted per run
    ([0] * 42, [0] * 20 + [1] * 2 + [0] * 20, [[40, 2, 0], [0, 0, 0]]),
    # long runs of both ending at different places, one out-of-range prediction run
    ([0] * 24 + [1] * 24, [0] * 16 + [5] * 16 + [1] * 16, [[16, 0, 8], [0, 16, 8]]),
])
def test_runs_and_single_pixels_are_counted_by_hand(gt, pred, expected):
    conf = metrics.confusion_matrix(np.array(gt, np.uint8), np.array(pred, np.uint8), 2)
    assert conf.dtype == np.int64
    assert conf.tolist() == expected


@pytest.mark.parametrize('dtype', [np.int32, np.int64, None])  # None: Python lists
def test_label_maps_of_wider_integers_or_lists_count_like_uint8(dtype):
    gt = [[0, 0], [1, 1], [255, 0]]
    pred = [[0, 1], [3, 1], [0, 0]]
    if dtype is not None:
        gt, pred = np.array(gt, dtype), np.array(pred, dtype)
    assert metrics.confusion_matrix(gt, pred, 2).tolist() == [[2, 1, 0], [0, 1, 1]]


def test_scores_of_one_matrix_are_python_floats():
    conf = metrics.confusion_matrix(GT, PRED, num_classes=3)
    assert type(metrics.mean_iou(conf)) is float
    assert type(metrics.pixel_accuracy(conf)) is float


def test_scores_of_a_float32_matrix_are_computed_in_double_precision():
    conf = np.array([[1, 2, 0], [0, 0, 0]], np.float32)  # as tf.math.confusion_matrix gives it
    assert metrics.class_iou(conf).tolist() == [1 / 3, 0.0]
    assert metrics.pixel_accuracy(conf) == 1 / 3


def test_absent_classes_and_empty_matrices_give_nan_without_runtime_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        iou = metrics.class_iou(metrics.confusion_matrix(GT, PRED, num_classes=4))
        empty = np.zeros((3, 4), np.int64)  # an image that is void everywhere
        scores = metrics.class_iou(empty), metrics.mean_iou(empty), metrics.pixel_accuracy(empty)
    assert np.isnan(iou[3])
    assert np.isnan(scores[0]).all() and np.isnan(scores[1]) and np.isnan(scores[2])


TABLE = '\n'.join([
    'class           stacking  perfect',
    '---------------------------------',
    'background         66.67   100.00',
    'aeroplane          66.67   100.00',
    'bicycle            50.00   100.00',
    'bird                 n/a      n/a',
    '---------------------------------',
    'mIoU               61.11   100.00',
    'pixel accuracy     71.43   100.00',
])


def table_confusions():
    return {'stacking': metrics.confusion_matrix(GT, PRED, 4), 'perfect': metrics.confusion_matrix(GT, GT, 4)}


def test_table_aligns_names_left_and_scores_right_with_n_a_and_the_summary_under_a_second_rule():
    assert metrics.format_table(table_confusions()) == TABLE


def test_report_prints_the_table_to_the_given_file_only(capsys):
    out = io.StringIO()
    metrics.report(table_confusions(), file=out)
    assert out.getvalue() == TABLE + '\n'
    assert capsys.readouterr().out == ''


def test_report_prints_the_table_to_stdout_by_default(capsys):
    metrics.report(table_confusions())
    assert capsys.readouterr().out == TABLE + '\n'


@pytest.mark.parametrize('dtype', [np.int16, np.int64, None])  # None: Python lists
def test_ground_truth_beyond_uint8_in_wider_integer_maps_is_refused_not_wrapped_around(dtype):
    gt = [0, 256, 1, -2, 300, 3, 255]  # 3 = num_classes: the smallest wrong value below 256 is named too
    if dtype is not None:
        gt = np.array(gt, dtype)
    with pytest.raises(ValueError) as err:
        metrics.confusion_matrix(gt, [0] * 7, 3)
    assert str(err.value) == 'ground-truth values [-2, 3, 256, 300] outside 0..2 and 255'


@pytest.mark.parametrize('dtype', [np.int16, np.int64, None])  # None: Python lists
def test_predictions_beyond_uint8_in_wider_integer_maps_are_out_of_range_not_wrapped_around(dtype):
    pred = [256, -255, 257, 0, 1]
    if dtype is not None:
        pred = np.array(pred, dtype)
    assert metrics.confusion_matrix([0, 1, 1, 0, 1], pred, 2).tolist() == [[1, 0, 1], [0, 1, 2]]
