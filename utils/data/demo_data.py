"""A small synthetic data set in the PASCAL VOC layout, so the whole suite can run without downloads.

Objects of five VOC classes, each with its own shape, colour and texture, on noisy textured backgrounds;
images of varied sizes; labels as VOC palette PNGs (with the 255 void band along object borders) and as
SBD-style grayscale PNGs; the VOC ImageSets/Segmentation lists (test images have no labels).
"""
import os

import numpy as np
from PIL import Image

from utils.data.voc import IGNORE_LABEL, label_image

# class index -> (shape, RGB colour, texture): distinct enough for a tiny network trained from scratch.
CLASS_STYLES = {
    1: ('triangle', (215, 45, 40), 'plain'),     # aeroplane
    6: ('box', (235, 195, 35), 'stripes'),       # bus
    8: ('disc', (45, 165, 60), 'spots'),         # cat
    15: ('ellipse', (45, 85, 215), 'plain'),     # person
    20: ('box', (195, 60, 195), 'checker'),      # tvmonitor
}
MIN_SIDE, MAX_SIDE = 96, 192
VOID_RADIUS = 2
ID_FORMAT = 'demo_{:06d}'


def _shape_mask(shape, yy, xx, cy, cx, r):
    """Boolean mask of one object shape centred at (cy, cx) with size r, from coordinate grids."""
    dy, dx = yy - cy, xx - cx
    if shape == 'disc':
        return dy ** 2 + dx ** 2 <= r ** 2
    if shape == 'ellipse':
        return (dx / (0.55 * r)) ** 2 + (dy / r) ** 2 <= 1
    if shape == 'box':
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.7 * r)
    return (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8)


def _texture(texture, yy, xx, rng):
    """Per-pixel brightness factor in about 0.6..1.0 giving an object class its surface pattern."""
    if texture == 'stripes':
        return np.where((yy.astype(int) // 4) % 2 == 0, 1.0, 0.65)
    if texture == 'checker':
        return np.where((yy.astype(int) // 6 + xx.astype(int) // 6) % 2 == 0, 1.0, 0.6)
    if texture == 'spots':
        phase = rng.uniform(0, 2 * np.pi, size=2)
        return 0.8 + 0.2 * np.sin(xx / 2.5 + phase[0]) * np.sin(yy / 2.5 + phase[1])
    return np.ones_like(yy)


def _background(height, width, rng):
    """A muted, smoothly varying and noisy background: coarse random field upsampled plus pixel noise."""
    coarse = rng.uniform(70, 170, size=(6, 6, 1)) + rng.uniform(-20, 20, size=(6, 6, 3))  # 50..190: fits uint8
    field = Image.fromarray(coarse.astype(np.uint8)).resize((width, height), Image.BILINEAR)
    return np.asarray(field, dtype=np.float64) + rng.normal(0, 12, size=(height, width, 3))


def void_band(label, radius=VOID_RADIUS):
    """Mask of pixels within `radius` of a pixel of another class: VOC's void band along object borders."""
    padded = np.pad(label, radius, mode='edge')
    height, width = label.shape
    band = np.zeros(label.shape, dtype=bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            band |= padded[radius + dy:radius + dy + height, radius + dx:radius + dx + width] != label
    return band


def make_sample(rng, with_void=True, size=None):
    """One synthetic (image uint8 [H, W, 3], label uint8 [H, W]) pair with 1-3 objects; `size` (height, width)
    fixes the size, else each side is drawn from MIN_SIDE..MAX_SIDE."""
    height, width = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    if size:
        height, width = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    image = _background(height, width, rng)
    label = np.zeros((height, width), dtype=np.uint8)
    classes = list(CLASS_STYLES)
    for _ in range(rng.integers(1, 4)):
        cls = classes[rng.integers(len(classes))]
        shape, colour, texture = CLASS_STYLES[cls]
        r = rng.uniform(0.15, 0.3) * min(height, width)
        cy, cx = rng.uniform(r, height - r), rng.uniform(r, width - r)
        mask = _shape_mask(shape, yy, xx, cy, cx, r)
        tint = np.asarray(colour) + rng.uniform(-20, 20, size=3)
        shade = _texture(texture, yy, xx, rng)[..., None] * tint + rng.normal(0, 8, size=(height, width, 3))
        image[mask] = shade[mask]
        label[mask] = cls
    if with_void:
        label[void_band(label)] = IGNORE_LABEL
    return np.clip(image, 0, 255).astype(np.uint8), label


def _write_list(path, ids):
    """A VOC list file: one id per line."""
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(''.join(f'{i}\n' for i in ids))


def make_demo_voc(root, num_train, num_val, num_test, seed=0, image_size=None):
    """Write the demo data set under `root` in the VOC layout; deterministic from `seed`; every image
    `image_size` (height, width) when given (e.g. VOC's typical 375 x 500). Returns its paths.

    Keys: root, image_dir (JPEGImages), label_dir (SegmentationClass, palette PNGs with the void band),
    aug_label_dir (SegmentationClassAug, grayscale PNGs, same values), list_dir and
    train_list / val_list / trainval_list / test_list, and class_ids (the classes drawn).
    """
    paths = {
        'root': root,
        'image_dir': os.path.join(root, 'JPEGImages'),
        'label_dir': os.path.join(root, 'SegmentationClass'),
        'aug_label_dir': os.path.join(root, 'SegmentationClassAug'),
        'list_dir': os.path.join(root, 'ImageSets', 'Segmentation'),
    }
    for key in ('image_dir', 'label_dir', 'aug_label_dir', 'list_dir'):
        os.makedirs(paths[key], exist_ok=True)
    ids = [ID_FORMAT.format(k + 1) for k in range(num_train + num_val + num_test)]
    for k, ident in enumerate(ids):
        image, label = make_sample(np.random.default_rng([seed, k]), size=image_size)
        Image.fromarray(image).save(os.path.join(paths['image_dir'], ident + '.jpg'), quality=90)
        if k < num_train + num_val:
            label_image(label).save(os.path.join(paths['label_dir'], ident + '.png'))
            Image.fromarray(label, mode='L').save(os.path.join(paths['aug_label_dir'], ident + '.png'))
    lists = {'train': ids[:num_train], 'val': ids[num_train:num_train + num_val],
             'trainval': ids[:num_train + num_val], 'test': ids[num_train + num_val:]}
    for name, members in lists.items():
        paths[f'{name}_list'] = os.path.join(paths['list_dir'], f'{name}.txt')
        _write_list(paths[f'{name}_list'], members)
    paths['class_ids'] = sorted(CLASS_STYLES)
    return paths
