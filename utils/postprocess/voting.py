"""Pixel stacking: a weighted per-pixel majority vote over several models' result folders."""
import collections
import functools
import itertools
import os

import numpy as np

from utils.common.errors import UserError
from utils.common.files import pending
from utils.common.parallel import imap_progress
from utils.data.voc import IGNORE_LABEL, NUM_CLASSES, save_label
from utils.postprocess.scoring import missing_message, read_checked_label, result_files

TIE_BREAKS = ('first', 'smallest')
StackSummary = collections.namedtuple('StackSummary', 'written skipped missing')
StackSummary.__doc__ = 'Counts of written and already existing outputs; missing: {folder: [ids]} it lacked.'


def _vote_pixels(stack, weights, tie_break):
    """The vote on 1-D pixel arrays: map i's score is the weight of every map agreeing with it."""
    integral = all(float(w).is_integer() for w in weights) and sum(weights) <= np.iinfo(np.int16).max
    weights = np.asarray(weights, dtype=np.int16 if integral else np.float64)
    valid = [label != IGNORE_LABEL for label in stack]
    score = [v * w for v, w in zip(valid, weights)]
    for i, j in itertools.combinations(range(len(stack)), 2):
        agree = (stack[i] == stack[j]) & valid[i]
        score[i] += agree * weights[j]
        score[j] += agree * weights[i]
    if not integral:
        total = weights.sum()  # shares of it: 0.1 + 0.2 ties with 0.3, and weights of 1e-10 still count
        score = [np.round(s / total, 9) for s in score]
    best, winner = score[0], stack[0]
    for s, label in zip(score[1:], stack[1:]):
        better = s > best
        if tie_break == 'smallest':
            better |= (s == best) & (label < winner)
        best = np.maximum(best, s)
        winner = np.where(better, label, winner)
    return winner


def vote(labels, weights=None, tie_break='first'):
    """The winning label per pixel of N same-sized label maps (255 casts no vote; no votes gives 255).

    Each pixel's label with the largest total weight wins. Ties go to the label of the earliest map among
    the tied ones ('first') or to the smallest label id ('smallest', the original project's argmax(bincount)).
    Vectorised: pixels where all maps agree keep that label; the others are voted on together, with
    loops over the N maps and their pairs only.
    """
    if tie_break not in TIE_BREAKS:
        raise ValueError(f'tie_break must be one of {TIE_BREAKS}, not {tie_break!r}')
    stack = [np.asarray(label, dtype=np.uint8) for label in labels]
    weights = [1] * len(stack) if weights is None else list(weights)
    result = stack[0].copy()
    unanimous = np.ones(result.shape, dtype=bool)
    for label in stack[1:]:
        unanimous &= label == result
    todo = np.flatnonzero(~unanimous)
    if todo.size:
        result.reshape(-1)[todo] = _vote_pixels([label.reshape(-1)[todo] for label in stack], weights, tie_break)
    return result


def _stack_one(task, tie_break, num_classes):
    """Worker: read one image's label maps, check them, vote and write the palette PNG."""
    ident, sources, output = task
    labels = [read_checked_label(path, num_classes) for path, _ in sources]
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
                  num_workers=None, overwrite=False, num_classes=NUM_CLASSES, before_writing=None):
    """Vote every image of `ids` (default: every name in any folder) into `output_dir/<id>.png`.

    A name missing from some folder is a UserError listing all of them, unless `allow_missing`, where the
    present folders vote. Existing outputs are kept unless `overwrite`. `before_writing` is called once before the
    first output, after every check (the script records its settings there). Returns a StackSummary.
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
    if tasks and before_writing:
        before_writing()
    for _ in imap_progress(worker, tasks, num_workers, desc='stacking'):
        pass
    return StackSummary(len(todo), len(ids) - len(todo), missing)
