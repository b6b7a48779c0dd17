"""Saved softmax probabilities: one compressed .npz per image (key `probabilities`, [H, W, C]) in uint8 steps of
1/255 that sum to exactly 255 per pixel, as inference.py --save_probabilities and the soft ensemble write them and
the CRF and the soft ensemble read them (refusing files that hold no probabilities). Files written before, in
float16, read as they did."""
import zipfile

import numpy as np

from utils.common.errors import UserError
from utils.common.files import atomic_path

PROBABILITY_KEY = 'probabilities'
# Stored probabilities are integers in 1/PROBABILITY_STEPS (uint8): each within one step of the float32 value,
# every pixel's sum exact.
PROBABILITY_STEPS = 255
# How far a pixel's stored probabilities may sum from 1. Files in steps sum to 1 exactly; float16 files (written
# before) move a sum by up to 2**-11 per class; 0.01 leaves room for those and still refuses logits or sums of 5.
PROBABILITY_SUM_TOLERANCE = 0.01


def quantize(probabilities, steps=PROBABILITY_STEPS):
    """uint8 [H, W, C] (steps <= 255) that sum to `steps` at every pixel, each within one step of probability x steps:
    largest-remainder rounding (plain rounding would move a pixel's sum by up to C/2 steps)."""
    prob = np.asarray(probabilities, dtype=np.float32)
    scaled = prob * (steps / prob.sum(axis=2, keepdims=True))
    whole = np.floor(scaled)
    deficit = steps - whole.sum(axis=2, keepdims=True)
    largest_remainder_first = np.argsort(whole - scaled, axis=2)
    bump = np.arange(prob.shape[2]) < deficit
    np.put_along_axis(whole, largest_remainder_first,
                      np.take_along_axis(whole, largest_remainder_first, axis=2) + bump, axis=2)
    return whole.astype(np.uint8)


def save_probabilities(path, probabilities):
    """Write per-class probabilities [H, W, C] (each pixel summing to 1) compressed, as uint8 in
    1/PROBABILITY_STEPS under the key `probabilities`."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as handle:
            np.savez_compressed(handle, **{PROBABILITY_KEY: quantize(probabilities)})


def read_probabilities(path, num_classes):
    """Softmax maps [H, W, C] from a saved .npz file (float32 from steps, float16 as stored); UserError naming
    the file when it is not one."""
    try:
        with np.load(path) as data:
            if PROBABILITY_KEY not in data.files:
                raise UserError(f'{path}: no "{PROBABILITY_KEY}" array (found {", ".join(data.files) or "none"})')
            prob = data[PROBABILITY_KEY]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(f'{path}: unreadable probability file ({err})') from None
    if prob.ndim != 3 or prob.shape[2] != num_classes or not prob.size:
        raise UserError(f'{path}: probabilities have shape {prob.shape}, expected [H, W, {num_classes}]')
    if prob.dtype == np.uint8:
        prob = prob.astype(np.float32) / PROBABILITY_STEPS
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
