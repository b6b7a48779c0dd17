"""preprocessing.py: normalisation, augmentation invariants, alignment and crop offsets, the label check, batch
padding, eval path, determinism."""
import os

import numpy as np
import pytest
import tensorflow as tf

import create_tf_record
from preprocessing import augment, check_labels, fill_outside, input_fn, normalize, pad_value
from utils.common.errors import UserError, run_cli
from utils.common.files import read_id_list
from utils.data.demo_data import make_demo_voc
from utils.data.voc import IGNORE_LABEL, MEAN_RGB, NUM_CLASSES, read_image, read_label

CROP = (48, 48)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    """Demo data (palette labels) and its records: 9 train and 3 val images."""
    demo = make_demo_voc(str(tmp_path_factory.mktemp('voc')), num_train=9, num_val=3, num_test=0)
    out = str(tmp_path_factory.mktemp('records'))
    argv = ['--data_dir', out, '--image_data_dir', demo['image_dir'], '--label_data_dir', demo['label_dir'],
            '--num_workers', '1']
    assert run_cli(create_tf_record.main, argv) == 0
    return demo, out


def batches(dataset):
    """All (images, labels) of a dataset as numpy arrays."""
    return [(features['image'].numpy(), labels.numpy()) for features, labels in dataset]


@pytest.mark.parametrize('normalization', ['inception', 'mean_subtraction'])
def test_padding_value_normalises_to_exactly_zero(normalization):
    pad = tf.constant([[pad_value(normalization)]], tf.float32)
    assert np.all(normalize(pad, normalization).numpy() == 0)


def test_normalisations_match_the_checkpoints():
    pixels = tf.constant([[[0.0, 127.5, 255.0]]])
    np.testing.assert_allclose(normalize(pixels, 'inception').numpy(), [[[-1, 0, 1]]])
    np.testing.assert_allclose(normalize(pixels, 'mean_subtraction').numpy(),
                               [[[-MEAN_RGB[0], 127.5 - MEAN_RGB[1], 255 - MEAN_RGB[2]]]], rtol=1e-6)
    with pytest.raises(ValueError, match='inception'):
        normalize(pixels, 'vgg')


