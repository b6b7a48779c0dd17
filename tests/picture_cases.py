"""The pictures tests/test_picture_layout.py compares pixel for pixel with the reviewed PNGs in
tests/fixtures/pictures/: an IoU chart of one result, of several, of eleven (the series colours wrap), and
side-by-side panels with and without titles. After a deliberate change to the drawing, look at the new pictures and
rewrite them with `python tests/picture_cases.py`."""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from utils.postprocess import plots  # noqa: E402

PICTURES = os.path.join(ROOT, 'tests', 'fixtures', 'pictures')


def _panels():
    """An image, a prediction and a shorter ground truth whose legend takes two rows."""
    image = np.zeros((24, 32, 3), dtype=np.uint8)
    image[..., 0] = np.arange(32) * 8
    image[..., 1] = np.arange(24)[:, None] * 10
    image[..., 2] = 90
    prediction = np.zeros((24, 32), dtype=np.uint8)
    prediction[4:20, 3:15] = 15
    prediction[10:22, 18:30] = 12
    truth = np.zeros((16, 32), dtype=np.uint8)
    truth[2:14, 4:16] = 15
    truth[6:12, 20:28] = 8
    truth[0] = 255
    truth[15, :5] = 21  # beyond VOC's names: shown as its number
    return [image, prediction, truth]


CASES = {
    'iou_one_result.png': lambda path: plots.iou_bar_chart(path, {
        'background': 0.931, 'aeroplane': 0.5, 'bicycle': None, 'bird': 1.25, 'boat': -0.1, 'bottle': 0.0,
        'bus': float('nan')}, title='val'),
    'iou_three_results.png': lambda path: plots.iou_bar_chart(path, {
        'DeepLabv3': {'background': 0.9, 'aeroplane': 0.42, 'bicycle': None, 'bird': None},
        'DeepLabv3+': {'background': 0.95, 'aeroplane': 0.81, 'bicycle': 0.3, 'bird': None},
        'DenseCRF': {'background': 0.96, 'aeroplane': None, 'bicycle': 0.35, 'bird': None}}),
    'iou_eleven_results.png': lambda path: plots.iou_bar_chart(
        path, {f'r{k}': {'person': 0.05 + 0.09 * k} for k in range(11)}, title='runs'),
    'panels_with_titles.png': lambda path: plots.side_by_side(path, _panels(),
                                                              ['image', 'prediction', 'ground truth']),
    'panels_without_titles.png': lambda path: plots.side_by_side(path, _panels()[1:],
                                                                 names=['sky', 'road'] + [f'c{k}' for k in range(20)]),
}


def draw(name, path):
    """Draw case `name` to `path`."""
    CASES[name](str(path))


if __name__ == '__main__':
    os.makedirs(PICTURES, exist_ok=True)
    for case in CASES:
        draw(case, os.path.join(PICTURES, case))
        print(os.path.join(PICTURES, case))
