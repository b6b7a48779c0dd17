"""PASCAL VOC constants and image/label I/O: class names, palette, mean pixel, label decoding."""
import contextlib

import numpy as np
from PIL import Image

from utils.common.errors import UserError
from utils.common.files import atomic_path
from utils.data import coco_classes

NUM_CLASSES = 21
IGNORE_LABEL = 255
CLASS_NAMES = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
    'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
MEAN_RGB = (123.68, 116.78, 103.94)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG')
LABEL_EXTENSIONS = ('.png', '.PNG')


def _make_palette():
    """The VOC devkit colour map: bits of the class index spread over the high bits of R, G and B."""
    index = np.arange(256)
    palette = np.zeros((256, 3), dtype=np.int64)
    for shift in range(8):
        for channel in range(3):
            bit = (index >> (3 * shift + channel)) & 1
            palette[:, channel] |= bit << (7 - shift)
    return palette.astype(np.uint8)


PALETTE = _make_palette()


# Class names by class count: the count of a model or of its records says which data set it is.
_NAMES_BY_COUNT = {coco_classes.NUM_CLASSES['all']: coco_classes.ALL_CLASS_NAMES,
                   coco_classes.NUM_CLASSES['coco_ids']: coco_classes.COCO_ID_CLASS_NAMES}


def class_names(num_classes=NUM_CLASSES):
    """The names of `num_classes` classes: MS-COCO's for 81 (all categories) and 91 (labels = category ids),
    else the VOC names (21; COCO records with VOC classes too), `class_<i>` beyond them for other data sets."""
    names = _NAMES_BY_COUNT.get(num_classes, CLASS_NAMES)
    return [names[i] if i < len(names) else f'class_{i}' for i in range(num_classes)]


@contextlib.contextmanager
def _open_image(path, what='image'):
    """Image.open with a missing or unreadable file turned into a UserError naming it."""
    try:
        with Image.open(path) as img:
            yield img
    except FileNotFoundError:
        raise UserError(f'{path}: {what} not found') from None
    except (OSError, ValueError, SyntaxError) as err:
        raise UserError(f'{path}: unreadable {what} ({err})') from None


def read_image(path):
    """Read an image as RGB uint8 [H, W, 3], whatever its mode; unreadable files are a UserError."""
    with _open_image(path) as img:
        return np.asarray(img.convert('RGB'))


def image_size(path):
    """(height, width) of an image from its header alone, without decoding the pixels."""
    with _open_image(path) as img:
        return img.size[1], img.size[0]


def decode_label(img, path):
    """Class indices [H, W] uint8 from a label image; a UserError naming `path` for one that holds none.

    Palette PNGs store indices directly; SBD SegmentationClassAug PNGs are grayscale with the same values; 16- and
    32-bit integer labels must hold 0..255; RGB(A) labels drawn with the VOC palette are mapped back to indices.
    """
    if img.mode in ('P', 'L'):  # 8-bit modes: uint8 arrays
        return np.asarray(img)
    if img.mode in ('I', 'I;16', 'I;16B', 'I;16L'):
        values = np.asarray(img).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise UserError(f'{path}: label values outside 0..255')
        return values.astype(np.uint8)
    if img.mode in ('RGB', 'RGBA'):
        rgb = np.asarray(img, dtype=np.int64)[..., :3]
        keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pal = PALETTE.astype(np.int64)
        pal_keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        lookup = {int(k): i for i, k in enumerate(pal_keys[:NUM_CLASSES])}
        lookup[int(pal_keys[IGNORE_LABEL])] = IGNORE_LABEL
        uniq, inverse = np.unique(keys, return_inverse=True)
        unknown = [u for u in uniq if int(u) not in lookup]
        if unknown:
            raise UserError(f'{path}: RGB label has {len(unknown)} colours that are not VOC palette colours')
        return np.array([lookup[int(u)] for u in uniq], dtype=np.uint8)[inverse].reshape(keys.shape)
    raise UserError(f'{path}: unsupported label image mode {img.mode}')


def read_label(path):
    """Read a label PNG as class indices [H, W] uint8 (see `decode_label`)."""
    with _open_image(path, 'label') as img:
        img.load()
        return decode_label(img, path)


def bad_label_values(label, num_classes=NUM_CLASSES):
    """Sorted values of `label` that are neither a class index nor the void label 255."""
    if not np.any((label >= num_classes) & (label != IGNORE_LABEL)):
        return []  # the common case, without np.unique's sort
    values = np.unique(label)
    return [int(v) for v in values if v >= num_classes and v != IGNORE_LABEL]


def check_label_values(label, path, num_classes=NUM_CLASSES):
    """Raise a UserError naming `path` when the label holds values outside 0..num_classes-1 and 255."""
    bad = bad_label_values(label, num_classes)
    if bad:
        raise UserError(f'{path}: label values {bad[:5]} outside 0..{num_classes - 1} and {IGNORE_LABEL}')


def colorize(label):
    """RGB uint8 picture of a label map with the VOC palette."""
    return PALETTE[np.asarray(label, dtype=np.uint8)]


def label_image(label):
    """A 'P'-mode PIL image of a label map carrying the VOC palette."""
    img = Image.fromarray(np.asarray(label, dtype=np.uint8), mode='P')
    img.putpalette(PALETTE.ravel().tolist())
    return img


def save_label(path, label):
    """Write a label map as a VOC-palette PNG, atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        label_image(label).save(tmp, format='PNG')
