"""DeepLabv3 / v3+ network and its tf.estimator model_fn.

`network_logits` builds backbone + ASPP (+ decoder) + logits under the published checkpoints' variable names;
`predict_probabilities` adds multi-scale / flipped test-time augmentation; `model_fn` adds the loss, the
polynomial-decay momentum optimiser, metrics and summaries.
"""
import tensorflow as tf

import preprocessing
from nets import heads, layers, resnet_v2, xception
from utils.data.voc import IGNORE_LABEL, PALETTE
from utils.runtime import checkpoints, precision
from utils.runtime.model_config import (
    BATCH_NORM_DECAY,
    DEFAULT_WEIGHT_DECAY,
    POLY_POWER,
    backbone_scope,
    resolve_model_params,
)

tf1 = tf.compat.v1

def batch_norm_config(params, training):
    """Batch norm mode: batch statistics while training unless `freeze_batch_norm` fixes them entirely; those of
    the global batch under tf.distribute unless `sync_batch_norm` is False; folded into the convolutions in
    inference graphs (the same function, one op fewer per layer)."""
    frozen = params.get('freeze_batch_norm', False)
    return layers.BatchNorm(training=training and not frozen, trainable=not frozen,
                            decay=params.get('batch_norm_decay', BATCH_NORM_DECAY), epsilon=layers.BATCH_NORM_EPSILON,
                            sync=params.get('sync_batch_norm', True), fold=not training)


def network_logits(images, params, training):
    """Logits at the network's output resolution (1/output_stride, or 1/decoder_output_stride) for
    normalised images."""
    params = resolve_model_params(params)
    variant = params['model_variant']
    weight_decay = params.get('weight_decay')
    if weight_decay is None:
        weight_decay = DEFAULT_WEIGHT_DECAY[variant]
    bn = batch_norm_config(params, training)
    if variant == 'xception_65':
        features, end_points = xception.xception_65(images, bn, params['output_stride'], params['multi_grid'],
                                                    weight_decay)
        low_level = end_points[xception.LOW_LEVEL_END_POINT]
    else:
        features, end_points = resnet_v2.resnet_v2(images, variant, bn, params['output_stride'],
                                                   params['multi_grid'], weight_decay)
        low_level = end_points[resnet_v2.LOW_LEVEL_END_POINT]
    separable = variant == 'xception_65'
    net = heads.aspp(features, bn, params['atrous_rates'], training, weight_decay, separable)
    if params.get('decoder_output_stride'):
        net = heads.decoder(net, low_level, bn, weight_decay)
    return heads.logits(net, params['num_classes'], weight_decay)


def upsampled_logits(images, params, training, size=None):
    """Float32 logits bilinearly resized to `size` (default: the size of `images`, raw 0..255 float32, normalised
    here); the network between runs in the params' `precision`."""
    params = resolve_model_params(params)
    normalized = preprocessing.normalize(images, params['input_normalization'])
    precision.warn_if_slow(precision.precision_of(params))
    logits = network_logits(tf.cast(normalized, precision.compute_dtype(params)), params, training)
    return heads.resize_bilinear(tf.cast(logits, tf.float32), tf.shape(images)[1:3] if size is None else size)


def pad_for_evaluation(images, params, crop_size):
    """Pad raw images [N, H, W, 3] at the bottom/right up to `crop_size` (None: unchanged), as upstream eval.py
    does, so image pooling averages over the same padded crop the model saw in training; larger sides stay."""
    if not crop_size:
        return images
    return preprocessing.pad_to_at_least(images, crop_size, resolve_model_params(params)['input_normalization'])


