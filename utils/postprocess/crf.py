"""Fully-connected CRF refinement (pydensecrf) of hard label maps or of saved softmax probabilities."""
import collections
import functools
import itertools
import json
import os

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_labels

from utils.common.errors import UserError
from utils.common.files import atomic_path, find_file, pending, read_json_object, require_dir
from utils.common.parallel import imap_progress
from utils.data.voc import IGNORE_LABEL, IMAGE_EXTENSIONS, NUM_CLASSES, read_image, read_label, save_label
from utils.postprocess.metrics import mean_iou
from utils.postprocess.probabilities import read_probabilities
from utils.postprocess.scoring import collect, image_confusion, missing_message, read_checked_label, result_files

CrfParams = collections.namedtuple(
    'CrfParams', 'gt_prob gauss_sxy gauss_compat bilateral_sxy bilateral_srgb bilateral_compat iterations')
CrfParams.__doc__ = 'Unary confidence of hard labels, Gaussian and bilateral kernel parameters, mean-field steps.'
# DeepLab-v2 ResNet-101's VOC values (76.35 -> 77.69 val mIoU); gt_prob is unused with probabilities.
PROBABILITY_DEFAULTS = CrfParams(0.7, 1, 3, 67, 3, 4, 10)
# The original project's values for hard labels.
LABEL_DEFAULTS = CrfParams(0.7, 3, 3, 80, 13, 10, 5)
# The original project's rule ran a single mean-field step.
SEED_DEFAULTS = LABEL_DEFAULTS._replace(iterations=1)
TUNE_GRID = {'bilateral_sxy': (40, 67, 80), 'bilateral_srgb': (3, 5, 13), 'bilateral_compat': (4, 10)}
PROBABILITY_EPSILON = 1e-8
NO_CRF = 'no CRF'  # the tuning baseline; as parameters, "pass the inputs through"
NO_CRF_JSON = {'no_crf': True}


def default_params(from_probabilities, seed_compat=False):
    """The defaults for a mode: DeepLab's with probabilities, the original project's with hard labels."""
    if from_probabilities:
        return PROBABILITY_DEFAULTS
    return SEED_DEFAULTS if seed_compat else LABEL_DEFAULTS


