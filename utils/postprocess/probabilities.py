"""Saved softmax probabilities: one compressed float16 .npz per image (key `probabilities`, [H, W, C]), as
inference.py --save_probabilities writes them and the CRF and the soft ensemble read them (refusing files that
hold no probabilities)."""
import zipfile

import numpy as np

from utils.common.errors import UserError
from utils.common.files import atomic_path

PROBABILITY_KEY = 'probabilities'
# How far a pixel's stored probabilities may sum from 1. float16 storage moves a sum by at most 2**-11 (about 5e-4),
# and the soft ensemble stores its average again; 0.01 leaves room for both and still refuses logits or sums of 5.
PROBABILITY_SUM_TOLERANCE = 0.01


def save_probabilities(path, probabilities):
    """Write per-class probabilities [H, W, C] as compressed float16 under the key `probabilities`."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as handle:
            np.savez_compressed(handle, **{PROBABILITY_KEY: probabilities.astype(np.float16)})


def read_probabilities(path, num_classes):
    """Softmax maps [H, W, C] from a saved .npz file; UserError naming the file when it is not one."""
    try:
        with np.load(path) as data:
            if PROBABILITY_KEY not in data.files:
                raise UserError(f'{path}: no "{PROBABILITY_KEY}" array (found {", ".join(data.files) or "none"})')
            prob = data[PROBABILITY_KEY]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(f'{path}: unreadable probability file ({err})') from None
    if prob.ndim != 3 or prob.shape[2] != num_classes or not prob.size:
        raise UserError(f'{path}: probabilities have shape {prob.shape}, expected [H, W, {num_classes}]')
    check_probabilities(path, prob)
    return prob


def check_probabilities(path, prob):
    """UserError naming `path` unless every value of `prob` [H, W, C] is finite and non-negative and every pixel
    sums to 1 within PROBABILITY_SUM_TOLERANCE: NaN, logits or unnormalised scores would feed the CRF and the
    ensemble garbage."""
    if prob.dtype.kind not in 'biuf':
        raise UserError(f'{path}: probabilities are of type {prob.dtype}, expected real numbers')
    non_finite = prob.size - np.count_nonzero(np.isfinite(prob))
    if non_finite:
        raise UserError(f'{path}: {non_finite} non-finite values (NaN or Inf), expected probabilities')
    negative = np.count_nonzero(prob < 0)
    if negative:
        raise UserError(f'{path}: {negative} negative values (lowest {float(prob.min()):g}), expected probabilities')
    sums = prob.sum(axis=2, dtype=np.float32)
    low, high = float(sums.min()), float(sums.max())
    if low < 1 - PROBABILITY_SUM_TOLERANCE or high > 1 + PROBABILITY_SUM_TOLERANCE:
        raise UserError(f'{path}: per-pixel sums {low:.3f}..{high:.3f}, expected 1 '
                        f'(within {PROBABILITY_SUM_TOLERANCE:g})')