def predict_probabilities(images, params, scales=(1.0,), flip=False, eval_crop_size=None, sizes=None):
    """Softmax probabilities at input size, averaged over input scales and (optionally) left-right flips,
    as DeepLab's multi-scale inference does; scale 1.0 alone is plain inference. With `eval_crop_size` the
    image is first padded to it (see `pad_for_evaluation`) and the padding is cropped off the result. `sizes`
    ([N, 2], for a batch of images of different sizes) gives each image's own size at the top left of its slot."""
    size = tf.shape(images)[1:3]
    if sizes is not None:
        images = preprocessing.fill_outside(images, sizes, resolve_model_params(params)['input_normalization'])
    images = pad_for_evaluation(images, params, eval_crop_size)
    padded_size = tf.shape(images)[1:3]
    total = None
    for scale in scales:
        scaled = images
        if scale != 1.0:
            scaled_size = tf.cast(tf.math.ceil(tf.cast(padded_size, tf.float32) * scale), tf.int32)
            scaled = heads.resize_bilinear(images, scaled_size)
        variants = [(scaled, False)] + ([(tf.reverse(scaled, axis=[2]), True)] if flip else [])
        for inputs, flipped in variants:
            with tf1.variable_scope(tf1.get_variable_scope(), reuse=tf1.AUTO_REUSE):
                logits = upsampled_logits(inputs, params, training=False, size=padded_size)
            if flipped:
                logits = tf.reverse(logits, axis=[2])
            probabilities = tf.nn.softmax(logits)
            total = probabilities if total is None else total + probabilities
    return (total / float(len(scales) * (2 if flip else 1)))[:, :size[0], :size[1]]


def colour_labels(labels):
    """uint8 RGB pictures of label maps [N, H, W] for TensorBoard."""
    return tf.gather(tf.constant(PALETTE), tf.cast(labels, tf.int32))


def segmentation_loss(logits, labels, num_classes):
    """Mean softmax cross-entropy over pixels whose label is a class (void 255 ignored; the input pipeline
    stops at any other value outside the classes)."""
    labels = tf.reshape(labels, [-1])
    valid = tf.logical_and(tf.not_equal(labels, IGNORE_LABEL), labels < num_classes)
    valid_logits = tf.boolean_mask(tf.reshape(logits, [-1, num_classes]), valid)
    valid_labels = tf.boolean_mask(labels, valid)
    loss = tf1.losses.sparse_softmax_cross_entropy(valid_labels, valid_logits)
    return loss, valid


def _train_op(total_loss, params, network_scope=None):
    """Momentum SGD with DeepLab's polynomial ('poly', `learning_power` 0.9 by default) learning-rate decay, after
    the batch-norm updates of the network built under `network_scope`, loss-scaled in float16; (op, learning
    rate). As upstream's slow start, the first `slow_start_step` steps run at `slow_start_learning_rate` and the
    decay spans the steps after them."""
    global_step = tf1.train.get_or_create_global_step()
    slow_steps = params.get('slow_start_step', 0)
    learning_rate = tf1.train.polynomial_decay(
        params['initial_learning_rate'], tf.maximum(global_step - slow_steps, 0), params['max_iter'] - slow_steps,
        params['end_learning_rate'], power=params.get('learning_power', POLY_POWER))
    if slow_steps:
        learning_rate = tf.where(global_step < slow_steps, params['slow_start_learning_rate'], learning_rate)
    tf1.summary.scalar('learning_rate', learning_rate)
    optimizer = precision.loss_scaled(tf1.train.MomentumOptimizer(learning_rate, params.get('momentum', 0.9)),
                                      precision.precision_of(params))
    with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS, network_scope)):
        return optimizer.minimize(total_loss, global_step, var_list=tf1.trainable_variables()), learning_rate


def recent_confusion(labels, classes, weights, num_classes, window):
    """A confusion matrix over about the last `window` steps: each step adds the batch's and shrinks the
    rest by 1 - 1/window (a local variable, not checkpointed). Returns its update op's value."""
    batch = tf.math.confusion_matrix(labels, classes, num_classes, weights=weights, dtype=tf.float32)
    confusion = tf1.Variable(tf.zeros([num_classes, num_classes]), trainable=False, name='recent_confusion',
                             collections=[tf1.GraphKeys.LOCAL_VARIABLES])
    return confusion.assign(confusion * (1.0 - 1.0 / window) + batch)


