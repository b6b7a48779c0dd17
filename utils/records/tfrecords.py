"""Segmentation TFRecords: example encoding, finding a split's files, VOC pair validation and the parallel
sharded writer.

Each record holds the original image file bytes (JPEG or PNG, never re-encoded) and the label as an 8-bit
grayscale PNG of class indices. SBD `SegmentationClassAug` labels already are such PNGs and are stored
byte for byte; VOC palette PNGs are stored as a lossless grayscale PNG of the same indices, because
TensorFlow's PNG decoder expands a palette to colours and would lose the class indices.
"""
import contextlib
import functools
import glob
import io
import os
import re

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from utils.common.errors import UserError, problem_list
from utils.common.files import atomic_path, find_file
from utils.common.parallel import imap_progress
from utils.data.voc import IGNORE_LABEL, IMAGE_EXTENSIONS, LABEL_EXTENSIONS, NUM_CLASSES, bad_label_values, read_label

SPLITS = ('train', 'val')
# Record file name prefixes by data set: voc_train.record (create_tf_record.py), coco_train.record (COCO).
RECORD_PREFIXES = ('voc', 'coco')
FEATURES = {
    'image/height': tf.io.FixedLenFeature((), tf.int64),
    'image/width': tf.io.FixedLenFeature((), tf.int64),
    'image/encoded': tf.io.FixedLenFeature((), tf.string),
    'image/format': tf.io.FixedLenFeature((), tf.string),
    'label/encoded': tf.io.FixedLenFeature((), tf.string),
    'label/format': tf.io.FixedLenFeature((), tf.string),
}
# Upstream DeepLab's build_voc2012_data.py keeps the label under another key, in shards named
# <split>-00000-of-00004.tfrecord; training reads its train_aug (else train) and val shards as they are.
UPSTREAM_LABEL_KEY = 'image/segmentation/class/encoded'
UPSTREAM_SPLITS = {'train': ('train_aug', 'train'), 'val': ('val',)}
# What training and evaluation read: the image and whichever of the two label keys the record has.
READ_FEATURES = {
    'image/encoded': tf.io.FixedLenFeature((), tf.string),
    'label/encoded': tf.io.FixedLenFeature((), tf.string, default_value=''),
    UPSTREAM_LABEL_KEY: tf.io.FixedLenFeature((), tf.string, default_value=''),
}
# The input pipeline's assertion on a label value outside the classes starts with this; training parses it back.
BAD_LABEL_TAG = 'label value outside the classes'
_IMAGE_FORMATS = {'JPEG': b'jpeg', 'PNG': b'png'}
_SHARD = re.compile(r'-(\d{5})-of-(\d{5})$')
_UPSTREAM_SHARD = re.compile(r'-(\d{5})-of-(\d{5})\.tfrecord$')


def record_name(split, prefix='voc'):
    """File name of a split's single record file, as upstream: `voc_train.record` (`coco_train.record`)."""
    return f'{prefix}_{split}.record'


def record_paths(data_dir, split, num_shards=1, prefix='voc'):
    """Output paths of a split: one file, or `voc_train.record-00000-of-0000N` shards."""
    base = os.path.join(data_dir, record_name(split, prefix))
    if num_shards <= 1:
        return [base]
    return [f'{base}-{i:05d}-of-{num_shards:05d}' for i in range(num_shards)]


def existing_records(data_dir, split, prefix='voc'):
    """Every record file of `split` with `prefix` already in `data_dir` (single file and shards), sorted."""
    base = os.path.join(data_dir, record_name(split, prefix))
    shards = [p for p in glob.glob(glob.escape(base) + '-*-of-*') if _SHARD.search(p)]
    return sorted(([base] if os.path.isfile(base) else []) + shards)


def upstream_records(data_dir, split):
    """Shards of upstream build_voc2012_data.py for `split` (train: train_aug, else train), checked complete;
    [] when there are none."""
    for name in UPSTREAM_SPLITS[split]:
        if shards := upstream_shards(data_dir, name):
            return shards
    return []


