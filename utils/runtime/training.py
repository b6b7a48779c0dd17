"""Training schedule around tf.estimator: checks before anything is written, step budget, warm start vs
resume, train/evaluate cycles on one machine, or tf.estimator.train_and_evaluate across a TF_CONFIG cluster.

The model and its input pipeline are given by the caller (train.py passes deeplab_model.model_fn and
preprocessing.input_fn), so this module runs any Estimator model_fn over the suite's records.
"""
import contextlib
import dataclasses
import logging
import math
import os
import re

import tensorflow as tf

from utils.common.errors import UserError
from utils.records.tfrecords import BAD_LABEL_TAG, find_records
from utils.runtime import checkpoints, distribute
from utils.runtime.model_config import backbone_scope

tf1 = tf.compat.v1
# How the input pipeline's label check reports a value outside the classes, parsed back into a UserError.
_BAD_LABEL = re.compile(re.escape(BAD_LABEL_TAG) + r'\] \[(.*?)\] \[(\d+)\] \[(\d+)\]')


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """Everything a training run is told besides the model description, under train.py's flag names."""
    model_dir: str
    data_dir: str
    batch_size: int = 10
    crop_size: tuple = (513, 513)
    min_scale: float = 0.5
    max_scale: float = 2.0
    seed: int | None = None
    deterministic: bool = False
    max_iter: int | None = None  # total steps; None: train_epochs x steps per epoch
    train_epochs: int = 26
    epochs_per_eval: int = 1
    no_eval: bool = False
    clean_model_dir: bool = False
    save_checkpoints_steps: int | None = None
    save_checkpoints_secs: int = 600
    keep_checkpoints: int = 3
    log_every_n_steps: int = 10
    intra_op_threads: int = 0
    inter_op_threads: int | None = None
    num_gpus: int | None = None
    num_cpu_replicas: int | None = None
    eval_throttle_secs: int = 600


def count_records(paths):
    """Number of examples in TFRecord files (a fast scan, no decoding)."""
    return sum(1 for path in paths for _ in tf.data.TFRecordDataset(path).as_numpy_iterator())


def steps_per_epoch(num_examples, batch_size, path):
    """Full batches per epoch (partial last batches are dropped); an error when there is not even one."""
    if num_examples < batch_size:
        raise UserError(f'{path}: {num_examples} training examples, fewer than --batch_size {batch_size}')
    return num_examples // batch_size


def check_checkpoints(model_dir, params, crop_size, network_fn, clean=False):
    """Build the training network (`network_fn(images, params, training=True)`) in a scratch graph and check it
    against the checkpoint it will start from: the latest one in `model_dir` (resume; none with `clean`), else
    `pre_trained_model` (warm start). Writes nothing. Returns the checkpoint that will be resumed from, or None."""
    resume = tf.train.latest_checkpoint(model_dir) if os.path.isdir(model_dir) and not clean else None
    warm = None if resume else params.get('pre_trained_model')
    if not (resume or warm):
        return None
    with tf.Graph().as_default():
        images = tf1.placeholder(tf.float32, [None, *crop_size, 3])
        network_fn(images, params, training=True)
        if resume:
            checkpoints.check_restorable(resume)
        else:
            checkpoints.warm_start_assignment(checkpoints.resolve_checkpoint(warm), backbone_scope(params))
    return resume


def run_config(run, run_plan):
    """Checkpointing, logging, seeding and the tf.distribute strategy of the Estimator. CPU replicas
    (--num_cpu_replicas) need as many CPU devices in the Estimator's sessions."""
    cpus = sum(device.startswith('/cpu') for device in run_plan.devices or [])
    inter_op = inter_op_threads(run)
    session = tf1.ConfigProto(intra_op_parallelism_threads=run.intra_op_threads,
                              inter_op_parallelism_threads=inter_op,
                              device_count={'CPU': cpus} if cpus > 1 else None)
    if inter_op and run_plan.kind != 'multi_worker':
        # the session's own pool (DirectSession): otherwise every session shares the pool of the process's first
        session.session_inter_op_thread_pool.add(num_threads=inter_op)
    return tf.estimator.RunConfig(
        tf_random_seed=run.seed, save_checkpoints_steps=run.save_checkpoints_steps,
        save_checkpoints_secs=None if run.save_checkpoints_steps else run.save_checkpoints_secs,
        keep_checkpoint_max=run.keep_checkpoints,
        log_step_count_steps=run.log_every_n_steps, save_summary_steps=run.log_every_n_steps,
        session_config=session, train_distribute=distribute.strategy(run_plan))