def write_params(path, params):
    """CRF parameters (or NO_CRF) as a JSON object (atomic), e.g. the best setting of a tuning run."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(NO_CRF_JSON if params == NO_CRF else params._asdict(), handle, indent=2)


def read_params(path, defaults):
    """`defaults` with the values of a JSON file written by `write_params` (NO_CRF when it says so); UserError
    naming the file otherwise."""
    values = read_json_object(path, 'CRF parameter file')
    if values == NO_CRF_JSON:
        return NO_CRF
    unknown = sorted(set(values) - set(CrfParams._fields))
    if unknown:
        raise UserError(f'{path}: unknown CRF parameters {", ".join(unknown)}')
    return defaults._replace(**values)


def hard_label_unary(label, num_classes, gt_prob):
    """Unary energy [C, H*W] float32 from a label map; 0 is a real class, 255 gets a uniform (no information) unary."""
    void = (label == IGNORE_LABEL).reshape(-1)
    unary = unary_from_labels(np.where(label == IGNORE_LABEL, 0, label), num_classes, gt_prob, zero_unsure=False)
    unary[:, void] = -np.log(1.0 / num_classes)
    return unary


def probability_unary(probabilities):
    """Unary energy [C, H*W] float32 (-log p, p clipped away from 0) from softmax maps [H, W, C]."""
    unary = np.ascontiguousarray(probabilities.reshape(-1, probabilities.shape[2]).T, dtype=np.float32)
    np.maximum(unary, PROBABILITY_EPSILON, out=unary)
    np.log(unary, out=unary)
    return np.negative(unary, out=unary)


def dense_crf(image, unary, params):
    """Mean-field inference of the fully-connected CRF; returns the label map [H, W] uint8.

    pydensecrf's default kernel (DIAG_KERNEL) and normalisation (NORMALIZE_SYMMETRIC) are used, so the
    result equals a direct pydensecrf call with the same parameters. pydensecrf needs writable C-ordered arrays.
    """
    height, width = image.shape[:2]
    crf = dcrf.DenseCRF2D(width, height, unary.shape[0])
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params.gauss_sxy, compat=params.gauss_compat)
    crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb,
                             rgbim=np.require(image, np.uint8, 'CW'), compat=params.bilateral_compat)
    q = np.asarray(crf.inference(params.iterations))
    return q.argmax(axis=0).reshape(height, width).astype(np.uint8)


def seed_compat_crf(image, label, params):
    """The original project's rule: a background-vs-one-class CRF on images holding exactly background and one
    class; every other image passes unchanged (the original project mapped every non-zero label to "object", so
    only such images reached its CRF). The class keeps its own id (the original project's set ordering renamed some).
    """
    present = np.unique(label[label != IGNORE_LABEL])
    if len(present) != 2 or present[0] != 0:
        return label
    binary = np.where(label == IGNORE_LABEL, IGNORE_LABEL, (label == present[1]).astype(np.uint8))
    return present[dense_crf(image, hard_label_unary(binary, 2, params.gt_prob), params)].astype(np.uint8)


def refine(image, source, params, num_classes=NUM_CLASSES, seed_compat=False):
    """CRF-refined labels of `image` from a label map [H, W] or probabilities [H, W, C]; with NO_CRF, the
    source's own labels (the argmax of probabilities)."""
    if params == NO_CRF:
        return source.argmax(axis=2).astype(np.uint8) if source.ndim == 3 else source
    if seed_compat:
        return seed_compat_crf(image, source, params)
    if source.ndim == 3:
        return dense_crf(image, probability_unary(source), params)
    return dense_crf(image, hard_label_unary(source, num_classes, params.gt_prob), params)


def read_source(path, num_classes):
    """A label map (PNG) or probabilities (.npz), checked."""
    if path.endswith('.npz'):
        return read_probabilities(path, num_classes)
    return read_checked_label(path, num_classes)


def _read_pair(image_path, source_path, num_classes):
    """The RGB image and its source, which must have the image's size."""
    image = read_image(image_path)
    source = read_source(source_path, num_classes)
    if source.shape[:2] != image.shape[:2]:
        raise UserError(f'{source_path}: is {source.shape[1]}x{source.shape[0]} but image {image_path} is '
                        f'{image.shape[1]}x{image.shape[0]}')
    return image, source


def _sources(image_dir, ids, label_dir, prob_dir):
    """(ids, [(image path, source path)]) after checking that every image and source exists."""
    if (label_dir is None) == (prob_dir is None):
        raise UserError('give exactly one of a label folder and a probability folder')
    require_dir(image_dir, 'image folder')
    index = (result_files(label_dir, 'label folder') if prob_dir is None
             else result_files(prob_dir, 'probability folder', ('.npz',)))
    source_dir = label_dir if prob_dir is None else prob_dir
    ids = sorted(index) if ids is None else list(ids)
    if not ids:
        raise UserError(f'{source_dir}: no inputs found')
    images = {i: find_file(image_dir, i, IMAGE_EXTENSIONS) for i in ids}
    missing = {image_dir: [i for i in ids if images[i] is None], source_dir: [i for i in ids if i not in index]}
    missing = {d: m for d, m in missing.items() if m}
    if missing:
        raise UserError(missing_message(missing, 'files'))
    return ids, [(images[i], index[i]) for i in ids]


def _refine_one(task, params, num_classes, seed_compat):
    """Worker: refine one image and write its palette PNG."""
    ident, image_path, source_path, output = task
    image, source = _read_pair(image_path, source_path, num_classes)
    save_label(output, refine(image, source, params, num_classes, seed_compat))
    return ident


def check_mode(prob_dir, seed_compat):
    """The original project's rule is defined on hard labels only."""
    if seed_compat and prob_dir is not None:
        raise UserError('--seed_compat works on hard labels (--prediction_dir), not on probabilities')


def _prepare(image_dir, ids, label_dir, prob_dir, params, seed_compat):
    """(params or the mode's defaults, ids, [(image path, source path)]), every input checked to exist."""
    check_mode(prob_dir, seed_compat)
    ids, pairs = _sources(image_dir, ids, label_dir, prob_dir)
    return params or default_params(prob_dir is not None, seed_compat), ids, pairs


def refine_folder(image_dir, output_dir, ids=None, label_dir=None, prob_dir=None, params=None,
                  num_classes=NUM_CLASSES, seed_compat=False, num_workers=None, overwrite=False, before_writing=None):
    """Refine every id (default: every label/probability file) into `output_dir/<id>.png`.

    Existing outputs are kept unless `overwrite`. `before_writing` is called once before the first output, after
    every check. Returns (written, skipped).
    """
    params, ids, pairs = _prepare(image_dir, ids, label_dir, prob_dir, params, seed_compat)
    for folder in (image_dir, label_dir):
        if folder is not None and os.path.realpath(folder) == os.path.realpath(output_dir):
            raise UserError(f'{output_dir}: output folder is also an input folder (inputs are never modified)')

    def output_for(ident):
        return os.path.join(output_dir, ident + '.png')

    todo = set(pending(ids, output_for, overwrite))
    tasks = [(i, image, source, output_for(i)) for i, (image, source) in zip(ids, pairs) if i in todo]
    worker = functools.partial(_refine_one, params=params, num_classes=num_classes, seed_compat=seed_compat)
    if tasks and before_writing:
        before_writing()
    for _ in imap_progress(worker, tasks, num_workers, desc='densecrf'):
        pass
    return len(tasks), len(ids) - len(tasks)


def grid_settings(params, grid=None):
    """{name: params} for every combination of the grid's values on top of `params`."""
    grid = grid or TUNE_GRID
    keys = list(grid)
    settings = {}
    for values in itertools.product(*(grid[k] for k in keys)):
        name = ' '.join(f'{k}={v:g}' for k, v in zip(keys, values))
        settings[name] = params._replace(**dict(zip(keys, values)))
    return settings


def _tune_one(task, settings, num_classes, seed_compat):
    """Worker: one image's confusion matrices without CRF and under every setting."""
    ident, image_path, source_path, gt_path = task
    image, source = _read_pair(image_path, source_path, num_classes)
    gt = read_label(gt_path)
    preds = [refine(image, source, p, num_classes, seed_compat) for p in [NO_CRF, *settings.values()]]
    return ident, [image_confusion(gt, pred, gt_path, source_path, num_classes) for pred in preds]


def tune(image_dir, gt_dir, ids=None, label_dir=None, prob_dir=None, params=None, grid=None,
         num_classes=NUM_CLASSES, seed_compat=False, num_workers=None):
    """Score the inputs without CRF (NO_CRF) and under every grid setting; returns (Scores, {name: params})."""
    params, ids, pairs = _prepare(image_dir, ids, label_dir, prob_dir, params, seed_compat)
    gt_index = result_files(gt_dir, 'ground-truth folder')
    missing = [i for i in ids if i not in gt_index]
    if missing:
        raise UserError(missing_message({gt_dir: missing}, 'labels'))
    settings = grid_settings(params, grid)
    tasks = [(i, image, source, gt_index[i]) for i, (image, source) in zip(ids, pairs)]
    worker = functools.partial(_tune_one, settings=settings, num_classes=num_classes, seed_compat=seed_compat)
    results = imap_progress(worker, tasks, num_workers, desc='tuning')
    return collect(results, [NO_CRF] + list(settings), num_classes), settings


def best_setting(confusion):
    """The name with the highest mIoU in `confusion` ({name: matrix}, NO_CRF first, then grid order); a tie goes
    to the earliest, so a setting must beat no CRF to be chosen."""
    return max(confusion, key=lambda name: mean_iou(confusion[name]))