def upstream_shards(data_dir, name):
    """The `name`-NNNNN-of-NNNNN.tfrecord shards in `data_dir` (upstream's split name), checked complete; [] when
    there are none."""
    shards = sorted(glob.glob(os.path.join(glob.escape(data_dir), f'{glob.escape(name)}-*-of-*.tfrecord')))
    shards = [p for p in shards if _UPSTREAM_SHARD.fullmatch(os.path.basename(p)[len(name):])]
    if shards:
        totals = {int(_UPSTREAM_SHARD.search(p).group(2)) for p in shards}
        if len(totals) != 1 or len(shards) != totals.pop():
            raise UserError(f'{data_dir}: the {name}-NNNNN-of-NNNNN.tfrecord shards are incomplete '
                            f'({len(shards)} files)')
    return shards


def find_records(data_dir, split):
    """The record files of `split` in `data_dir` (VOC or COCO, else upstream DeepLab's shards); a UserError when
    they are missing, of both data sets, or an incomplete shard set (an interrupted conversion)."""
    if not os.path.isdir(data_dir):
        raise UserError(f'{data_dir}: record folder not found')
    found = {prefix: paths for prefix in RECORD_PREFIXES if (paths := existing_records(data_dir, split, prefix))}
    if not found:
        paths = upstream_records(data_dir, split)
        if paths:
            return paths
        names = ' or '.join(record_name(split, prefix) for prefix in RECORD_PREFIXES)
        upstream = ' or '.join(f'{name}-NNNNN-of-NNNNN.tfrecord' for name in UPSTREAM_SPLITS[split])
        raise UserError(f'{data_dir}: no {names} files, single or -NNNNN-of-NNNNN shards, nor upstream {upstream} '
                        'shards (create them with create_tf_record.py or create_coco_tf_record.py)')
    if len(found) > 1:
        raise UserError(f'{data_dir}: holds both {" and ".join(record_name(split, p) for p in found)} files; '
                        'keep one data set per folder')
    prefix, paths = found.popitem()
    shards = [p for p in paths if _SHARD.search(p)]
    if not shards:
        return paths
    totals = {int(_SHARD.search(p).group(2)) for p in shards}
    if len(paths) != len(shards) or len(totals) != 1 or len(shards) != totals.pop():
        raise UserError(f'{data_dir}: {record_name(split, prefix)} files are a mix of runs or an incomplete shard '
                        f'set ({len(paths)} files); finish or redo the conversion (--overwrite)')
    return shards


def label_png_bytes(path):
    """The label bytes to store: the file itself when it is an 8-bit grayscale PNG, else indices as one."""
    with open(path, 'rb') as handle:
        data = handle.read()
    with Image.open(io.BytesIO(data)) as img:
        if img.format == 'PNG' and img.mode == 'L':
            return data
    buffer = io.BytesIO()
    Image.fromarray(read_label(path), mode='L').save(buffer, format='PNG')
    return buffer.getvalue()


