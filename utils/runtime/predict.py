"""Predictions for a list of images from a checkpoint (any variant, test-time augmentation) or a frozen graph.

One TensorFlow session serves the whole list; images of any size are fed one at a time while the next ones
are read in a background thread. The network is the caller's `predict_fn` (the scripts pass
deeplab_model.predict_probabilities).
"""
import tensorflow as tf

from utils.runtime import checkpoints
from utils.runtime.frozen_graph import iter_frozen_predictions
from utils.runtime.image_feed import read_images

tf1 = tf.compat.v1


class CheckpointPredictor:
    """A restored inference graph: image in, label map (and probabilities) out. Holds the session."""

    def __init__(self, ckpt_or_dir, params, predict_fn, scales=(1.0,), flip=False, eval_crop_size=None):
        ckpt = checkpoints.resolve_checkpoint(ckpt_or_dir)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf1.placeholder(tf.uint8, [None, None, 3], name='image')
            probabilities = predict_fn(tf.cast(self.images, tf.float32)[tf.newaxis], params, scales, flip,
                                       eval_crop_size)[0]
            self.probabilities = probabilities
            self.labels = tf.cast(tf.argmax(probabilities, axis=2), tf.uint8)
            saver = checkpoints.restore_saver(ckpt)
            self.session = tf1.Session(graph=self.graph)
            saver.restore(self.session, ckpt)
        self.graph.finalize()

    def __call__(self, image, with_probabilities=False):
        """(label map uint8 [H, W], probabilities float32 [H, W, C] or None) for one RGB image."""
        if with_probabilities:
            labels, probabilities = self.session.run([self.labels, self.probabilities], {self.images: image})
            return labels, probabilities
        return self.session.run(self.labels, {self.images: image}), None

    def close(self):
        self.session.close()


def iter_outputs(image_dir, ids, predict_fn, model_dir=None, frozen_graph=None, params=None, scales=(1.0,),
                 flip=False, eval_crop_size=None, with_probabilities=False):
    """Yield (image_id, image, label map, probabilities or None) for every id, from `frozen_graph` when given (no
    probabilities there) or else from the checkpoint in `model_dir`, with `predict_fn` (the network and its
    test-time augmentation: deeplab_model.predict_probabilities) under `params`."""
    if frozen_graph:
        for image_id, image, labels in iter_frozen_predictions(frozen_graph, image_dir, ids):
            yield image_id, image, labels, None
        return
    predictor = CheckpointPredictor(model_dir, params, predict_fn, scales, flip, eval_crop_size)
    try:
        for image_id, image in read_images(image_dir, ids):
            labels, probabilities = predictor(image, with_probabilities)
            yield image_id, image, labels, probabilities
    finally:
        predictor.close()


def iter_predictions(image_dir, ids, predict_fn, **source):
    """Yield (image_id, label map uint8 [H, W]) for every id (`source`: iter_outputs's keywords)."""
    for image_id, _, labels, _ in iter_outputs(image_dir, ids, predict_fn, **source):
        yield image_id, labels