def inter_op_threads(run):
    """--inter_op_threads, else all (0), or one under --deterministic. TensorFlow's CPU AddN (the sum of a tensor's
    gradients) starts from whichever input buffer no other op still needs: with ops side by side its rounding
    follows thread timing, with one op at a time it is fixed (tests/test_determinism.py)."""
    if run.inter_op_threads is not None:
        return run.inter_op_threads
    return 1 if run.deterministic else 0


def prepare(run, params, network_fn):
    """Every check that needs no writing: the strategy and the global batch's split over its replicas, records,
    the step budget, the checkpoint to start from (against the network `network_fn` builds).
    Returns the training files' steps per epoch, whether the run resumes, and the distribute.Plan."""
    run_plan = distribute.plan(run.num_gpus, run.num_cpu_replicas)
    distribute.per_replica_batch(run.batch_size, run_plan.replicas)
    train_files = find_records(run.data_dir, 'train')
    per_epoch = steps_per_epoch(count_records(train_files), run.batch_size, train_files[0])
    max_iter = run.max_iter or run.train_epochs * per_epoch
    if not 0 <= params.get('slow_start_step', 0) < max_iter:
        raise UserError(f'--slow_start_step {params["slow_start_step"]}: must be 0 or more and fewer than the '
                        f'{max_iter} training steps')
    resume = check_checkpoints(run.model_dir, params, tuple(run.crop_size), network_fn, run.clean_model_dir)
    return per_epoch, resume is not None, run_plan


@contextlib.contextmanager
def op_determinism(enabled):
    """TensorFlow's op determinism (deterministic kernels, ordered tf.data) for the block when `enabled`, then
    the previous setting back, so in-process callers (the demo, tests) get their own setting again."""
    from tensorflow.python.framework import config  # is/disable_op_determinism are not in the public API
    was_enabled = config.is_op_determinism_enabled()
    if enabled:
        config.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was_enabled:
            config.disable_op_determinism()


def train_input(run, params, epochs, seed, input_fn):
    """The Estimator's training input_fn over `input_fn` (preprocessing.input_fn's arguments); it takes the
    Estimator's input_context under tf.distribute."""
    return lambda input_context=None: input_fn(
        run.data_dir, True, run.batch_size, epochs, tuple(run.crop_size), params['input_normalization'],
        run.min_scale, run.max_scale, seed, num_classes=params['num_classes'], input_context=input_context)


def eval_input(run, params, input_fn):
    """The evaluation input_fn: every val image, whole, one at a time."""
    return lambda: input_fn(run.data_dir, False, 1, 1, tuple(run.crop_size), params['input_normalization'],
                            num_classes=params['num_classes'])


def train_and_evaluate(run, params, per_epoch, resume, run_plan, model_fn, input_fn):
    """Train the Estimator of `model_fn` for `train_epochs` (or `max_iter` steps) with the plan's strategy over
    `input_fn`'s batches, evaluating on the val records every `epochs_per_eval` (one machine) or on every new
    checkpoint (the evaluator task of a cluster).

    Returns the last evaluation's metrics (empty when no val records exist, and on the training tasks of a
    cluster)."""
    tf1.logging.set_verbosity(tf1.logging.INFO)
    logging.getLogger('tensorflow').addFilter(_not_a_deprecation_notice)
    max_iter = run.max_iter or run.train_epochs * per_epoch
    params = dict(params, max_iter=max_iter)
    if resume:
        tf1.logging.info('Resuming from the latest checkpoint in %s (the warm start is not used).', run.model_dir)
        params['pre_trained_model'] = None
    tf1.logging.info('Training with %s.', distribute.describe(run_plan, run.batch_size))
    if run.deterministic and run.inter_op_threads not in (None, 1):
        tf1.logging.warning('--inter_op_threads %d with --deterministic: ops run side by side, so checkpoints can '
                            'differ in rounding between runs (leave it unset for one at a time).',
                            run.inter_op_threads)
    estimator = tf.estimator.Estimator(model_fn, run.model_dir, run_config(run, run_plan), params)
    if run_plan.kind == 'multi_worker':
        return _train_and_evaluate_cluster(estimator, run, params, max_iter, run_plan.task, input_fn)
    val_files = _optional_records(run.data_dir, 'val')
    metrics = {}
    cycle_steps = max(1, run.epochs_per_eval * per_epoch)
    while (step := _global_step(run.model_dir)) < max_iter:
        target = min(max_iter, step + cycle_steps)
        epochs = math.ceil((target - step) / per_epoch)
        seed = None if run.seed is None else run.seed + step  # a resumed cycle does not replay the same batches
        with _label_errors(params['num_classes']), op_determinism(run.deterministic):
            estimator.train(train_input(run, params, epochs, seed, input_fn), max_steps=target)
            if val_files and not run.no_eval:
                metrics = estimator.evaluate(eval_input(run, params, input_fn))
        if metrics:
            _log_metrics(metrics)
    return metrics


