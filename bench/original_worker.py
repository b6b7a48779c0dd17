"""The reference side of compare_original.py: runs the original rishizek/tensorflow-deeplab-v3 code (and upstream
DeepLab's research/deeplab), unedited, in a TensorFlow 2.12 + tf_slim venv, with only their TF1 imports
(`tensorflow`, `tensorflow.contrib...`) pointed at `tf.compat.v1` and tf_slim, so the figures compared against come
from that code and not from this suite.

    python original_worker.py --original_code DIR checkpoint|evaluate|train_step ...
    python original_worker.py --original_code DIR upstream_checkpoint|upstream_evaluate --upstream_code DIR ...

Each command prints one report line (workers.MARK + JSON) on stdout.
"""
import argparse
import contextlib
import importlib
import io
import os
import re
import runpy
import sys
import tempfile
import types

import numpy as np
from workers import report

NUM_CLASSES = 21
# The ImageNet means the original input functions subtract (its utils/preprocessing.py).
MEANS = (123.68, 116.78, 103.94)


def install_tf1_aliases():
    """sys.modules entries that make `import tensorflow as tf` give tf.compat.v1 (graph mode) and the
    `tensorflow.contrib` modules the original code imports give their tf_slim successors."""
    import tensorflow as real_tf
    import tf_slim

    slim_layers = importlib.import_module('tf_slim.layers')  # tf_slim's own `layers` attribute is another module
    slim_nets = importlib.import_module('tf_slim.nets')
    for net in ('resnet_utils', 'resnet_v2'):
        importlib.import_module(f'tf_slim.nets.{net}')
    v1 = real_tf.compat.v1
    v1.disable_v2_behavior()

    def alias(name, module=None, **attrs):
        module = module or types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        sys.modules[name] = module
        return module

    framework_ops = alias('tensorflow.contrib.framework.python.ops', arg_scope=tf_slim.arg_scope)
    framework = alias('tensorflow.contrib.framework', arg_scope=tf_slim.arg_scope,
                      python=alias('tensorflow.contrib.framework.python', ops=framework_ops))
    contrib = alias('tensorflow.contrib', slim=tf_slim, layers=slim_layers, framework=framework,
                    training=alias('tensorflow.contrib.training'))
    alias('tensorflow.contrib.slim', tf_slim)
    alias('tensorflow.contrib.slim.nets', slim_nets)
    alias('tensorflow.contrib.slim.python')
    alias('tensorflow.contrib.slim.python.slim')
    alias('tensorflow.contrib.slim.python.slim.nets', slim_nets)
    alias('tensorflow.contrib.layers', slim_layers)
    alias('tensorflow.contrib.layers.python')
    alias('tensorflow.contrib.layers.python.layers', layers=importlib.import_module('tf_slim.layers.layers'))
    shim = types.ModuleType('tensorflow')
    shim.__getattr__ = lambda name: getattr(v1, name)  # PEP 562: everything else is tf.compat.v1's
    shim.__path__ = real_tf.__path__  # real submodules still import
    shim.contrib = contrib
    sys.modules['tensorflow'] = shim
    return shim


def import_original(original_code):
    """The original deeplab_model and utils.preprocessing modules, and the aliased `tf`."""
    tf = install_tf1_aliases()
    sys.path.insert(0, os.path.abspath(original_code))
    import deeplab_model
    from utils import preprocessing
    return tf, deeplab_model, preprocessing


def model_params(architecture, output_stride, **extra):
    """The params dict the original evaluate.py passes to deeplabv3_model_fn, plus `extra`."""
    return dict({'output_stride': output_stride, 'batch_size': 1, 'base_architecture': architecture,
                 'pre_trained_model': None, 'batch_norm_decay': None, 'num_classes': NUM_CLASSES,
                 'freeze_batch_norm': True}, **extra)


def random_value(name, shape, rng):
    """A random value for a variable of the original model or its optimizer, by its role (see the name): batch
    norm statistics and affine terms near their usual ranges (variances positive), He-like convolution weights,
    small Momentum slots, so that no layer is the identity and the head's output varies across pixels."""
    if name.endswith('/Momentum'):
        return rng.normal(0.0, 1e-3, shape)
    leaf = name.rsplit('/', 1)[-1]
    if leaf == 'moving_variance':
        return rng.uniform(0.5, 2.0, shape)
    if leaf == 'gamma':
        return rng.uniform(0.5, 1.5, shape)
    if leaf in ('beta', 'moving_mean', 'biases'):
        return rng.normal(0.0, 0.2, shape)
    if leaf == 'weights':
        return rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:-1])), shape)
    if leaf == 'depthwise_weights':  # [kh, kw, C, 1]: each output channel sees kh x kw inputs
        return rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:2])), shape)
    raise ValueError(f'{name}: no rule for a random value')


