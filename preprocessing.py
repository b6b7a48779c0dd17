"""The tf.data input pipeline: read the TFRecords, decode, augment (scale, pad, crop, flip), batch.

The pipeline hands over raw float32 images (0..255); the model applies `normalize` inside its graph, so
the same checkpoint serves records, files and frozen-graph inputs alike.
"""
import numbers
import secrets

import tensorflow as tf

from utils.common.errors import UserError
from utils.data.voc import IGNORE_LABEL, MEAN_RGB, NUM_CLASSES
from utils.records.tfrecords import BAD_LABEL_TAG, READ_FEATURES, UPSTREAM_LABEL_KEY, find_records
from utils.runtime.model_config import NORMALIZATIONS

DEFAULT_SHUFFLE_BUFFER = 2048


def parse_record(serialized):
    """(image uint8 [H, W, 3], label uint8 [H, W, 1]) from one serialized example (JPEG or PNG image), made by
    create_tf_record.py (`label/encoded`) or by upstream DeepLab's build_voc2012_data.py
    (`image/segmentation/class/encoded`).

    JPEGs are decoded with the accurate integer DCT, which gives exactly the pixels Pillow (and so
    utils.data.voc.read_image in evaluation and inference) gives; TensorFlow's default differs by a few levels.
    """
    features = tf.io.parse_single_example(serialized, READ_FEATURES)
    encoded = features['image/encoded']
    image = tf.cond(tf.io.is_jpeg(encoded),
                    lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method='INTEGER_ACCURATE'),
                    lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False))
    ours = features['label/encoded']
    label = tf.io.decode_png(tf.where(tf.strings.length(ours) > 0, ours, features[UPSTREAM_LABEL_KEY]), channels=1)
    image.set_shape([None, None, 3])
    label.set_shape([None, None, 1])
    return image, label


def check_labels(label, num_classes, path, index):
    """`label` once it is known to hold only classes and the void 255, else an assertion naming the record file,
    the example's position in it and the first bad value."""
    bad = tf.logical_and(label >= num_classes, tf.not_equal(label, IGNORE_LABEL))
    assertion = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [
        BAD_LABEL_TAG, path, index, tf.cast(tf.boolean_mask(label, bad)[:1], tf.int64)])
    with tf.control_dependencies([assertion]):
        return tf.identity(label)


def in_shard(position, num_shards, shard):
    """Whether the example at `position` in its record file belongs to input pipeline `shard` of `num_shards`.
    By position in the file, so the shards are disjoint whatever order each worker shuffles the files in."""
    return tf.equal(position % num_shards, shard)


def _records_with_positions(files, cycle_length, num_parallel_calls, deterministic):
    """(record file, position in that file, serialized example) from interleaved record files."""
    def _one_file(path):
        return tf.data.TFRecordDataset(path).enumerate().map(lambda index, serialized: (path, index, serialized))

    return files.interleave(_one_file, cycle_length=cycle_length, num_parallel_calls=num_parallel_calls,
                            deterministic=deterministic)


