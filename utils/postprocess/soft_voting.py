"""The soft ensemble: a weighted average of several models' saved probabilities, giving labels (its argmax)
and the fused probabilities, which the CRF can refine as it refines one model's."""
import functools
import os

import numpy as np

from utils.common.errors import UserError
from utils.common.files import pending
from utils.common.parallel import imap_progress
from utils.data.voc import NUM_CLASSES, save_label
from utils.postprocess.probabilities import read_probabilities, save_probabilities
from utils.postprocess.scoring import missing_message, result_files


def average(probabilities, weights):
    """The weighted mean [H, W, C] float32 of same-shaped probability maps (weights need not sum to 1)."""
    total = np.zeros(probabilities[0].shape, dtype=np.float32)
    for prob, weight in zip(probabilities, weights):
        total += np.float32(weight) * prob.astype(np.float32)
    return total / np.float32(sum(weights))


def _fuse_one(task, num_classes):
    """Worker: average one image's probability files; write its labels and fused probabilities."""
    ident, sources, weights, label_path, prob_path = task
    probabilities = [read_probabilities(path, num_classes) for path in sources]
    if len({p.shape for p in probabilities}) > 1:
        sizes = ', '.join(f'{path} is {p.shape[1]}x{p.shape[0]}' for path, p in zip(sources, probabilities))
        raise UserError(f'{ident}: probability maps differ in size ({sizes})')
    fused = average(probabilities, weights)
    save_label(label_path, fused.argmax(axis=2).astype(np.uint8))
    save_probabilities(prob_path, fused)
    return ident


def fuse_folders(prob_dirs, output_dir, ids=None, weights=None, num_workers=None, overwrite=False,
                 num_classes=NUM_CLASSES, before_writing=None):
    """Average `prob_dirs/<id>.npz` into `output_dir/<id>.png` and `output_dir/probabilities/<id>.npz`.

    Every id (default: every file in the first folder) must be in every folder. Existing outputs are kept
    unless `overwrite`. `before_writing` is called once before the first output, after every check. Returns
    (written, skipped).
    """
    weights = [1.0] * len(prob_dirs) if weights is None else list(weights)
    if len(weights) != len(prob_dirs) or any(not w > 0 for w in weights):
        raise UserError(f'give one positive weight per input folder ({len(prob_dirs)}), got {weights}')
    indexes = [result_files(d, 'probability folder', ('.npz',)) for d in prob_dirs]
    ids = sorted(indexes[0]) if ids is None else list(ids)
    if not ids:
        raise UserError(f'{prob_dirs[0]}: no .npz probability files')
    missing = {d: [i for i in ids if i not in index] for d, index in zip(prob_dirs, indexes)}
    missing = {d: m for d, m in missing.items() if m}
    if missing:
        raise UserError(missing_message(missing, 'probability files'))
    prob_out = os.path.join(output_dir, 'probabilities')

    def outputs(ident):
        return os.path.join(output_dir, ident + '.png'), os.path.join(prob_out, ident + '.npz')

    todo = set(pending(ids, lambda i: outputs(i)[0], overwrite)) | set(pending(ids, lambda i: outputs(i)[1], overwrite))
    tasks = [(i, [index[i] for index in indexes], weights, *outputs(i)) for i in ids if i in todo]
    if tasks and before_writing:
        before_writing()
    for _ in imap_progress(functools.partial(_fuse_one, num_classes=num_classes), tasks, num_workers, desc='fusing'):
        pass
    return len(tasks), len(ids) - len(tasks)
