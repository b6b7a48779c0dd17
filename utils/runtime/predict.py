"""Predictions for a list of images from a checkpoint (any variant, test-time augmentation) or a frozen graph.

One TensorFlow session serves the whole list. Consecutive images of the same padded shape (every image up to
the eval crop pads to the crop) run together, up to `batch_size` per session run; images are read ahead in one
background thread and the session runs a batch ahead in another, so the caller's writing or scoring overlaps the
network. The network is the caller's `predict_fn` (the scripts pass deeplab_model.predict_probabilities).
"""
import contextlib

import numpy as np
import tensorflow as tf

from utils.runtime import checkpoints
from utils.runtime.frozen_graph import iter_frozen_predictions
from utils.runtime.image_feed import read_ahead, read_images

tf1 = tf.compat.v1
BATCHES_AHEAD = 1  # batches the session computes while the caller handles the last one


class CheckpointPredictor:
    """A restored inference graph: a batch of images in, label maps (and probabilities) out. Holds the session
    over the graph frozen with the checkpoint's weights (checkpoints.freeze), so weights are prepared once."""

    def __init__(self, ckpt_or_dir, params, predict_fn, scales=(1.0,), flip=False, eval_crop_size=None):
        ckpt = checkpoints.resolve_checkpoint(ckpt_or_dir)
        graph = tf.Graph()
        with graph.as_default():
            images = tf1.placeholder(tf.uint8, [None, None, None, 3], name='images')
            sizes = tf1.placeholder(tf.int32, [None, 2], name='sizes')
            probabilities = tf.identity(predict_fn(tf.cast(images, tf.float32), params, scales, flip,
                                                   eval_crop_size, sizes), name='probabilities')
            tf.cast(tf.argmax(probabilities, axis=3), tf.uint8, name='labels')
            saver = checkpoints.restore_saver(ckpt)
            with tf1.Session(graph=graph) as session:
                saver.restore(session, ckpt)
                frozen = checkpoints.freeze(session, graph, ['labels', 'probabilities'])
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf1.import_graph_def(frozen, name='')
        self.images, self.sizes, self.labels, self.probabilities = (
            self.graph.get_tensor_by_name(name + ':0') for name in ('images', 'sizes', 'labels', 'probabilities'))
        self.graph.finalize()
        self.session = tf1.Session(graph=self.graph)

    def predict_batch(self, images, with_probabilities=False):
        """[(label map uint8 [H, W], probabilities float32 [H, W, C] or None)] for RGB images of any sizes, run
        as one batch (each padded at the bottom/right to the largest, which predict_fn fills as padding)."""
        sizes = np.array([image.shape[:2] for image in images], np.int32)
        batch = np.zeros((len(images), *sizes.max(axis=0), 3), np.uint8)
        for slot, image in zip(batch, images):
            slot[:image.shape[0], :image.shape[1]] = image
        fetches = [self.labels, self.probabilities] if with_probabilities else [self.labels]
        outputs = self.session.run(fetches, {self.images: batch, self.sizes: sizes})
        labels = [np.ascontiguousarray(outputs[0][n, :h, :w]) for n, (h, w) in enumerate(sizes)]
        if not with_probabilities:
            return [(label, None) for label in labels]
        return [(label, np.ascontiguousarray(outputs[1][n, :h, :w])) for n, (label, (h, w))
                in enumerate(zip(labels, sizes))]

    def __call__(self, image, with_probabilities=False):
        """(label map uint8 [H, W], probabilities float32 [H, W, C] or None) for one RGB image."""
        return self.predict_batch([image], with_probabilities)[0]

    def close(self):
        self.session.close()


def padded_shape(image, eval_crop_size):
    """The (height, width) the network sees for `image`: each side padded up to `eval_crop_size` when given."""
    height, width = image.shape[:2]
    if not eval_crop_size:
        return height, width
    return max(height, eval_crop_size[0]), max(width, eval_crop_size[1])


def same_shape_batches(items, shape_of, batch_size):
    """Lists of up to `batch_size` consecutive items with equal shape_of(item), in order."""
    batch = []
    for item in items:
        if batch and (len(batch) == batch_size or shape_of(item) != shape_of(batch[0])):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def iter_outputs(image_dir, ids, predict_fn, model_dir=None, frozen_graph=None, params=None, scales=(1.0,),
                 flip=False, eval_crop_size=None, with_probabilities=False, batch_size=1):
    """Yield (image_id, image, label map, probabilities or None) for every id, from `frozen_graph` when given (one
    image per run, no probabilities) or else from the checkpoint in `model_dir`, with `predict_fn` (the network and
    its test-time augmentation: deeplab_model.predict_probabilities) under `params`, `batch_size` images per run."""
    if frozen_graph:
        for image_id, image, labels in iter_frozen_predictions(frozen_graph, image_dir, ids):
            yield image_id, image, labels, None
        return
    predictor = CheckpointPredictor(model_dir, params, predict_fn, scales, flip, eval_crop_size)
    batches = same_shape_batches(read_images(image_dir, ids), lambda item: padded_shape(item[1], eval_crop_size),
                                 batch_size)

    def run(batch):
        return predictor.predict_batch([image for _, image in batch], with_probabilities)

    try:
        with contextlib.closing(batches), contextlib.closing(read_ahead(run, batches, BATCHES_AHEAD)) as results:
            for batch, outputs in results:
                for (image_id, image), (labels, probabilities) in zip(batch, outputs):
                    yield image_id, image, labels, probabilities
    finally:
        predictor.close()


def iter_predictions(image_dir, ids, predict_fn, **source):
    """Yield (image_id, label map uint8 [H, W]) for every id (`source`: iter_outputs's keywords)."""
    for image_id, _, labels, _ in iter_outputs(image_dir, ids, predict_fn, **source):
        yield image_id, labels
