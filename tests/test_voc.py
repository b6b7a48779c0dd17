"""VOC constants and I/O: palette, class names, label decoding, image reading, list files, atomic writes."""
import os

import numpy as np
import pytest
from PIL import Image

from utils.common import files
from utils.common.errors import UserError
from utils.data import voc

# The VOC devkit's colour map (VOCdevkit VOClabelcolormap.m), classes 0-20.
DEVKIT_COLOURS = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
                  [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128],
                  [192, 0, 128], [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0],
                  [128, 192, 0], [0, 64, 128]]


@pytest.mark.parametrize('palette', [lambda: voc.PALETTE, voc._make_palette], ids=['PALETTE', 'made again'])
def test_palette_is_the_voc_devkit_colour_map(palette):
    palette = palette()  # made in the test too: PALETTE itself is made once, when voc is imported
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[:21].tolist() == DEVKIT_COLOURS
    assert palette[255].tolist() == [224, 224, 192]  # the void label's colour
    assert len({tuple(c) for c in palette}) == 256


def test_class_names_cover_21_classes_and_extend_for_other_datasets():
    assert voc.class_names()[0] == 'background' and voc.class_names()[15] == 'person'
    assert len(voc.CLASS_NAMES) == voc.NUM_CLASSES == 21
    assert voc.class_names(23)[21:] == ['class_21', 'class_22']


def test_coco_class_counts_get_coco_names():
    assert voc.class_names(81)[:3] == ['background', 'person', 'bicycle'] and voc.class_names(81)[80] == 'toothbrush'
    assert voc.class_names(91)[18] == 'dog' and voc.class_names(91)[12] == 'unused_12'
    assert voc.class_names(91)[90] == 'toothbrush'


LABEL = np.array([[0, 1, 15], [20, 255, 0]], dtype=np.uint8)


@pytest.mark.parametrize('mode', ['palette', 'grayscale', 'rgb'])
def test_labels_decode_to_class_indices_whatever_their_encoding(tmp_path, mode):
    path = str(tmp_path / 'label.png')
    if mode == 'palette':
        voc.save_label(path, LABEL)
        assert Image.open(path).mode == 'P'
    elif mode == 'grayscale':
        Image.fromarray(LABEL, mode='L').save(path)
    else:
        Image.fromarray(voc.colorize(LABEL)).save(path)
    np.testing.assert_array_equal(voc.read_label(path), LABEL)


def integer_label(values, mode):
    """A label image of one of PIL's integer modes holding `values` (32-bit 'I' or 16-bit, in both byte orders)."""
    values = np.asarray(values)
    dtypes = {'I': '<i4', 'I;16': '<u2', 'I;16L': '<u2', 'I;16B': '>u2'}
    return Image.frombytes(mode, values.shape[::-1], values.astype(dtypes[mode]).tobytes())


@pytest.mark.parametrize('mode', ['I', 'I;16', 'I;16L', 'I;16B'])
def test_integer_labels_decode_to_uint8_class_indices_up_to_255(mode):
    decoded = voc.decode_label(integer_label(LABEL, mode), 'label.png')
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, LABEL)
    assert voc.decode_label(integer_label(np.zeros((2, 3)), mode), 'zeros.png').tolist() == [[0, 0, 0]] * 2


@pytest.mark.parametrize('mode, value', [('I', 256), ('I', -1), ('I;16', 256), ('I;16B', 65535)])
def test_integer_labels_outside_0_to_255_are_one_line_naming_the_file(mode, value):
    with pytest.raises(UserError) as err:
        voc.decode_label(integer_label([[0, value, 255]], mode), 'deep.png')
    assert str(err.value) == 'deep.png: label values outside 0..255'


def test_a_16_bit_label_file_with_values_over_255_is_named_by_its_path(tmp_path):
    path = str(tmp_path / 'deep.png')
    integer_label([[0, 300]], 'I;16').save(path)
    with pytest.raises(UserError) as err:
        voc.read_label(path)
    assert str(err.value) == f'{path}: label values outside 0..255'


def test_an_empty_integer_label_decodes_to_an_empty_map():
    assert voc.decode_label(Image.new('I', (0, 0)), 'empty.png').shape == (0, 0)


def test_rgba_labels_drawn_with_the_palette_decode_like_rgb_ones():
    rgba = np.dstack([voc.colorize(LABEL), np.full(LABEL.shape, 255, np.uint8)])
    decoded = voc.decode_label(Image.fromarray(rgba, mode='RGBA'), 'label.png')
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, LABEL)


def test_a_label_of_another_mode_is_one_line_naming_it():
    with pytest.raises(UserError) as err:
        voc.decode_label(Image.new('F', (2, 2)), 'float.tif')
    assert str(err.value) == 'float.tif: unsupported label image mode F'


def test_at_most_five_bad_label_values_are_named():
    label = np.array([[21, 22, 23, 24, 25, 26, 255, 3]], np.uint8)
    assert voc.bad_label_values(label) == [21, 22, 23, 24, 25, 26]
    with pytest.raises(UserError) as err:
        voc.check_label_values(label, 'many.png')
    assert str(err.value) == 'many.png: label values [21, 22, 23, 24, 25] outside 0..20 and 255'


def test_rgb_label_with_foreign_colours_is_rejected(tmp_path):
    path = str(tmp_path / 'label.png')
    Image.fromarray(np.full((2, 2, 3), 7, np.uint8)).save(path)
    with pytest.raises(UserError, match='not VOC palette colours'):
        voc.read_label(path)