def encode_example(image_bytes, image_format, height, width, label_bytes, filename=None):
    """A serialized tf.train.Example with the upstream DeepLab-v3 feature keys (and `image/filename` if given)."""
    def _bytes(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    features = {
        'image/height': _int(height),
        'image/width': _int(width),
        'image/encoded': _bytes(image_bytes),
        'image/format': _bytes(image_format),
        'label/encoded': _bytes(label_bytes),
        'label/format': _bytes(b'png'),
    }
    if filename is not None:
        features['image/filename'] = _bytes(filename.encode('utf-8'))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def decode_example(serialized):
    """The features of a serialized example as a plain dict of Python values (for checks and tests)."""
    feature = tf.train.Example.FromString(serialized).features.feature
    return {key: (feature[key].int64_list.value[0] if spec.dtype == tf.int64 else feature[key].bytes_list.value[0])
            for key, spec in FEATURES.items()}


def find_pairs(ids, image_dir, label_dir):
    """(id, image path, label path) for every id; a missing file keeps its expected name for check_pair to report."""
    def _path(folder, ident, extensions):
        return find_file(folder, ident, extensions) or os.path.join(folder, ident + extensions[0])

    return [(i, _path(image_dir, i, IMAGE_EXTENSIONS), _path(label_dir, i, LABEL_EXTENSIONS)) for i in ids]


def image_info(path):
    """(format, height, width) of a fully decodable JPEG or PNG image, or a problem string."""
    try:
        with Image.open(path) as img:
            img.load()
            fmt, mode, (width, height) = img.format, img.mode, img.size
    except UnidentifiedImageError:
        return f'unreadable image {path} (not an image file)'
    except (OSError, ValueError, SyntaxError) as err:
        return f'unreadable image {path} ({err})'
    if fmt not in _IMAGE_FORMATS:
        return f'{path} is a {fmt} file, not JPEG or PNG'
    if fmt == 'JPEG' and mode not in ('RGB', 'L'):
        return f'{path} is a {mode} JPEG, not RGB or grayscale'
    return _IMAGE_FORMATS[fmt], height, width


def check_pair(pair, num_classes=NUM_CLASSES):
    """(id, problem or None, (format, height, width)) for one pair: existence, decoding, size and values."""
    ident, image_path, label_path = pair
    if not os.path.isfile(image_path):
        return ident, f'image {image_path} not found', None
    if not os.path.isfile(label_path):
        return ident, f'label {label_path} not found', None
    info = image_info(image_path)
    if isinstance(info, str):
        return ident, info, None
    try:
        label = read_label(label_path)
    except UserError as err:
        return ident, str(err), None
    if label.shape != info[1:]:
        return ident, (f'image {image_path} is {info[2]}x{info[1]} but label {label_path} is '
                       f'{label.shape[1]}x{label.shape[0]}'), None
    bad = bad_label_values(label, num_classes)
    if bad:
        return ident, f'label {label_path} has values {bad[:5]} outside 0..{num_classes - 1} and {IGNORE_LABEL}', None
    return ident, None, info


def serialize_pair(item):
    """(index, serialized example) for one checked pair: `item` is (index, pair, (format, height, width))."""
    index, (_, image_path, label_path), (image_format, height, width) = item
    with open(image_path, 'rb') as handle:
        image_bytes = handle.read()
    return index, encode_example(image_bytes, image_format, height, width, label_png_bytes(label_path))


def check_splits(splits, num_workers, num_classes=NUM_CLASSES):
    """Check every pair of every split in parallel; one UserError with the count and every bad pair."""
    pairs = list(dict.fromkeys(pair for split_pairs in splits.values() for pair in split_pairs))
    infos, problems = {}, {}
    check = functools.partial(check_pair, num_classes=num_classes)
    for ident, problem, info in imap_progress(check, pairs, num_workers, desc='checking'):
        if problem:
            problems[ident] = problem
        else:
            infos[ident] = info
    if problems:
        listed = [f'{pair[0]}: {problems[pair[0]]}' for pair in pairs if pair[0] in problems]
        raise UserError(problem_list(f'{len(listed)} of {len(pairs)} image/label pairs are bad, nothing written:',
                                     listed))
    return infos


def _write_split(pairs, infos, paths, num_workers, desc):
    """Serialize pairs in parallel and write them in list order, in contiguous blocks, to the shard paths."""
    bounds = np.linspace(0, len(pairs), len(paths) + 1).astype(int)
    shard_of = np.searchsorted(bounds, np.arange(len(pairs)), side='right') - 1
    items = [(k, pair, infos[pair[0]]) for k, pair in enumerate(pairs)]
    writers = [tf.io.TFRecordWriter(path) for path in paths]
    try:
        waiting, next_index = {}, 0
        for index, example in imap_progress(serialize_pair, items, num_workers, desc=desc):
            waiting[index] = example
            while next_index in waiting:
                writers[shard_of[next_index]].write(waiting.pop(next_index))
                next_index += 1
    finally:
        for writer in writers:
            writer.close()


def write_records(data_dir, splits, num_shards=1, num_workers=None, overwrite=False, num_classes=NUM_CLASSES):
    """Check all pairs of `splits` ({split: [(id, image, label)]}), then write each split's records atomically.

    Returns {split: [record paths]}. Nothing is written when any pair is bad or any output exists
    (unless `overwrite`, which also removes the split's older records, e.g. another shard count).
    """
    for split, pairs in splits.items():
        if num_shards > len(pairs):
            raise UserError(f'--num_shards {num_shards} is more than the {len(pairs)} images of the {split} list')
        old = existing_records(data_dir, split)
        if old and not overwrite:
            raise UserError(f'{old[0]} already exists; pass --overwrite to replace the {split} records')
    infos = check_splits(splits, num_workers, num_classes)
    outputs = {split: record_paths(data_dir, split, num_shards) for split in splits}
    with contextlib.ExitStack() as stack:
        for split, pairs in splits.items():
            temps = [stack.enter_context(atomic_path(path)) for path in outputs[split]]
            _write_split(pairs, infos, temps, num_workers, desc=f'writing {split}')
        stale = [p for split in splits for p in existing_records(data_dir, split) if p not in outputs[split]]
    for path in stale:
        os.remove(path)
    return outputs