def randomize(tf, sess, seed, overrides=None):
    """Assign every global variable (but global_step) a random value from `random_value`, seeded per variable by
    its position in name order, or its value in `overrides` ({name: array})."""
    variables = sorted((v for v in tf.global_variables() if v.op.name != 'global_step'), key=lambda v: v.op.name)
    feeds, ops = {}, []
    for index, var in enumerate(variables):
        value = (overrides or {}).get(var.op.name)
        if value is None:
            value = random_value(var.op.name, var.shape.as_list(), np.random.default_rng([seed, index]))
        holder = tf.placeholder(var.dtype.base_dtype, var.shape)
        ops.append(var.assign(holder))
        feeds[holder] = np.asarray(value, np.float32)
    sess.run(ops, feeds)
    return [v.op.name for v in variables]


def calibrated_logits(sess, logits, feed, scope, target_std):
    """{scope/weights, scope/biases}: the logits layer's values rescaled and shifted so that on the calibration
    input each class's logit has mean 0 over the pixels and all have standard deviation `target_std`; so the
    classes compete on what varies across the image (not on constant offsets, which make one class win
    everywhere) and the softmax is neither flat nor one-hot."""
    graph = sess.graph
    weights, biases = (graph.get_tensor_by_name(f'{scope}/{leaf}:0') for leaf in ('weights', 'biases'))
    values, weight_value, bias_value = sess.run([logits, weights, biases], feed)
    mean = values.mean(axis=(0, 1, 2))
    factor = target_std / float(np.std(values - mean))
    return {f'{scope}/weights': weight_value * factor, f'{scope}/biases': (bias_value - mean) * factor}


def read_rgb(path):
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


def original_logits_calibration(tf, deeplab_model, args):
    """calibrated_logits for the original model, on --calibration_image as the original evaluation feeds it."""
    tf.reset_default_graph()
    image = read_rgb(args.calibration_image).astype(np.float32) - np.array(MEANS, np.float32)
    network = deeplab_model.deeplab_v3_generator(NUM_CLASSES, 16, args.architecture, None, None)
    logits = network(tf.constant(image[None]), False)
    with tf.Session() as sess:
        randomize(tf, sess, args.seed)
        return calibrated_logits(sess, logits, {}, 'upsampling_logits/conv_1x1', args.logits_std)


