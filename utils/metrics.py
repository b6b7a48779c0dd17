"""Segmentation scores with the VOC devkit definitions: confusion matrix, per-class IoU, mIoU, pixel accuracy.

The confusion matrix has one row per ground-truth class and one column per predicted class plus a last
column for predicted values outside 0..C-1, so such a prediction counts as wrong for its ground-truth class.
Ground-truth void (255) pixels are not counted. IoU = TP / (TP + FP + FN) as in VOCevalseg.m. A class that
appears neither in the ground truth nor in the prediction has no IoU (0/0): it is shown as n/a, stored as
null and left out of the mean, like tf.metrics.mean_iou (the devkit would turn the whole mean into NaN).
"""
import sys

import numpy as np

from utils.voc import class_names


def confusion_matrix(gt, pred, num_classes):
    """Pixel counts [C, C+1] of (ground-truth class, predicted class or C for out-of-range), void ignored."""
    gt = np.asarray(gt).reshape(-1)
    pred = np.asarray(pred).reshape(-1)
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth has {gt.size} pixels, prediction {pred.size}')
    columns = num_classes + 1
    pred = np.minimum(pred, num_classes).astype(np.intp)
    index = gt.astype(np.intp) * columns + pred
    # Void and other out-of-range ground truth land beyond the matrix and are dropped with the last slice.
    counts = np.bincount(index, minlength=num_classes * columns)
    return counts[:num_classes * columns].reshape(num_classes, columns)


def class_iou(conf):
    """IoU per class as floats in 0..1, NaN for a class absent from both ground truth and prediction."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf[:, :-1])
    union = conf.sum(axis=1) + conf[:, :-1].sum(axis=0) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(conf):
    """Mean IoU over the classes that have one (see the module docstring); NaN if none has."""
    iou = class_iou(conf)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')


def pixel_accuracy(conf):
    """Correctly labelled pixels over all non-void ground-truth pixels; NaN for an empty matrix."""
    conf = np.asarray(conf)
    total = conf.sum()
    return float(np.trace(conf[:, :-1]) / total) if total else float('nan')


def _json_float(value):
    """A float for JSON, None for NaN (JSON has no NaN)."""
    return None if np.isnan(value) else float(value)


def summary(conf):
    """The JSON-ready scores: {"miou", "pixel_accuracy", "per_class_iou": {class name: IoU or None}}."""
    names = class_names(len(conf))
    return {
        'miou': _json_float(mean_iou(conf)),
        'pixel_accuracy': _json_float(pixel_accuracy(conf)),
        'per_class_iou': {name: _json_float(v) for name, v in zip(names, class_iou(conf))},
    }


def _percent(value):
    """A score as a percentage with two decimals, n/a when undefined."""
    return 'n/a' if np.isnan(value) else f'{100 * value:.2f}'


def format_table(confusions):
    """Plain-text table of per-class IoU, mIoU and pixel accuracy (%), one column per named result."""
    names = list(confusions)
    num_classes = len(confusions[names[0]])
    rows = [(cls, *(class_iou(confusions[n])[i] for n in names)) for i, cls in enumerate(class_names(num_classes))]
    rows.append(('mIoU', *(mean_iou(confusions[n]) for n in names)))
    rows.append(('pixel accuracy', *(pixel_accuracy(confusions[n]) for n in names)))
    cells = [[row[0]] + [_percent(v) for v in row[1:]] for row in rows]
    header = ['class'] + names
    widths = [max(len(r[c]) for r in cells + [header]) for c in range(len(header))]

    def line(row):
        return '  '.join([row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])])

    rule = '-' * len(line(header))
    return '\n'.join([line(header), rule] + [line(r) for r in cells[:-2]] + [rule] + [line(r) for r in cells[-2:]])


def report(confusions, file=None):
    """Print the side-by-side table of `format_table` (IoU in %, n/a where a class has no IoU)."""
    print(format_table(confusions), file=file or sys.stdout)


def image_stats(conf):
    """(pixel accuracy, mIoU over the classes present in the image or its prediction, non-void pixels)."""
    return pixel_accuracy(conf), mean_iou(conf), int(np.asarray(conf).sum())
