"""Segmentation scores with the VOC devkit definitions: confusion matrix, per-class IoU, mIoU, pixel accuracy.

The confusion matrix has one row per ground-truth class and one column per predicted class plus a last
column for predicted values outside 0..C-1, so such a prediction counts as wrong for its ground-truth class.
Ground-truth void (255) pixels are not counted. IoU = TP / (TP + FP + FN) as in VOCevalseg.m. A class that
appears neither in the ground truth nor in the prediction has no IoU (0/0): it is shown as n/a, stored as
null and left out of the mean, like tf.metrics.mean_iou (the devkit would turn the whole mean into NaN).
"""
import sys

import numpy as np

from utils.data.voc import IGNORE_LABEL, class_names

# Count per run when there are fewer runs than pixels / RUN_LENGTH_LIMIT, else per pixel.
RUN_LENGTH_LIMIT = 8


def _bad_ground_truth_message(bad, num_classes):
    """The refusal of ground-truth values `bad` (sorted), naming the first five."""
    return f'ground-truth values {bad[:5].tolist()} outside 0..{num_classes - 1} and {IGNORE_LABEL}'


def confusion_matrix(gt, pred, num_classes):
    """Pixel counts [C, C+1] of (ground-truth class, predicted class or C for out-of-range), void ignored.

    The maps are uint8 arrays, wider integer arrays or lists. Ground truth other than 0..C-1 and 255 has no
    meaning: a ValueError naming the values (negative ones and ones above 255 too).
    Label maps are mostly long runs of one (gt, prediction) pair, so the pairs are counted per run: a few
    thousand runs instead of every pixel. Noisy maps with many short runs are counted pixel by pixel.
    """
    gt = np.asarray(gt).reshape(-1)
    pred = np.asarray(pred).reshape(-1)
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth has {gt.size} pixels, prediction {pred.size}')
    # A uint8 cast would wrap 256 around to 0: wider maps are narrowed once their values fit (predictions
    # outside 0..255 become 255, out-of-range).
    if gt.dtype != np.uint8:
        wide = (gt < 0) | (gt > IGNORE_LABEL)
        if wide.any():
            bad = np.unique(gt[wide | ((gt >= num_classes) & (gt != IGNORE_LABEL))])
            raise ValueError(_bad_ground_truth_message(bad, num_classes))
        gt = gt.astype(np.uint8)
    if pred.dtype != np.uint8:
        pred = np.where((pred < 0) | (pred > IGNORE_LABEL), IGNORE_LABEL, pred).astype(np.uint8)
    columns = num_classes + 1
    size = num_classes * columns
    if gt.size == 0:
        return np.zeros((num_classes, columns), dtype=np.int64)
    change = gt[1:] != gt[:-1]
    change |= pred[1:] != pred[:-1]
    ends = np.flatnonzero(change)
    if ends.size < gt.size // RUN_LENGTH_LIMIT:
        starts = np.empty(ends.size + 1, dtype=np.intp)
        starts[0], starts[1:] = 0, ends + 1
        lengths = np.empty(starts.size, dtype=np.float64)
        lengths[:-1] = starts[1:] - starts[:-1]
        lengths[-1] = gt.size - starts[-1]
        gt, pred = gt[starts], pred[starts]
    else:
        lengths = None
    index = gt.astype(np.uint16) * columns
    index += np.minimum(pred, num_classes)
    counts = np.bincount(index, weights=lengths, minlength=size)
    # Rows beyond the matrix hold ground-truth values C..255: void (255) is dropped, any other is an error.
    invalid = counts[size:IGNORE_LABEL * columns]
    if invalid.any():
        bad = np.flatnonzero(np.add.reduceat(invalid, np.arange(0, invalid.size, columns))) + num_classes
        raise ValueError(_bad_ground_truth_message(bad, num_classes))
    return counts[:size].astype(np.int64).reshape(num_classes, columns)


def _scalar(values):
    """A Python float for a single matrix's score, the array for a stack of matrices."""
    return float(values) if np.ndim(values) == 0 else values


def class_iou(conf):
    """IoU per class in 0..1, NaN for a class absent from both ground truth and prediction.

    `conf` is one [C, C+1] matrix or a stack [..., C, C+1] (then one row of IoUs per matrix).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diagonal(conf[..., :-1], axis1=-2, axis2=-1)
    union = conf.sum(axis=-1) + conf[..., :-1].sum(axis=-2) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return tp / union


def mean_of_defined(iou):
    """Mean over the last axis of the IoUs that exist (None and NaN left out); NaN if none does."""
    iou = np.asarray(iou, dtype=np.float64)
    present = ~np.isnan(iou)
    with np.errstate(invalid='ignore', divide='ignore'):
        return _scalar(np.where(present, iou, 0).sum(axis=-1) / present.sum(axis=-1))


def mean_iou(conf):
    """Mean IoU over the classes that have one (see the module docstring); NaN if none has."""
    return mean_of_defined(class_iou(conf))


def pixel_accuracy(conf):
    """Correctly labelled pixels over all non-void ground-truth pixels; NaN for an empty matrix."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.trace(conf[..., :-1], axis1=-2, axis2=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return _scalar(correct / conf.sum(axis=(-2, -1)))


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
