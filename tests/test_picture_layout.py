"""The IoU charts and the side-by-side panels are drawn pixel for pixel as the reviewed pictures in
tests/fixtures/pictures/ (tests/picture_cases.py draws them; Pillow is pinned, and with it the bundled font): a
moved bar, swatch, title or legend entry fails here with the path of the picture it drew instead."""
import os

import numpy as np
import pytest
from picture_cases import CASES, PICTURES, draw
from PIL import Image


@pytest.mark.parametrize('name', sorted(CASES))
def test_picture_is_drawn_as_reviewed(name, tmp_path):
    drawn = tmp_path / name
    draw(name, drawn)
    expected = np.asarray(Image.open(os.path.join(PICTURES, name)).convert('RGB'))
    got = np.asarray(Image.open(drawn).convert('RGB'))
    assert got.shape == expected.shape, f'{drawn}: {got.shape} where the reviewed picture is {expected.shape}'
    differ = np.any(got != expected, axis=2)
    assert not differ.any(), f'{drawn}: {int(differ.sum())} pixels differ from the reviewed picture'