def test_label_values_outside_the_classes_and_void_are_named():
    assert voc.bad_label_values(LABEL) == []
    with pytest.raises(UserError, match=r'label.png: label values \[21, 200\] outside 0..20 and 255'):
        voc.check_label_values(np.array([[21, 200, 255]], np.uint8), 'label.png')


@pytest.mark.parametrize('mode', ['L', 'P', 'RGBA'])
def test_images_read_as_rgb_uint8(tmp_path, mode):
    path = str(tmp_path / 'image.png')
    Image.new(mode, (5, 3)).save(path)
    image = voc.read_image(path)
    assert image.shape == (3, 5, 3) and image.dtype == np.uint8


def test_unreadable_and_missing_images_are_user_errors(tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    with pytest.raises(UserError, match='broken.jpg: unreadable image'):
        voc.read_image(str(broken))
    with pytest.raises(UserError, match='gone.jpg: image not found'):
        voc.read_image(str(tmp_path / 'gone.jpg'))


@pytest.mark.parametrize('entry', ['2007_000032', '2007_000032.jpg', '/JPEGImages/2007_000032.jpg',
                                   "b'2007_000032'.png", '  2007_000032.png  ', '2007_000032.jpeg',
                                   '2007_000032.JPG', '2007_000032.npz', '2007_000032.npy', '2007_000032.bmp',
                                   'b"2007_000032".png'])
def test_list_entries_in_every_form_mean_the_same_image(entry):
    assert files.image_id(entry) == '2007_000032'


def test_other_extensions_stay_part_of_the_id():
    assert files.image_id('2007_000032.tif') == '2007_000032.tif'


def test_list_files_use_the_first_token_and_reject_empty_lists(tmp_path):
    listing = tmp_path / 'train_aug.txt'
    listing.write_text('/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png\n\n2007_000039\n')
    assert files.read_id_list(str(listing)) == ['2007_000032', '2007_000039']
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n \n')
    with pytest.raises(UserError, match='empty.txt: list file is empty'):
        files.read_id_list(str(empty))
    with pytest.raises(UserError, match='list file not found'):
        files.read_id_list(str(tmp_path / 'nope.txt'))


def test_atomic_writes_leave_nothing_behind_on_failure(tmp_path):
    target = tmp_path / 'out.png'
    with pytest.raises(RuntimeError):
        with files.atomic_path(str(target)) as tmp:
            Image.new('L', (2, 2)).save(tmp, format='PNG')
            raise RuntimeError('interrupted')
    assert os.listdir(tmp_path) == []
    voc.save_label(str(target), LABEL)
    assert os.listdir(tmp_path) == ['out.png']
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask  # the mode of any file the user makes


def test_json_objects_are_read_and_bad_ones_are_one_line_naming_what_they_are(tmp_path):
    good, bad, array = tmp_path / 'good.json', tmp_path / 'bad.json', tmp_path / 'array.json'
    good.write_text('{"num_classes": 21}')
    bad.write_text('{"num_classes": ')
    array.write_text('[21]')
    assert files.read_json_object(str(good), 'dataset description') == {'num_classes': 21}
    with pytest.raises(UserError, match=r'^.*bad\.json: unreadable dataset description \(Expecting value'):
        files.read_json_object(str(bad), 'dataset description')
    with pytest.raises(UserError, match=r'gone\.json: unreadable dataset description \(\[Errno 2\]'):
        files.read_json_object(str(tmp_path / 'gone.json'), 'dataset description')
    with pytest.raises(UserError) as error:
        files.read_json_object(str(array), 'dataset description')
    assert str(error.value) == f'{array}: not a dataset description (expected a JSON object)'


def test_a_missing_input_folder_is_one_line_naming_it(tmp_path):
    assert files.require_dir(str(tmp_path)) == str(tmp_path)
    with pytest.raises(UserError) as error:
        files.require_dir(str(tmp_path / 'labels'))
    assert str(error.value) == f'{tmp_path / "labels"}: folder not found'
    with pytest.raises(UserError) as error:
        files.require_dir(str(tmp_path / 'labels'), 'label folder')
    assert str(error.value) == f'{tmp_path / "labels"}: label folder not found'


def test_a_file_is_found_under_the_first_extension_that_exists(tmp_path):
    (tmp_path / 'a.png').write_bytes(b'')
    (tmp_path / 'a.jpg').write_bytes(b'')
    assert files.find_file(str(tmp_path), 'a', ['.jpg', '.png']) == str(tmp_path / 'a.jpg')
    assert files.find_file(str(tmp_path), 'a', ['.bmp', '.png']) == str(tmp_path / 'a.png')
    assert files.find_file(str(tmp_path), 'b', ['.jpg', '.png']) is None


def test_pending_ids_are_those_without_output_unless_overwriting(tmp_path):
    (tmp_path / 'b.png').write_bytes(b'')
    def output_for(i):
        return str(tmp_path / f'{i}.png')
    assert files.pending(['a', 'b', 'c'], output_for, overwrite=False) == ['a', 'c']
    assert files.pending(('a', 'b', 'c'), output_for, overwrite=True) == ['a', 'b', 'c']


def test_ids_of_a_folder_are_sorted_and_of_the_asked_extensions(tmp_path):
    for name in ('b.png', 'a.png', 'c.jpg', 'notes.txt'):
        (tmp_path / name).write_bytes(b'')
    assert files.list_ids(str(tmp_path), ['.png']) == ['a', 'b']
    assert files.list_ids(str(tmp_path), ['.png', '.jpg']) == ['a', 'b', 'c']
