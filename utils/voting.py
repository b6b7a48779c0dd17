"""Pixel stacking: a weighted per-pixel majority vote over several models' result folders."""
import collections
import functools
import os

import numpy as np

from utils.errors import UserError
from utils.files import pending
from utils.parallel import imap_progress
from utils.scoring import missing_message, result_files
from utils.voc import IGNORE_LABEL, NUM_CLASSES, check_label_values, read_label, save_label

TIE_BREAKS = ('first', 'smallest')
StackSummary = collections.namedtuple('StackSummary', 'written skipped missing')
StackSummary.__doc__ = 'Counts of written and already existing outputs; missing: {folder: [ids]} it lacked.'


def vote(labels, weights=None, tie_break='first'):
    """The winning label per pixel of N same-sized label maps (255 casts no vote; no votes gives 255).

    Each pixel's label with the largest total weight wins. Ties go to the label of the earliest map among
    the tied ones ('first') or to the smallest label id ('smallest', the seed's argmax(bincount)).
    Vectorised over pixels: map i's score is the weight of every map agreeing with it, so the loop is
    over pairs of maps only.
    """
    stack = np.stack([np.asarray(label, dtype=np.uint8) for label in labels])
    weights = np.ones(len(stack), dtype=np.int64) if weights is None else np.asarray(weights)
    valid = stack != IGNORE_LABEL
    score = valid * weights.reshape((-1,) + (1,) * (stack.ndim - 1))
    for i in range(len(stack)):
        for j in range(i + 1, len(stack)):
            agree = (stack[i] == stack[j]) & valid[i]
            score[i] += agree * weights[j]
            score[j] += agree * weights[i]
    if score.dtype.kind == 'f':
        score = np.round(score, 9)
    if tie_break == 'first':
        winner = np.argmax(score, axis=0)[np.newaxis]
        return np.take_along_axis(stack, winner, axis=0)[0]
    if tie_break == 'smallest':
        best = score.max(axis=0)
        return np.where(score == best, stack, IGNORE_LABEL).min(axis=0).astype(np.uint8)
    raise ValueError(f'tie_break must be one of {TIE_BREAKS}, not {tie_break!r}')


def _stack_one(task, tie_break, num_classes):
    """Worker: read one image's label maps, check them, vote and write the palette PNG."""
    ident, sources, output = task
    labels = []
    for path, _ in sources:
        label = read_label(path)
        check_label_values(label, path, num_classes)
        labels.append(label)
    if len({label.shape for label in labels}) > 1:
        sizes = ', '.join(f'{path} is {label.shape[1]}x{label.shape[0]}' for (path, _), label in zip(sources, labels))
        raise UserError(f'{ident}: label maps differ in size ({sizes})')
    save_label(output, vote(labels, [w for _, w in sources], tie_break))
    return ident


def _check_options(input_dirs, output_dir, weights, tie_break):
    """UserErrors for option values stack_folders cannot work with."""
    if not input_dirs:
        raise UserError('no input folders given')
    if weights is not None:
        if len(weights) != len(input_dirs):
            raise UserError(f'{len(weights)} weights given for {len(input_dirs)} input folders')
        if any(not w > 0 for w in weights):
            raise UserError(f'weights must be positive, got {list(weights)}')
    if tie_break not in TIE_BREAKS:
        raise UserError(f'tie break must be one of {", ".join(TIE_BREAKS)}, not {tie_break!r}')
    out = os.path.realpath(output_dir)
    for folder in input_dirs:
        if os.path.realpath(folder) == out:
            raise UserError(f'{output_dir}: output folder is also an input folder (inputs are never modified)')


def stack_folders(input_dirs, output_dir, ids=None, weights=None, tie_break='first', allow_missing=False,
                  num_workers=None, overwrite=False, num_classes=NUM_CLASSES):
    """Vote every image of `ids` (default: every name in any folder) into `output_dir/<id>.png`.

    A name missing from some folder is a UserError listing all of them, unless `allow_missing`, where the
    present folders vote. Existing outputs are kept unless `overwrite`. Returns a StackSummary.
    """
    _check_options(input_dirs, output_dir, weights, tie_break)
    weights = [1] * len(input_dirs) if weights is None else list(weights)
    indexes = [result_files(folder, 'input folder') for folder in input_dirs]
    ids = sorted(set().union(*indexes)) if ids is None else list(ids)
    if not ids:
        raise UserError(f'no label PNGs in {", ".join(input_dirs)}')
    missing = {d: [i for i in ids if i not in index] for d, index in zip(input_dirs, indexes)}
    missing = {d: m for d, m in missing.items() if m}
    if missing and not allow_missing:
        raise UserError(missing_message(missing) + ' (--allow_missing lets the present folders vote)')
    nowhere = [i for i in ids if not any(i in index for index in indexes)]
    if nowhere:
        raise UserError(f'{len(nowhere)} images are in no input folder ({", ".join(nowhere)})')

    def output_for(ident):
        return os.path.join(output_dir, ident + '.png')

    todo = pending(ids, output_for, overwrite)
    tasks = [(i, [(index[i], w) for index, w in zip(indexes, weights) if i in index], output_for(i)) for i in todo]
    worker = functools.partial(_stack_one, tie_break=tie_break, num_classes=num_classes)
    for _ in imap_progress(worker, tasks, num_workers, desc='stacking'):
        pass
    return StackSummary(len(todo), len(ids) - len(todo), missing)
