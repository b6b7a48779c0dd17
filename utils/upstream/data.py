"""Upstream DeepLab's --dataset_dir/--*_split as this suite reads data: a split's shards, or its files unpacked."""
import os

from utils.common.errors import UserError
from utils.data.voc import IGNORE_LABEL, NUM_CLASSES
from utils.records.tfrecords import UPSTREAM_LABEL_KEY, existing_records, record_name, upstream_shards

# Upstream's data sets this suite can serve: name -> (classes, void label).
DATASETS = {'pascal_voc_seg': (NUM_CLASSES, IGNORE_LABEL)}
_EXTENSIONS = {b'jpeg': '.jpg', b'jpg': '.jpg', b'png': '.png'}


def check_dataset(name):
    """The class count of upstream data set `name`; a UserError for one this suite cannot serve."""
    if name not in DATASETS:
        raise UserError(f'--dataset={name}: only {", ".join(DATASETS)} (21 classes, void 255) is served here')
    return DATASETS[name][0]


def split_shards(dataset_dir, split):
    """The `split`-NNNNN-of-NNNNN.tfrecord shards of --dataset_dir (upstream's), else its voc_`split`.record files
    (create_tf_record.py's), or a UserError naming what is missing."""
    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise UserError(f'--dataset_dir={dataset_dir}: folder of TFRecords not found')
    shards = upstream_shards(dataset_dir, split) or existing_records(dataset_dir, split)
    if not shards:
        raise UserError(f'--dataset_dir={dataset_dir}: no {split}-NNNNN-of-NNNNN.tfrecord shards nor '
                        f'{record_name(split)} files for split {split}')
    return shards


def link_as_training_split(dataset_dir, split, folder):
    """Link the shards of `split` into `folder` under the train-* names train.py reads, so the split is exact."""
    for index, shard in enumerate(shards := split_shards(dataset_dir, split)):
        os.symlink(os.path.abspath(shard), os.path.join(folder, f'train-{index:05d}-of-{len(shards):05d}.tfrecord'))
    return folder


def _record_name(example, index):
    """The record's image name (upstream's image/filename, without folders), else its position."""
    name = example.features.feature['image/filename'].bytes_list.value
    return os.path.basename(name[0].decode()) if name and name[0] else f'{index:06d}'


def unpack_split(dataset_dir, split, folder):
    """Write the split's images and labels as files under `folder` for evaluate.py and inference.py; returns
    (image folder, label folder, id list file, ids in record order)."""
    import tensorflow as tf  # only the scripts that unpack need it

    image_dir, label_dir = os.path.join(folder, 'images'), os.path.join(folder, 'labels')
    os.makedirs(image_dir)
    os.makedirs(label_dir)
    ids = []
    for serialized in tf.data.TFRecordDataset(split_shards(dataset_dir, split)).as_numpy_iterator():
        example = tf.train.Example.FromString(serialized)
        features = example.features.feature
        name = _record_name(example, len(ids))
        if name in ids:
            raise UserError(f'--dataset_dir={dataset_dir}: image name {name} occurs twice in split {split}')
        image_format = features['image/format'].bytes_list.value
        extension = _EXTENSIONS.get(image_format[0].lower() if image_format else b'jpeg', '.jpg')
        with open(os.path.join(image_dir, name + extension), 'wb') as handle:
            handle.write(features['image/encoded'].bytes_list.value[0])
        label = features[UPSTREAM_LABEL_KEY].bytes_list.value or features['label/encoded'].bytes_list.value
        if label:
            with open(os.path.join(label_dir, name + '.png'), 'wb') as handle:
                handle.write(label[0])
        ids.append(name)
    list_path = os.path.join(folder, f'{split}.txt')
    with open(list_path, 'w', encoding='utf-8') as handle:
        handle.write(''.join(f'{i}\n' for i in ids))
    return image_dir, label_dir, list_path, ids
