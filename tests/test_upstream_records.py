"""Records made by upstream DeepLab's build_voc2012_data.py (<split>-NNNNN-of-NNNNN.tfrecord shards, the label
under image/segmentation/class/encoded) are read for training and evaluation as they are."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import preprocessing
from utils.common.errors import UserError
from utils.data.demo_data import make_sample
from utils.records.tfrecords import find_records


def upstream_example(image, label, name):
    """An example with exactly the keys and value kinds of upstream build_data.image_seg_to_tfexample."""
    def encoded(array, fmt):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        return buffer.getvalue()

    def _bytes(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    height, width = label.shape
    return tf.train.Example(features=tf.train.Features(feature={
        'image/encoded': _bytes(encoded(image, 'JPEG')), 'image/filename': _bytes(name.encode()),
        'image/format': _bytes(b'jpeg'), 'image/height': _int(height), 'image/width': _int(width),
        'image/channels': _int(3), 'image/segmentation/class/encoded': _bytes(encoded(label, 'PNG')),
        'image/segmentation/class/format': _bytes(b'png')})).SerializeToString()


@pytest.fixture(scope='module')
def upstream_dir(tmp_path_factory):
    """train_aug (2 shards), train (1 shard) and val (2 shards) in upstream's naming; returns (folder, val labels)."""
    folder = tmp_path_factory.mktemp('tfrecord')
    val_labels = []
    for split, shards, per_shard in (('train_aug', 2, 2), ('train', 1, 1), ('val', 2, 1)):
        for shard in range(shards):
            path = folder / f'{split}-{shard:05d}-of-{shards:05d}.tfrecord'
            with tf.io.TFRecordWriter(str(path)) as writer:
                for k in range(per_shard):
                    image, label = make_sample(np.random.default_rng([shard, k, len(split)]))
                    writer.write(upstream_example(image, label, f'{split}_{shard}_{k}'))
                    if split == 'val':
                        val_labels.append(label)
    return str(folder), val_labels


def test_train_aug_shards_are_found_before_train_ones(upstream_dir):
    folder, _ = upstream_dir
    assert [p.rsplit('/', 1)[1] for p in find_records(folder, 'train')] == [
        'train_aug-00000-of-00002.tfrecord', 'train_aug-00001-of-00002.tfrecord']
    assert len(find_records(folder, 'val')) == 2


def test_an_incomplete_upstream_shard_set_is_an_error(tmp_path):
    (tmp_path / 'val-00000-of-00004.tfrecord').write_bytes(b'')
    with pytest.raises(UserError, match='shards are incomplete'):
        find_records(str(tmp_path), 'val')


def test_evaluation_reads_the_upstream_labels_exactly(upstream_dir):
    folder, val_labels = upstream_dir
    batches = list(preprocessing.input_fn(folder, False, 1).as_numpy_iterator())
    assert len(batches) == 2
    for (features, label), expected in zip(batches, val_labels):
        np.testing.assert_array_equal(label[0, ..., 0], expected)
        assert features['image'].shape[1:3] == expected.shape


def test_training_batches_come_from_upstream_records(upstream_dir):
    folder, _ = upstream_dir
    features, labels = next(preprocessing.input_fn(folder, True, 2, crop_size=(33, 33), seed=0).as_numpy_iterator())
    assert features['image'].shape == (2, 33, 33, 3) and labels.shape == (2, 33, 33, 1)
    assert set(np.unique(labels)) <= {0, 1, 6, 8, 15, 20, 255}
