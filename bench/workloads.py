"""The TensorFlow workloads the benchmarks run: DeepLabv3's forward pass and one training step as model_fn takes
it on random inputs (the tensor to fetch and its feed), and a trained checkpoint's outputs on images."""
import json
import os

import numpy as np
import tensorflow as tf

import deeplab_model
from utils.runtime import predict
from utils.runtime.model_config import saved_model_params

tf1 = tf.compat.v1


def deeplab_step(params, training, batch, side, seed=0):
    """(fetch, feed) in the default graph: `deeplab_model.predict_probabilities` on `batch` images of `side`x`side`,
    or with `training` one step of cross-entropy + weight decay minimised by the poly MomentumOptimizer after the
    batch-norm updates. `params`: a resolved model description (with `precision` where wanted)."""
    rng = np.random.default_rng(seed)
    images = tf1.placeholder(tf.float32, [batch, side, side, 3])
    feed = {images: rng.uniform(0, 255, (batch, side, side, 3))}
    if not training:
        return deeplab_model.predict_probabilities(images, params), feed
    params = dict(params, initial_learning_rate=7e-3, end_learning_rate=0.0, max_iter=30000, momentum=0.9)
    labels = tf1.placeholder(tf.int32, [batch, side, side])
    feed[labels] = rng.integers(0, params['num_classes'], (batch, side, side))
    logits = deeplab_model.upsampled_logits(images, params, training=True)
    cross_entropy, _ = deeplab_model.segmentation_loss(logits, labels, params['num_classes'])
    total_loss = cross_entropy + tf.add_n(tf1.losses.get_regularization_losses())
    train_op, _ = deeplab_model._train_op(total_loss, params)  # pylint: disable=protected-access
    return train_op, feed


def write_random_checkpoint(model_dir, params, seed=0):
    """A checkpoint (model variables + global_step) of `params`' network with seeded random weights, to export
    and time; nothing downloaded. Batch norm's beta and moving means are drawn too, so the biases folded from
    them are not zero, as in a trained model (zero biases would be optimised away and time too little)."""
    os.makedirs(model_dir, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(seed)
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, None, None, 3]), params, training=False)
        tf1.train.get_or_create_global_step()
        shifts = [tf1.assign(var, tf1.random_normal(var.shape, stddev=0.1)) for var in tf1.global_variables()
                  if var.op.name.endswith(('moving_mean', 'beta'))]
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(shifts)
            tf1.train.Saver().save(sess, os.path.join(model_dir, 'model.ckpt'), global_step=0)


def checkpoint_outputs(model_dir, images, precision, scales, flip, crop):
    """[(labels, probabilities)] of every image from the checkpoint in `model_dir` in `precision`, padded to
    `crop` x `crop` as the demo evaluates."""
    params = dict(saved_model_params(model_dir), precision=precision)
    predictor = predict.CheckpointPredictor(model_dir, params, deeplab_model.predict_probabilities, scales, flip,
                                            eval_crop_size=[crop, crop])
    try:
        return [predictor(image, with_probabilities=True) for image in images]
    finally:
        predictor.close()


def write_rows(path, rows):
    """A benchmark's rows as JSON, when --json named a file."""
    if path:
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(rows, handle, indent=1)
