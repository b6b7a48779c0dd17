"""Confusion matrix, IoU, mIoU, pixel accuracy and the report, against hand-computed values."""
import math

import numpy as np

from utils import metrics

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
