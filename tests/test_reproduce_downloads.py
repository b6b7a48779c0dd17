"""The reproduction's folder of image links: every image looked up first, then linked (not copied) once."""
import os

import pytest

from utils.common.errors import UserError
from utils.reproduce.image_links import link_images


def images(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    return str(folder)


def test_every_image_is_linked_not_copied_and_only_new_links_are_counted(tmp_path):
    val = images(tmp_path / 'trainval' / 'JPEGImages', 'a.jpg', 'b.png')
    test = images(tmp_path / 'test' / 'JPEGImages', 'c.jpg')
    out = tmp_path / 'run_images'
    assert link_images({val: ['a', 'b']}, str(out)) == 2
    assert sorted(os.listdir(out)) == ['a.jpg', 'b.png']
    assert os.readlink(out / 'a.jpg') == f'{tmp_path}/trainval/JPEGImages/a.jpg'
    assert os.readlink(out / 'b.png') == f'{tmp_path}/trainval/JPEGImages/b.png'
    assert link_images({val: ['a', 'b'], test: ['c']}, str(out)) == 1  # the folder exists already
    assert sorted(os.listdir(out)) == ['a.jpg', 'b.png', 'c.jpg']
    assert link_images({val: ['a', 'b'], test: ['c']}, str(out)) == 0


def test_missing_images_are_refused_naming_them_before_any_link_is_made(tmp_path):
    val = images(tmp_path / 'val', 'a.jpg')
    with pytest.raises(UserError) as raised:
        link_images({val: ['a', 'x', 'y'], str(tmp_path / 'test'): ['z']}, str(tmp_path / 'out'))
    assert str(raised.value) == (f'3 images not found ({tmp_path}/val/x.jpg, {tmp_path}/val/y.jpg, '
                                 f'{tmp_path}/test/z.jpg)')
    assert not (tmp_path / 'out').exists()


def test_more_than_three_missing_images_are_named_three_then_dots(tmp_path):
    val = images(tmp_path / 'val')
    with pytest.raises(UserError) as raised:
        link_images({val: ['w', 'x', 'y', 'z']}, str(tmp_path / 'out'))
    assert str(raised.value) == (f'4 images not found ({tmp_path}/val/w.jpg, {tmp_path}/val/x.jpg, '
                                 f'{tmp_path}/val/y.jpg ...)')