def make_checkpoint(args):
    """An Estimator-style folder (`checkpoint` + model.ckpt-N) of the original model with random values, holding
    what the original train.py's checkpoints hold: the TRAIN-mode graph's variables, Momentum slots and
    global_step."""
    tf, deeplab_model, _ = import_original(args.original_code)
    overrides = original_logits_calibration(tf, deeplab_model, args)
    # The TRAIN graph warm-starts its backbone from a checkpoint (init_from_checkpoint), so one must exist while
    # it initializes: the EVAL graph's variables, saved first.
    os.makedirs(args.model_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as warm_dir:
        tf.reset_default_graph()
        features = tf.placeholder(tf.float32, [None, None, None, 3])
        labels = tf.placeholder(tf.int32, [None, None, None, 1])
        deeplab_model.deeplabv3_model_fn(features, labels, tf.estimator.ModeKeys.EVAL,
                                         model_params(args.architecture, 16))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            warm_start = tf.train.Saver().save(sess, os.path.join(warm_dir, 'model.ckpt'), write_meta_graph=False)

        tf.reset_default_graph()
        global_step = tf.train.get_or_create_global_step()  # as the Estimator creates it before the model_fn
        train_graph(tf, deeplab_model, args.architecture, warm_start,
                    tf.placeholder(tf.float32, [None, None, None, 3]), tf.placeholder(tf.int32, [None, None, None, 1]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            names = randomize(tf, sess, args.seed, overrides)
            sess.run(global_step.assign(args.global_step))
            path = tf.train.Saver().save(sess, os.path.join(args.model_dir, 'model.ckpt'),
                                         global_step=args.global_step)
    report(checkpoint=path, variables=len(names) + 1,
           momentum_slots=sum(name.endswith('/Momentum') for name in names))


TRAIN_PARAMS = {'weight_decay': 2e-4, 'initial_learning_rate': 7e-3, 'end_learning_rate': 1e-6, 'power': 0.9,
                'max_iter': 1, 'initial_global_step': 0, 'momentum': 0.9, 'learning_rate_policy': 'poly',
                'freeze_batch_norm': False, 'batch_norm_decay': None}


def train_graph(tf, deeplab_model, architecture, pre_trained_model, features, labels, output_stride=16,
                batch_size=2):
    """The original TRAIN-mode EstimatorSpec with the original train.py's settings (TRAIN_PARAMS)."""
    params = dict(model_params(architecture, output_stride), batch_size=batch_size,
                  pre_trained_model=pre_trained_model, tensorboard_images_max_outputs=batch_size,
                  num_train=batch_size, **TRAIN_PARAMS)
    return deeplab_model.deeplabv3_model_fn(features, labels, tf.estimator.ModeKeys.TRAIN, params)


def read_list(path):
    with open(path, encoding='utf-8') as handle:
        return [line.strip() for line in handle if line.strip()]


def mean_iou(confusion):
    """mIoU and pixel accuracy of a summed confusion matrix by the original evaluate.py's rule: classes whose
    union is empty are left out of the mean."""
    confusion = confusion.astype(np.float64)
    diagonal = np.diagonal(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - diagonal
    valid = union != 0
    miou = float(np.sum(diagonal[valid] / union[valid]) / valid.sum()) if valid.any() else 0.0
    accuracy = float(diagonal.sum() / confusion.sum()) if confusion.sum() else 0.0
    return miou, accuracy


def evaluate(args):
    """The original evaluation graph (its eval_input_fn and EVAL-mode model_fn, whole images, batch 1) on the
    listed images: per-image probabilities and labels to --output_dir/<id>.npz, and the mIoU by the original
    evaluate.py's formula; then the original evaluate.py itself, whose printed mIoU is reported alongside."""
    tf, deeplab_model, preprocessing = import_original(args.original_code)
    ids = read_list(args.evaluation_data_list)
    image_files = [os.path.join(args.image_data_dir, i) + '.jpg' for i in ids]  # as the original evaluate.py
    label_files = [os.path.join(args.label_data_dir, i) + '.png' for i in ids]
    tf.reset_default_graph()
    features, labels = preprocessing.eval_input_fn(image_files, label_files)
    predictions = deeplab_model.deeplabv3_model_fn(features, labels, tf.estimator.ModeKeys.EVAL,
                                                   model_params(args.base_architecture, args.output_stride))
    predictions = predictions.predictions
    fetch = {key: predictions[key] for key in ('probabilities', 'classes', 'confusion_matrix')}
    os.makedirs(args.output_dir, exist_ok=True)
    total = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, tf.train.get_checkpoint_state(args.model_dir).model_checkpoint_path)
        for image_id in ids:
            out = sess.run(fetch)
            total += out['confusion_matrix']
            np.savez(os.path.join(args.output_dir, image_id + '.npz'), probabilities=out['probabilities'][0],
                     labels=out['classes'][0, :, :, 0].astype(np.uint8))
    miou, accuracy = mean_iou(total)
    report(miou=miou, pixel_accuracy=accuracy, images=len(ids), script_miou=run_original_evaluate(tf, args))


def run_original_evaluate(tf, args):
    """The mIoU (4 decimals) that the original evaluate.py prints for the same flags, run unedited."""
    tf.reset_default_graph()
    argv = [os.path.join(args.original_code, 'evaluate.py'), '--model_dir', args.model_dir,
            '--image_data_dir', args.image_data_dir, '--label_data_dir', args.label_data_dir,
            '--evaluation_data_list', args.evaluation_data_list, '--base_architecture', args.base_architecture,
            '--output_stride', str(args.output_stride)]
    saved_argv, sys.argv = sys.argv, argv
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
            runpy.run_path(argv[0], run_name='__main__')
    finally:
        sys.argv = saved_argv
    found = re.search(r'mean Intersection over Union: ([0-9.]+)', printed.getvalue())
    return float(found.group(1)) if found else None


def train_step(args):
    """One step of the original training (TRAIN-mode model_fn, MomentumOptimizer, poly learning rate, weight
    decay over every trainable variable) from --model_dir on the fixed batch in --batch_npz; the loss, learning
    rate and cross entropy before the step, and the updated variables saved as a checkpoint in --output_dir."""
    tf, deeplab_model, _ = import_original(args.original_code)
    batch = np.load(args.batch_npz)
    images = batch['images'].astype(np.float32) - np.array(MEANS, np.float32)  # the original train input's
    labels = batch['labels'].astype(np.int32)[..., None]
    checkpoint = tf.train.get_checkpoint_state(args.model_dir).model_checkpoint_path
    tf.reset_default_graph()
    global_step = tf.train.get_or_create_global_step()
    spec = train_graph(tf, deeplab_model, args.base_architecture, checkpoint, tf.constant(images),
                       tf.constant(labels), args.output_stride, len(images))
    graph = tf.get_default_graph()
    fetch = {'loss': spec.loss, 'cross_entropy': graph.get_tensor_by_name('cross_entropy:0'),
             'learning_rate': graph.get_tensor_by_name('learning_rate:0'), 'train_op': spec.train_op}
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        saver.restore(sess, checkpoint)
        step = int(sess.run(global_step))
        out = sess.run(fetch)
        path = saver.save(sess, os.path.join(args.output_dir, 'model.ckpt'), global_step=global_step)
    report(loss=float(out['loss']), cross_entropy=float(out['cross_entropy']),
           learning_rate=float(out['learning_rate']), step_before=step, checkpoint=path,
           params=dict(TRAIN_PARAMS, batch_size=len(images), output_stride=args.output_stride))


# Upstream DeepLab's model-zoo DeepLabv3+ (the flags of its PASCAL Xception-65 model and its eval.py).
UPSTREAM_FLAGS = ['--model_variant=xception_65', '--decoder_output_stride=4']
UPSTREAM_CROP = (513, 513)
UPSTREAM_ATROUS_RATES = (6, 12, 18)


def import_upstream(upstream_code):
    """The aliased `tf` and upstream DeepLab's common, input_preprocess and model modules (from a tensorflow/models
    checkout's research/ and research/slim/), with UPSTREAM_FLAGS parsed."""
    tf = install_tf1_aliases()
    research = os.path.join(os.path.abspath(upstream_code), 'research')
    sys.path[:0] = [research, os.path.join(research, 'slim')]
    from absl import flags

    from deeplab import common, input_preprocess, model
    flags.FLAGS(['upstream', *UPSTREAM_FLAGS])
    return tf, common, input_preprocess, model


def upstream_options(common, output_stride):
    return common.ModelOptions(outputs_to_num_classes={common.OUTPUT_TYPE: NUM_CLASSES}, crop_size=list(UPSTREAM_CROP),
                               atrous_rates=list(UPSTREAM_ATROUS_RATES), output_stride=output_stride)


def upstream_checkpoint(args):
    """A model-zoo style `model.ckpt` (model variables and global_step) of upstream DeepLab's model with random
    values, its logits scaled so that their standard deviation on a random image is --logits_std."""
    tf, common, _, model = import_upstream(args.upstream_code)
    tf.reset_default_graph()
    images = tf.placeholder(tf.float32, [1, *UPSTREAM_CROP, 3])
    outputs = model.multi_scale_logits(images, upstream_options(common, 16), image_pyramid=[1.0], is_training=False,
                                       fine_tune_batch_norm=False)
    logits = outputs[common.OUTPUT_TYPE][model.MERGED_LOGITS_SCOPE]
    tf.train.get_or_create_global_step()
    pixels = read_rgb(args.calibration_image)
    sample = np.full((1, *UPSTREAM_CROP, 3), 127.5, np.float32)  # padded with the mean pixel, as eval.py pads
    sample[0, :pixels.shape[0], :pixels.shape[1]] = pixels
    os.makedirs(args.model_dir, exist_ok=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        randomize(tf, sess, args.seed)
        overrides = calibrated_logits(sess, logits, {images: sample}, 'logits/semantic', args.logits_std)
        names = randomize(tf, sess, args.seed, overrides)
        path = tf.train.Saver().save(sess, os.path.join(args.model_dir, 'model.ckpt'), write_meta_graph=False)
    report(checkpoint=path, variables=len(names) + 1)


def upstream_evaluate(args):
    """Upstream eval.py's computation on each listed image: its preprocess_image_and_label (padding to 513x513 with
    the mean pixel) and predict_labels_multi_scale at --eval_scales (+ flips); the averaged probabilities it takes
    the argmax of and its labels, both cropped to the image, to --output_dir/<id>.npz; mIoU over the images."""
    from PIL import Image

    tf, common, input_preprocess, model = import_upstream(args.upstream_code)
    tf.reset_default_graph()
    image = tf.placeholder(tf.uint8, [None, None, 3])
    _, processed, _ = input_preprocess.preprocess_image_and_label(
        image, None, *UPSTREAM_CROP, is_training=False, model_variant='xception_65')
    labels = model.predict_labels_multi_scale(
        tf.expand_dims(processed, 0), upstream_options(common, args.output_stride), eval_scales=args.eval_scales,
        add_flipped_images=args.add_flipped_images)[common.OUTPUT_TYPE]
    probabilities = labels.op.inputs[0]  # the mean over scales and flips that predict_labels_multi_scale argmaxes
    os.makedirs(args.output_dir, exist_ok=True)
    total = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, args.checkpoint)
        for image_id in read_list(args.evaluation_data_list):
            pixels = read_rgb(os.path.join(args.image_data_dir, image_id + '.jpg'))
            height, width = pixels.shape[:2]
            prob, lab = sess.run([probabilities, labels], {image: pixels})
            prob, lab = prob[0, :height, :width], lab[0, :height, :width].astype(np.uint8)
            np.savez(os.path.join(args.output_dir, image_id + '.npz'), probabilities=prob, labels=lab)
            with Image.open(os.path.join(args.label_data_dir, image_id + '.png')) as img:
                truth = np.asarray(img)
            valid = truth != 255
            total += np.bincount(truth[valid].astype(np.int64) * NUM_CLASSES + lab[valid],
                                 minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
    miou, accuracy = mean_iou(total)
    report(miou=miou, pixel_accuracy=accuracy, eval_scales=args.eval_scales,
           add_flipped_images=args.add_flipped_images)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--original_code', required=True, help='Checkout of rishizek/tensorflow-deeplab-v3.')
    commands = parser.add_subparsers(dest='command', required=True)
    made = commands.add_parser('checkpoint', help='A random-valued Estimator checkpoint folder.')
    made.add_argument('--architecture', required=True, choices=['resnet_v2_50', 'resnet_v2_101'])
    made.add_argument('--model_dir', required=True)
    made.add_argument('--seed', type=int, default=0)
    made.add_argument('--global_step', type=int, default=0)
    made.add_argument('--logits_std', type=float, default=3.0)
    made.add_argument('--calibration_image', required=True, help='Image the logits are calibrated on.')
    for name in ('evaluate', 'train_step'):
        sub = commands.add_parser(name)
        sub.add_argument('--model_dir', required=True)
        sub.add_argument('--base_architecture', required=True, choices=['resnet_v2_50', 'resnet_v2_101'])
        sub.add_argument('--output_stride', type=int, default=16, choices=[8, 16])
        sub.add_argument('--output_dir', required=True)
    ev = commands.choices['evaluate']
    for flag in ('--image_data_dir', '--label_data_dir', '--evaluation_data_list'):
        ev.add_argument(flag, required=True)
    commands.choices['train_step'].add_argument('--batch_npz', required=True,
                                                help='"images" uint8 [N, H, W, 3] and "labels" uint8 [N, H, W].')
    upstream = commands.add_parser('upstream_checkpoint', help='A random-valued upstream DeepLab model.ckpt.')
    upstream_eval = commands.add_parser('upstream_evaluate', help='Upstream multi-scale evaluation.')
    for sub in (upstream, upstream_eval):
        sub.add_argument('--upstream_code', required=True, help='A tensorflow/models checkout (research/deeplab).')
    upstream.add_argument('--model_dir', required=True)
    upstream.add_argument('--seed', type=int, default=0)
    upstream.add_argument('--logits_std', type=float, default=3.0)
    upstream.add_argument('--calibration_image', required=True, help='Image the logits are calibrated on.')
    upstream_eval.add_argument('--checkpoint', required=True)
    upstream_eval.add_argument('--output_stride', type=int, default=16, choices=[8, 16])
    upstream_eval.add_argument('--eval_scales', type=float, nargs='+', default=[1.0])
    upstream_eval.add_argument('--add_flipped_images', action='store_true')
    upstream_eval.add_argument('--output_dir', required=True)
    for flag in ('--image_data_dir', '--label_data_dir', '--evaluation_data_list'):
        upstream_eval.add_argument(flag, required=True)
    return parser


def main():
    args = build_parser().parse_args()
    commands = {'checkpoint': make_checkpoint, 'evaluate': evaluate, 'train_step': train_step,
                'upstream_checkpoint': upstream_checkpoint, 'upstream_evaluate': upstream_evaluate}
    commands[args.command](args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
