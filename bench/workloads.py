"""The TensorFlow workloads the CPU benchmarks time: DeepLabv3's forward pass and one training step as model_fn
takes it, random inputs; returns the tensor to fetch and its feed."""
import numpy as np
import tensorflow as tf

import deeplab_model

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