def confusion_scores(confusion):
    """(mIoU over classes present in labels or predictions, pixel accuracy) of a confusion matrix tensor."""
    true_positive = tf.linalg.diag_part(confusion)
    union = tf.reduce_sum(confusion, 0) + tf.reduce_sum(confusion, 1) - true_positive
    present = union > 0
    iou = tf.boolean_mask(true_positive, present) / tf.boolean_mask(union, present)
    miou = tf.math.divide_no_nan(tf.reduce_sum(iou), tf.cast(tf.size(iou), tf.float32))
    return miou, tf.math.divide_no_nan(tf.reduce_sum(true_positive), tf.reduce_sum(confusion))


def evaluation_logits(images, params):
    """Logits at image size for evaluation, through the padding of `pad_for_evaluation`."""
    size = tf.shape(images)[1:3]
    padded = pad_for_evaluation(images, params, params.get('eval_crop_size'))
    return upsampled_logits(padded, params, training=False)[:, :size[0], :size[1]]


def model_fn(features, labels, mode, params):
    """tf.estimator model function for DeepLabv3/v3+ semantic segmentation."""
    images = features['image'] if isinstance(features, dict) else features
    num_classes = params['num_classes']
    if mode == tf.estimator.ModeKeys.PREDICT:
        probabilities = predict_probabilities(images, params, params.get('inference_scales', (1.0,)),
                                              params.get('add_flipped_images', False), params.get('eval_crop_size'))
        predictions = {'classes': tf.argmax(probabilities, axis=3, output_type=tf.int32),
                       'probabilities': probabilities}
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)

    training = mode == tf.estimator.ModeKeys.TRAIN
    # Under tf.distribute every replica builds the network into the same graph, interleaved, so the collections
    # are read under this replica's own name scope (replica_1/network/..., not network/...).
    with tf.name_scope('network') as network_scope:
        logits = upsampled_logits(images, params, training) if training else evaluation_logits(images, params)
    if training and params.get('pre_trained_model'):
        checkpoints.warm_start(params['pre_trained_model'], backbone_scope(params))
    classes = tf.argmax(logits, axis=3, output_type=tf.int32)
    labels = tf.cast(tf.squeeze(labels, axis=3), tf.int32)
    cross_entropy, valid = segmentation_loss(logits, labels, num_classes)
    regularization = tf1.losses.get_regularization_losses(network_scope)
    total_loss = cross_entropy + (tf.add_n(regularization) if regularization else 0.0)

    flat_labels = tf.where(valid, tf.reshape(labels, [-1]), tf.zeros_like(tf.reshape(labels, [-1])))
    flat_classes = tf.reshape(classes, [-1])
    weights = tf.cast(valid, tf.float32)
    if mode == tf.estimator.ModeKeys.EVAL:
        metrics = {
            'miou': tf1.metrics.mean_iou(flat_labels, flat_classes, num_classes, weights=weights),
            'pixel_accuracy': tf1.metrics.accuracy(flat_labels, flat_classes, weights=weights),
        }
        return tf.estimator.EstimatorSpec(mode, loss=total_loss, eval_metric_ops=metrics)

    log_every = params.get('log_every_n_steps', 10)
    confusion = recent_confusion(flat_labels, flat_classes, weights, num_classes, log_every)
    train_miou, train_accuracy = confusion_scores(confusion)
    tf1.summary.scalar('cross_entropy', cross_entropy)
    tf1.summary.scalar('train_miou_recent', train_miou)
    tf1.summary.scalar('train_pixel_accuracy_recent', train_accuracy)
    tf1.summary.image('image_label_prediction', tf.concat(
        [tf.cast(images, tf.uint8), colour_labels(labels), colour_labels(classes)], axis=2),
        max_outputs=params.get('tensorboard_images_max_outputs', 4))
    minimize, learning_rate = _train_op(total_loss, params, network_scope)
    train_op = tf.group(minimize, confusion)
    logged = {'cross_entropy': cross_entropy, 'learning_rate': learning_rate,
              f'train_miou_last_{log_every}_steps': train_miou}
    hook = tf1.train.LoggingTensorHook(logged, every_n_iter=log_every)
    return tf.estimator.EstimatorSpec(mode, loss=total_loss, train_op=train_op, training_hooks=[hook])
