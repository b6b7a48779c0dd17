"""Saved softmax probabilities: one compressed float16 .npz per image (key `probabilities`, [H, W, C]), as
inference.py --save_probabilities writes them and the CRF and the soft ensemble read them."""
import zipfile

import numpy as np

from utils.errors import UserError
from utils.files import atomic_path

PROBABILITY_KEY = 'probabilities'


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
    if prob.ndim != 3 or prob.shape[2] != num_classes:
        raise UserError(f'{path}: probabilities have shape {prob.shape}, expected [H, W, {num_classes}]')
    return prob
