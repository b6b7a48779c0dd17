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
    MOMENTUM,
    POLY_POWER,
    backbone_scope,
    default_weight_decay,
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


def weight_decay_of(params):
    """--weight_decay, else the model's default (model_config.default_weight_decay)."""
    weight_decay = params.get('weight_decay')
    return default_weight_decay(resolve_model_params(params)) if weight_decay is None else weight_decay


def kernel_weight_decay(params):
    """The L2 factor each convolution kernel adds to REGULARIZATION_LOSSES: `weight_decay_of` under the 'kernels'
    objective, 0 under 'all_trainable', whose term model_fn adds over every variable."""
    return 0.0 if params.get('regularization') == 'all_trainable' else weight_decay_of(params)


def network_logits(images, params, training):
    """Logits at the network's output resolution (1/output_stride, or 1/decoder_output_stride) for
    normalised images, with the head of the params' layout."""
    params = resolve_model_params(params)
    variant = params['model_variant']
    weight_decay = kernel_weight_decay(params)
    bn = batch_norm_config(params, training)
    if params['layout'] == 'original':
        _, end_points = resnet_v2.resnet_v2(images, variant, bn, params['output_stride'], params['multi_grid'],
                                            weight_decay)
        net = heads.original_aspp(end_points['block4'], bn, params['atrous_rates'], weight_decay,
                                  resnet_v2.INITIALIZER)
        return heads.original_logits(net, params['num_classes'], weight_decay)
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


def resize_logits(logits, size, params):
    """Logits bilinearly resized to `size` as the code of the params' layout resizes them: DeepLab's
    align_corners=True, or TF1's default resize_bilinear for the original project's layout."""
    if resolve_model_params(params)['layout'] == 'original':
        return heads.resize_bilinear_legacy(logits, size)
    return heads.resize_bilinear(logits, size)


def float32_logits(images, params, training):
    """Float32 logits at the network's resolution for raw 0..255 float32 images (normalised here); the network
    between runs in the params' `precision`."""
    params = resolve_model_params(params)
    normalized = preprocessing.normalize(images, params['input_normalization'])
    precision.warn_if_slow(precision.precision_of(params))
    return tf.cast(network_logits(tf.cast(normalized, precision.compute_dtype(params)), params, training), tf.float32)


def upsampled_logits(images, params, training, size=None):
    """Float32 logits (`float32_logits`) resized to `size` (default: the size of `images`) by `resize_logits`."""
    return resize_logits(float32_logits(images, params, training), tf.shape(images)[1:3] if size is None else size,
                         params)


def scale_dimension(dim, scale):
    """Upstream DeepLab's scaled side: int((dim - 1) * scale + 1), so corners stay aligned (513 -> 769 at 1.5)."""
    return tf.cast((tf.cast(dim, tf.float32) - 1.0) * scale + 1.0, tf.int32)


def logits_stride(params):
    """The stride of the network's logits: the decoder's when there is one, else the output stride."""
    params = resolve_model_params(params)
    return params['decoder_output_stride'] or params['output_stride']


def pad_for_evaluation(images, params, crop_size):
    """Pad raw images [N, H, W, 3] at the bottom/right up to `crop_size` (None: unchanged), as upstream eval.py
    does, so image pooling averages over the same padded crop the model saw in training; larger sides stay."""
    if not crop_size:
        return images
    return preprocessing.pad_to_at_least(images, crop_size, resolve_model_params(params)['input_normalization'])


def scale_logits(images, params, scale, flipped):
    """Float32 logits at the size of `images` (padded raw images) for one input scale, as upstream DeepLab's
    predict_labels_multi_scale computes each: the input resized (align_corners=True) to
    scale_dimension(side, scale), the network's logits resized to the common size
    scale_dimension(side, max(1, scale) / logits stride), flipped back there when the input was flipped, then
    resized to the image. At scale 1 the network's logits already have the common size, so that step is skipped.
    Both logits resizes are the layout's own (`resize_logits`)."""
    size = tf.shape(images)[1:3]
    inputs = images if scale == 1.0 else heads.resize_bilinear(images, scale_dimension(size, scale))
    if flipped:
        inputs = tf.reverse(inputs, axis=[2])
    with tf1.variable_scope(tf1.get_variable_scope(), reuse=tf1.AUTO_REUSE):
        logits = float32_logits(inputs, params, training=False)
    if scale != 1.0:
        logits = resize_logits(logits, scale_dimension(size, max(1.0, scale) / logits_stride(params)), params)
    if flipped:
        logits = tf.reverse(logits, axis=[2])
    return resize_logits(logits, size, params)


def predict_probabilities(images, params, scales=(1.0,), flip=False, eval_crop_size=None, sizes=None):
    """Softmax probabilities at input size, averaged over input scales and (optionally) left-right flips,
    as upstream DeepLab's multi-scale inference computes them (`scale_logits`); scale 1.0 alone is plain
    inference. With `eval_crop_size` the image is first padded to it (see `pad_for_evaluation`; the scaled sizes
    are the padded crop's, as upstream's) and the padding is cropped off the result. `sizes` ([N, 2], for a batch
    of images of different sizes) gives each image's own size at the top left of its slot."""
    size = tf.shape(images)[1:3]
    if sizes is not None:
        images = preprocessing.fill_outside(images, sizes, resolve_model_params(params)['input_normalization'])
    images = pad_for_evaluation(images, params, eval_crop_size)
    probabilities = [tf.nn.softmax(scale_logits(images, params, scale, flipped))
                     for scale in scales for flipped in ((False, True) if flip else (False,))]
    return tf.add_n(probabilities)[:, :size[0], :size[1]] / float(len(probabilities))


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


def weight_decay_term(params, network_scope=None):
    """The L2 term of the loss. 'kernels' (upstream DeepLab): the kernels' terms the layers of the network built
    under `network_scope` put in REGULARIZATION_LOSSES. 'all_trainable' (the original project's model_fn):
    weight_decay x the sum of tf.nn.l2_loss over every trainable variable, batch norm's beta and gamma and the
    biases included (none of beta and gamma under freeze_batch_norm, where they are not trainable)."""
    if params.get('regularization') == 'all_trainable':
        return weight_decay_of(params) * tf.add_n([tf.nn.l2_loss(var) for var in tf1.trainable_variables()])
    regularization = tf1.losses.get_regularization_losses(network_scope)
    return tf.add_n(regularization) if regularization else 0.0


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
    optimizer = precision.loss_scaled(tf1.train.MomentumOptimizer(learning_rate, params.get('momentum', MOMENTUM)),
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
    total_loss = cross_entropy + weight_decay_term(params, network_scope)

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
