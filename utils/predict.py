"""Predictions for a list of images from a checkpoint (any variant, test-time augmentation) or a frozen graph.

One TensorFlow session serves the whole list; images of any size are fed one at a time while the next ones
are read in a background thread.
"""
import concurrent.futures
import os

import tensorflow as tf

import deeplab_model
from utils import checkpoints
from utils.errors import UserError
from utils.files import find_file
from utils.flags import eval_crop_size_of, model_params
from utils.voc import IMAGE_EXTENSIONS, read_image

tf1 = tf.compat.v1
READ_AHEAD = 4


def image_path(image_dir, image_id):
    """The image file of `image_id` in `image_dir` (.jpg, .png, ...), or a UserError naming what is missing."""
    path = find_file(image_dir, image_id, IMAGE_EXTENSIONS)
    if path is None:
        raise UserError(f'{os.path.join(image_dir, image_id)}.jpg: image not found')
    return path


def read_ahead(load, items, depth=READ_AHEAD):
    """Yield (item, load(item)) in order while up to `depth` later items load in a background thread."""
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        futures = [pool.submit(load, item) for item in items[:depth]]
        for index, item in enumerate(items):
            result = futures[index].result()
            if index + depth < len(items):
                futures.append(pool.submit(load, items[index + depth]))
            yield item, result


class CheckpointPredictor:
    """A restored inference graph: image in, label map (and probabilities) out. Holds the session."""

    def __init__(self, ckpt_or_dir, params, scales=(1.0,), flip=False, eval_crop_size=None):
        ckpt = checkpoints.resolve_checkpoint(ckpt_or_dir)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf1.placeholder(tf.uint8, [None, None, 3], name='image')
            probabilities = deeplab_model.predict_probabilities(
                tf.cast(self.images, tf.float32)[tf.newaxis], params, scales, flip, eval_crop_size)[0]
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


def iter_outputs(args, image_dir, ids, with_probabilities=False):
    """Yield (image_id, image, label map, probabilities or None) for every id, from `args.frozen_graph` when
    given (no probabilities there) or else from the checkpoint in `args.model_dir`."""
    if args.frozen_graph:
        if args.inference_scales != [1.0] or args.add_flipped_images or args.eval_crop_size:
            raise UserError(f'{args.frozen_graph}: --inference_scales, --add_flipped_images and --eval_crop_size '
                            'need a checkpoint (--model_dir); a frozen graph runs one scale with its own padding')
        if with_probabilities:
            raise UserError(f'{args.frozen_graph}: frozen graphs give labels only; pass the checkpoint '
                            '(--model_dir) to save probabilities')
        from utils.frozen_graph import iter_frozen_predictions
        for image_id, image, labels in iter_frozen_predictions(args.frozen_graph, image_dir, ids):
            yield image_id, image, labels, None
        return
    predictor = CheckpointPredictor(args.model_dir, model_params(args), tuple(args.inference_scales),
                                    args.add_flipped_images, eval_crop_size_of(args))
    try:
        loaded = read_ahead(lambda i: read_image(image_path(image_dir, i)), ids)
        for image_id, image in loaded:
            labels, probabilities = predictor(image, with_probabilities)
            yield image_id, image, labels, probabilities
    finally:
        predictor.close()


def iter_predictions(args, image_dir, ids):
    """Yield (image_id, label map uint8 [H, W]) for every id (see `iter_outputs`)."""
    for image_id, _, labels, _ in iter_outputs(args, image_dir, ids):
        yield image_id, labels