def label_coded_pair(height=48, width=72, seed=0):
    """Blocky labels (12x12 blocks of classes 0..20) and an image whose red channel is 10 * label."""
    blocks = np.random.default_rng(seed).integers(0, NUM_CLASSES, size=(height // 12, width // 12))
    label = np.kron(blocks, np.ones((12, 12), dtype=np.int64)).astype(np.uint8)
    image = np.stack([label * 10.0, np.full(label.shape, 50.0), np.full(label.shape, 200.0)], -1)
    return image.astype(np.uint8), label[..., None]


@pytest.mark.parametrize('seed', range(6))
def test_augmentation_keeps_label_values_and_image_label_alignment(seed):
    image, label = label_coded_pair(seed=seed)
    pad = (1.0, 2.0, 3.0)
    out_image, out_label = augment(image, label, CROP, pad=pad, seed=seed)
    out_image, out_label = out_image.numpy(), out_label.numpy()[..., 0]
    assert out_image.shape == CROP + (3,) and out_label.shape == CROP
    assert set(np.unique(out_label)) <= set(range(NUM_CLASSES)) | {IGNORE_LABEL}
    padded = out_label == IGNORE_LABEL
    np.testing.assert_array_equal(out_image[padded], np.broadcast_to(pad, out_image[padded].shape))
    # Away from block and crop borders (5x5 neighbourhood of one class) bilinear and nearest resizing agree.
    window = np.lib.stride_tricks.sliding_window_view(np.pad(out_label, 2, constant_values=-1), (5, 5))
    interior = (window == out_label[..., None, None]).all(axis=(-1, -2)) & ~padded
    assert interior.sum() > 50
    np.testing.assert_allclose(out_image[..., 0][interior], 10.0 * out_label[interior], atol=0.5)


def test_augmentation_varies_scale_crop_and_flip_with_the_seed():
    image, label = label_coded_pair()
    labels = [augment(image, label, CROP, seed=s)[1].numpy() for s in range(8)]
    padded_fractions = {float(np.mean(padded == IGNORE_LABEL)) for padded in labels}
    assert len(padded_fractions) > 4
    np.testing.assert_array_equal(augment(image, label, CROP, seed=3)[1], labels[3])


def test_flip_moves_image_and_label_together():
    image, label = label_coded_pair()
    outs = [augment(image, label, (48, 72), min_scale=1.0, max_scale=1.0, seed=s) for s in range(10)]
    flipped = [np.array_equal(out.numpy(), label[:, ::-1]) for _, out in outs]
    assert any(flipped) and not all(flipped)
    for (out_image, out_label), was_flipped in zip(outs, flipped):
        source = image[:, ::-1] if was_flipped else image
        np.testing.assert_array_equal(out_image.numpy(), source)
        np.testing.assert_array_equal(out_label.numpy()[..., 0], (label[:, ::-1] if was_flipped else label)[..., 0])


def test_random_crops_reach_every_offset():
    """At scale 1 a crop of 48x48 from a 50x49 image starts at any of rows 0..2 and columns 0..1, the last ones
    included."""
    rows, cols = np.meshgrid(np.arange(50), np.arange(49), indexing='ij')
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    label = np.zeros((50, 49, 1), np.uint8)
    offsets = set()
    for seed in range(30):
        out_image = augment(image, label, CROP, min_scale=1.0, max_scale=1.0, seed=seed)[0].numpy()
        offsets.add((int(out_image[..., 0].min()), int(out_image[..., 1].min())))  # a flip keeps the minimum
    assert {row for row, _ in offsets} == {0, 1, 2} and {col for _, col in offsets} == {0, 1}


def test_a_label_from_num_classes_up_stops_the_pipeline_and_void_does_not():
    """check_labels with 5 classes stops at the value 5, naming the record, the position and the value (in a graph,
    as the input pipeline runs it)."""
    label = tf.constant([[[0], [4]], [[255], [5]]], tf.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r'\[a\.record\] \[7\] \[5\]'):
        tf.function(check_labels)(label, 5, 'a.record', 7)
    np.testing.assert_array_equal(tf.function(check_labels)(label, 6, 'a.record', 7).numpy(), label.numpy())


def test_fill_outside_keeps_exactly_each_images_own_rows_and_columns():
    """A batch of two images of 2x3 and 4x5 in 4x5 slots: outside its own size each slot is the padding value."""
    images = np.full((2, 4, 5, 3), 9.0, np.float32)
    filled = fill_outside(tf.constant(images), tf.constant([[2, 3], [4, 5]]), 'inception').numpy()
    expected = images.copy()
    expected[0, 2:] = expected[0, :, 3:] = 127.5
    np.testing.assert_array_equal(filled, expected)


def test_training_batches_have_fixed_shapes_and_drop_the_partial_batch(records):
    _, data_dir = records
    out = batches(input_fn(data_dir, True, batch_size=4, crop_size=CROP, seed=1))
    assert len(out) == 2
    for images, labels in out:
        assert images.shape == (4,) + CROP + (3,) and images.dtype == np.float32
        assert labels.shape == (4,) + CROP + (1,) and labels.dtype == np.int32
        assert images.min() >= 0 and images.max() <= 255 and images.max() > 1
    dataset = input_fn(data_dir, True, batch_size=4, crop_size=CROP, seed=1)
    assert dataset.element_spec[0]['image'].shape.as_list() == [4, CROP[0], CROP[1], 3]


def test_same_seed_gives_the_same_batches(records):
    _, data_dir = records
    run = [batches(input_fn(data_dir, True, 3, num_epochs=2, crop_size=CROP, seed=s)) for s in (5, 5, 6)]
    for (a_img, a_lab), (b_img, b_lab) in zip(run[0], run[1]):
        np.testing.assert_array_equal(a_img, b_img)
        np.testing.assert_array_equal(a_lab, b_lab)
    assert not all(np.array_equal(a, c) for (a, _), (c, _) in zip(run[0], run[2]))


def test_sequential_pipeline_gives_the_same_batches(records):
    _, data_dir = records
    fast = batches(input_fn(data_dir, True, 3, crop_size=CROP, seed=2))
    slow = batches(input_fn(data_dir, True, 3, crop_size=CROP, seed=2, num_parallel_calls=None, prefetch=None))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_eval_path_gives_whole_unaugmented_images_in_list_order(records):
    demo, data_dir = records
    out = batches(input_fn(data_dir, False, batch_size=1))
    ids = read_id_list(demo['val_list'])
    assert len(out) == len(ids)
    for ident, (image, label) in zip(ids, out):
        np.testing.assert_array_equal(image[0], read_image(os.path.join(demo['image_dir'], ident + '.jpg')))
        np.testing.assert_array_equal(label[0, ..., 0], read_label(os.path.join(demo['label_dir'], ident + '.png')))


def test_input_fn_names_a_missing_record_folder(tmp_path):
    with pytest.raises(UserError, match='not found'):
        input_fn(str(tmp_path / 'missing'), True, 1)
