"""Score result folders (PNG label maps) against ground truth, in parallel, with the shared metric code."""
import collections
import csv
import functools
import json
import os

import numpy as np

from utils.common.errors import UserError
from utils.common.files import atomic_path, image_id, is_temporary, require_dir
from utils.common.parallel import imap_progress
from utils.data.voc import LABEL_EXTENSIONS, check_label_values, read_label
from utils.postprocess import metrics
from utils.postprocess.plots import iou_bar_chart

ImageScore = collections.namedtuple('ImageScore', 'image_id pixel_accuracy miou pixels')
Scores = collections.namedtuple('Scores', 'confusion per_image')
Scores.__doc__ = 'confusion: {result name: [C, C+1] matrix}; per_image: {result name: [ImageScore, ...]}.'


def result_files(folder, what='result folder', extensions=LABEL_EXTENSIONS):
    """{image id: path} of the label PNGs in `folder`; `b'<id>'.png` names (DeepLab vis.py) map to `<id>`; the
    temporaries of a killed run are not results."""
    require_dir(folder, what)
    index = {}
    for name in sorted(os.listdir(folder)):
        if os.path.splitext(name)[1] not in extensions or is_temporary(name):
            continue
        ident = image_id(name)
        if ident in index:
            raise UserError(f'{folder}: both {os.path.basename(index[ident])} and {name} are results for {ident}')
        index[ident] = os.path.join(folder, name)
    return index


def missing_message(missing, what='results'):
    """One line naming every missing (folder, ids) pair: `folder: 3 missing results (a, b, c)`."""
    parts = [f'{folder}: {len(ids)} missing {what} ({", ".join(ids)})' for folder, ids in missing.items()]
    return '; '.join(parts)


def result_names(folders):
    """A short column name per folder: its base name, or the whole path when base names repeat."""
    bases = [os.path.basename(os.path.normpath(f)) for f in folders]
    return [b if bases.count(b) == 1 else os.path.normpath(f) for b, f in zip(bases, folders)]


def read_checked_label(path, num_classes):
    """A label map whose values outside 0..C-1 and 255 are a UserError naming the file."""
    label = read_label(path)
    check_label_values(label, path, num_classes)
    return label


def image_confusion(gt, pred, gt_path, pred_path, num_classes):
    """Confusion matrix of one prediction; a size mismatch or bad ground-truth values are a UserError."""
    if pred.shape != gt.shape:
        raise UserError(f'{pred_path}: is {pred.shape[1]}x{pred.shape[0]} but ground truth '
                        f'{gt_path} is {gt.shape[1]}x{gt.shape[0]}')
    try:
        return metrics.confusion_matrix(gt, pred, num_classes)
    except ValueError as err:
        raise UserError(f'{gt_path}: {err}') from None


def _score_one(task, num_classes):
    """Worker: (image id, gt path, prediction paths) -> (image id, one confusion matrix per prediction)."""
    ident, gt_path, pred_paths = task
    gt = read_label(gt_path)  # its values are checked by the confusion matrix, for free
    return ident, [image_confusion(gt, read_label(p), gt_path, p, num_classes) for p in pred_paths]


def collect(results, names, num_classes):
    """Sum (image id, [confusion per result]) pairs into Scores, with each image's stats computed at the end."""
    ids = []
    confusions = {n: [] for n in names}
    for ident, confs in results:
        ids.append(ident)
        for name, conf in zip(names, confs):
            confusions[name].append(conf)
    empty = np.zeros((0, num_classes, num_classes + 1), dtype=np.int64)
    stacks = {n: np.stack(c) if c else empty for n, c in confusions.items()}
    per_image = {n: [ImageScore(*row) for row in zip(ids, metrics.pixel_accuracy(stack), metrics.mean_iou(stack),
                                                      stack.sum(axis=(1, 2)).tolist())]
                 for n, stack in stacks.items()}
    return Scores({n: stack.sum(axis=0) for n, stack in stacks.items()}, per_image)


def score_folders(pred_dirs, gt_dir, ids, num_classes, num_workers=None):
    """Score every folder of `pred_dirs` on `ids` against `gt_dir`, reading each image's files once.

    Returns Scores keyed by `result_names(pred_dirs)`. Missing predictions or ground truth are one
    UserError listing them all, before any work.
    """
    gt_index = result_files(gt_dir, 'ground-truth folder')
    indexes = [result_files(d) for d in pred_dirs]
    missing = {gt_dir: [i for i in ids if i not in gt_index]}
    missing.update({d: [i for i in ids if i not in index] for d, index in zip(pred_dirs, indexes)})
    missing = {d: m for d, m in missing.items() if m}
    if missing:
        raise UserError(missing_message(missing, 'labels'))
    tasks = [(i, gt_index[i], [index[i] for index in indexes]) for i in ids]
    worker = functools.partial(_score_one, num_classes=num_classes)
    results = imap_progress(worker, tasks, num_workers, desc='scoring')
    return collect(results, result_names(pred_dirs), num_classes)


def write_json(path, scores, settings=None):
    """The summary of one result (with `settings`, how it was computed, beside it), or {result name: summary}
    for several, as JSON (atomic)."""
    summaries = {name: metrics.summary(conf) for name, conf in scores.confusion.items()}
    data = dict(next(iter(summaries.values())), **settings or {}) if len(summaries) == 1 else summaries
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2)


def write_per_image_csv(path, scores):
    """One row per (result, image): pixel accuracy and mIoU, worst mIoU first within each result."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as handle:
            writer = csv.writer(handle)
            writer.writerow(['result', 'image_id', 'pixel_accuracy', 'miou', 'pixels'])
            for name, rows in scores.per_image.items():
                for row in sorted(rows, key=lambda r: (np.nan_to_num(r.miou, nan=2.0), r.image_id)):
                    writer.writerow([name, row.image_id, f'{row.pixel_accuracy:.6f}', f'{row.miou:.6f}',
                                     row.pixels])


def write_outputs(scores, output_json=None, per_image_csv=None, plot=None, settings=None):
    """Print the table and write whichever of the JSON (with `settings`), per-image CSV and bar chart were
    asked for."""
    metrics.report(scores.confusion)
    if output_json:
        write_json(output_json, scores, settings)
    if per_image_csv:
        write_per_image_csv(per_image_csv, scores)
    if plot:
        per_class = {name: metrics.summary(conf)['per_class_iou'] for name, conf in scores.confusion.items()}
        single = len(per_class) == 1
        iou_bar_chart(plot, next(iter(per_class.values())) if single else per_class,
                      title='Per-class IoU' + (f' ({next(iter(per_class))})' if single else ''))