def _train_and_evaluate_cluster(estimator, run, params, max_iter, task, input_fn):
    """The cluster's `task`: the chief and workers train together up to `max_iter` (the chief, else worker 0,
    writes the checkpoints), the evaluator scores each new checkpoint until the last one. Restarting every task
    resumes from the latest checkpoint."""
    step = _global_step(run.model_dir)
    seed = None if run.seed is None else run.seed + step
    train_spec = tf.estimator.TrainSpec(train_input(run, params, None, seed, input_fn), max_steps=max_iter)
    eval_spec = tf.estimator.EvalSpec(eval_input(run, params, input_fn), steps=None, start_delay_secs=0,
                                      throttle_secs=run.eval_throttle_secs)
    with _label_errors(params['num_classes']), op_determinism(run.deterministic):
        tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    if task[0] != 'evaluator':
        return {}
    metrics = last_evaluation(estimator.eval_dir())
    if metrics:
        _log_metrics(metrics)
    return metrics


def _scalar_summaries(folder):
    """(step, {tag: value}) of each event with scalar summaries the Estimator wrote to `folder`."""
    for path in sorted(tf.io.gfile.glob(os.path.join(folder, 'events.out.tfevents.*'))):
        for event in tf1.train.summary_iterator(path):
            values = {value.tag: value.simple_value for value in event.summary.value if value.HasField('simple_value')}
            if values:
                yield event.step, values


def logged_scalar(folder, tag):
    """{step: value} of one scalar summary, e.g. the training 'loss' (the mean over replicas under a strategy)."""
    return {step: values[tag] for step, values in _scalar_summaries(folder) if tag in values}


def last_evaluation(eval_dir):
    """The metrics of the latest evaluation written to `eval_dir` (the Estimator's event files), or {}."""
    latest = {}
    for step, values in _scalar_summaries(eval_dir):
        if 'miou' in values and step >= latest.get('global_step', -1):
            latest = dict(values, global_step=step)
    return latest


def _log_metrics(metrics):
    tf1.logging.info('step %d: val mIoU %.4f, pixel accuracy %.4f', metrics['global_step'],
                     metrics['miou'], metrics['pixel_accuracy'])


@contextlib.contextmanager
def _label_errors(num_classes):
    """Turn the input pipeline's out-of-range label assertion into a UserError naming the record and value."""
    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        match = _BAD_LABEL.search(str(err))
        if not match:
            raise
        path, index, value = match.groups()
        raise UserError(f'{path}: example {index} has label value {value}, outside 0..{num_classes - 1} and the '
                        f'void 255 (--num_classes {num_classes}; recreate the records or give the right '
                        '--num_classes)') from None


def _not_a_deprecation_notice(record):
    """Keep TF's own deprecation notices (about Estimator internals, not fixable here) out of the training log."""
    return 'deprecat' not in record.getMessage()


def _global_step(model_dir):
    latest = tf.train.latest_checkpoint(model_dir)
    return int(tf.train.load_variable(latest, 'global_step')) if latest else 0


def _optional_records(data_dir, split):
    try:
        return find_records(data_dir, split)
    except UserError:
        return []


def check_model_dir(model_dir, clean):
    """Create the model folder; with `clean`, start over by removing its checkpoints and events."""
    if clean and os.path.isdir(model_dir):
        tf.io.gfile.rmtree(model_dir)
    os.makedirs(model_dir, exist_ok=True)
