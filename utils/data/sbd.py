"""SBD (Hariharan et al.) class labels: `cls/<id>.mat` files holding the MATLAB struct `GTcls`, whose
`Segmentation` field is the class-index map (0 background, 1..20 the VOC classes; SBD has no void label)."""
import numpy as np
import scipy.io

from utils.common.errors import UserError
from utils.data.voc import NUM_CLASSES

STRUCT = 'GTcls'
FIELD = 'Segmentation'


def read_sbd_label(path):
    """The class-index map [H, W] uint8 of one SBD `cls/*.mat` file; UserError naming the file otherwise."""
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (OSError, ValueError, TypeError, IndexError, NotImplementedError, scipy.io.matlab.MatReadError) as err:
        raise UserError(f'{path}: unreadable .mat file ({err})') from None
    if STRUCT not in mat or not hasattr(mat[STRUCT], FIELD):
        raise UserError(f'{path}: no {STRUCT}.{FIELD} (not an SBD cls/*.mat file)')
    label = np.asarray(getattr(mat[STRUCT], FIELD))
    if label.ndim != 2:
        raise UserError(f'{path}: {STRUCT}.{FIELD} has shape {label.shape}, expected a 2-D map')
    if label.size and (label.min() < 0 or label.max() >= NUM_CLASSES):
        raise UserError(f'{path}: {STRUCT}.{FIELD} holds values outside 0..{NUM_CLASSES - 1}')
    return label.astype(np.uint8)