def _check_normalization(normalization):
    """Reject an unknown normalization name early, with the accepted ones."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f'unknown input normalization {normalization!r}; use one of {NORMALIZATIONS}')


def pad_value(normalization):
    """Per-channel RGB fill for padding, chosen so padded pixels normalise to exactly 0."""
    _check_normalization(normalization)
    return [127.5] * 3 if normalization == 'inception' else list(MEAN_RGB)


def pad_to_at_least(images, size, normalization):
    """Pad raw images [N, H, W, 3] at the bottom/right up to `size` (height, width) with the value that
    normalises to 0; sides already as large stay as they are."""
    fill = tf.constant(pad_value(normalization), tf.float32)
    shape = tf.shape(images)
    extra = tf.maximum(tf.constant(size, tf.int32) - shape[1:3], 0)
    return tf.pad(images - fill, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]]) + fill


def fill_outside(images, sizes, normalization):
    """Raw images [N, H, W, 3] whose n-th picture covers only the top-left `sizes[n]` (height, width): the rest
    set to the value that normalises to 0, as `pad_to_at_least` pads, so each image of a batch of different sizes
    meets the network exactly as it would alone."""
    fill = tf.constant(pad_value(normalization), tf.float32)
    shape = tf.shape(images)
    rows = tf.range(shape[1])[tf.newaxis, :, tf.newaxis] < sizes[:, 0, tf.newaxis, tf.newaxis]
    cols = tf.range(shape[2])[tf.newaxis, tf.newaxis, :] < sizes[:, 1, tf.newaxis, tf.newaxis]
    return tf.where(tf.logical_and(rows, cols)[..., tf.newaxis], images, fill)


def normalize(images, normalization):
    """float32 network input from raw 0..255 images: x/127.5 - 1 ('inception') or x - MEAN_RGB."""
    _check_normalization(normalization)
    images = tf.cast(images, tf.float32)
    if normalization == 'inception':
        return images / 127.5 - 1.0
    return images - tf.constant(MEAN_RGB, tf.float32)


def _stateless_seed(seed):
    """A shape-[2] stateless seed: from a tensor or int as given, or drawn at random per call when None."""
    if seed is None:
        return tf.random.uniform([2], maxval=2 ** 31 - 1, dtype=tf.int64)
    if isinstance(seed, numbers.Integral):
        return tf.constant([seed, 0], tf.int64)
    return tf.cast(seed, tf.int64)


def augment(image, label, crop_size, min_scale=0.5, max_scale=2.0, pad=None, seed=None):
    """Random scale, pad to the crop size, random crop and random left-right flip of an image/label pair.

    The image is resized bilinearly and padded with `pad` (default: the Inception mid-grey), the label
    with nearest neighbour and 255, and both take the same crop window and flip, so they stay aligned.
    `seed` is an int, a shape-[2] stateless seed tensor (as input_fn passes per element), or None.
    Returns (image float32 [crop_h, crop_w, 3], label int32 [crop_h, crop_w, 1]).
    """
    crop_h, crop_w = crop_size
    pad = tf.constant(pad_value('inception') if pad is None else pad, tf.float32)
    scale_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(_stateless_seed(seed), 3))
    image = tf.cast(image, tf.float32)
    label = tf.cast(label, tf.int32)

    scale = tf.random.stateless_uniform([], scale_seed, min_scale, max_scale)
    size = tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * scale), tf.int32)
    size = tf.maximum(size, 1)
    image = tf.image.resize(image, size, method='bilinear')
    label = tf.image.resize(label, size, method='nearest')

    # Cropping first and then padding the bottom/right gives the same window as padding the whole
    # scaled image to the crop size and cropping it, with much less copying.
    room = tf.maximum(size, [crop_h, crop_w]) - [crop_h, crop_w] + 1
    offset = tf.cast(tf.random.stateless_uniform([2], crop_seed) * tf.cast(room, tf.float32), tf.int32)
    image = image[offset[0]:offset[0] + crop_h, offset[1]:offset[1] + crop_w]
    label = label[offset[0]:offset[0] + crop_h, offset[1]:offset[1] + crop_w]
    extra = [[0, crop_h - tf.shape(label)[0]], [0, crop_w - tf.shape(label)[1]], [0, 0]]
    outside = tf.pad(tf.zeros_like(label, tf.float32), extra, constant_values=1.0)
    image = tf.pad(image, extra) + outside * pad
    label = tf.pad(label - IGNORE_LABEL, extra) + IGNORE_LABEL

    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    image, label = tf.cond(flip, lambda: (tf.reverse(image, [1]), tf.reverse(label, [1])), lambda: (image, label))
    image.set_shape([crop_h, crop_w, 3])
    label.set_shape([crop_h, crop_w, 1])
    return image, label


def input_fn(data_dir, is_training, batch_size, num_epochs=1, crop_size=(513, 513), normalization='inception',
             min_scale=0.5, max_scale=2.0, seed=None, num_parallel_calls=tf.data.AUTOTUNE,
             shuffle_buffer=DEFAULT_SHUFFLE_BUFFER, prefetch=tf.data.AUTOTUNE, num_classes=NUM_CLASSES,
             input_context=None):
    """A tf.data.Dataset of ({'image': float32 [N, H, W, 3] raw 0..255}, labels int32 [N, H, W, 1]).

    Training reads voc_train records: shuffle, repeat(num_epochs), parallel parse + augment, batches of
    exactly `batch_size` (the last partial batch is dropped), prefetch. Given a seed, the batches are the
    same on every run: each element's augmentation uses a stateless seed made of `seed` and its position.
    Evaluation (is_training=False) reads voc_val records in order, whole images, no augmentation and keeps
    every image; a batch_size above 1 then needs all images to share a size (use 1 for VOC).
    `num_parallel_calls=None` and `prefetch=None` give the plain sequential pipeline (for benchmarks).
    `num_epochs=None` repeats forever. A label value outside 0..num_classes-1 and 255 stops the pipeline
    with an assertion naming its record (see `check_labels`).
    Under tf.distribute (`input_context`, given by the Estimator), `batch_size` is the global batch: each
    replica draws batches of its share, and training input pipeline i of n reads only the examples at
    positions i, i + n, ... of every record file (see `in_shard`), so workers never read the same example.
    """
    if batch_size < 1:
        raise UserError(f'batch size must be at least 1, not {batch_size}')
    files = find_records(data_dir, 'train' if is_training else 'val')
    base_seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)
    sequential = num_parallel_calls is None
    deterministic = None if sequential else True
    if is_training:
        files = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=base_seed)
        dataset = _records_with_positions(files, 1 if sequential else None, num_parallel_calls, deterministic)
        pipelines, pipeline = 1, 0
        if input_context is not None:
            pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
            batch_size = input_context.get_per_replica_batch_size(batch_size)
        if pipelines > 1:
            dataset = dataset.filter(lambda path, position, serialized: in_shard(position, pipelines, pipeline))
        dataset = dataset.shuffle(shuffle_buffer, seed=base_seed).repeat(num_epochs).enumerate()

        def _train_example(index, record):
            path, position, serialized = record
            image, label = parse_record(serialized)
            label = check_labels(label, num_classes, path, position)
            # distinct per-element seeds across pipelines; one pipeline keeps the single-device seeds
            element = index * pipelines + pipeline
            image, label = augment(image, label, crop_size, min_scale, max_scale, pad_value(normalization),
                                   seed=tf.stack([tf.constant(base_seed, tf.int64), element]))
            return {'image': image}, label

        dataset = dataset.map(_train_example, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
        dataset = dataset.batch(batch_size, drop_remainder=True)
    else:
        def _eval_example(path, position, serialized):
            image, label = parse_record(serialized)
            label = check_labels(label, num_classes, path, position)
            return {'image': tf.cast(image, tf.float32)}, tf.cast(label, tf.int32)

        dataset = _records_with_positions(tf.data.Dataset.from_tensor_slices(files), 1, None, None)
        dataset = dataset.repeat(num_epochs)
        dataset = dataset.map(_eval_example, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
        dataset = dataset.batch(batch_size)
    if prefetch:
        dataset = dataset.prefetch(prefetch)
    return dataset
