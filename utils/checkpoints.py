"""Checkpoint lookup, name/shape checks, warm start and restore, with one-line errors on mismatch.

Published checkpoints may hold extra entries (global_step, Momentum slots, ImageNet logits): variables are
looked up by name and whatever the model does not use is ignored.
"""
import os

import tensorflow as tf

from utils.errors import UserError

tf1 = tf.compat.v1
MAX_NAMED = 3


def resolve_checkpoint(path):
    """A checkpoint prefix from a training folder (its latest checkpoint) or a prefix like `.../model.ckpt`."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        if os.path.exists(os.path.join(path, 'model.ckpt.index')):
            return os.path.join(path, 'model.ckpt')
        raise UserError(f'{path}: no checkpoint in this folder')
    if os.path.exists(path + '.index'):
        return path
    raise UserError(f'{path}: checkpoint not found (give a training folder or a prefix such as .../model.ckpt)')


def checkpoint_shapes(ckpt):
    """{variable name: shape} of every entry in a checkpoint."""
    try:
        return {name: list(shape) for name, shape in tf.train.list_variables(ckpt)}
    except (tf.errors.OpError, ValueError) as err:
        raise UserError(f'{ckpt}: unreadable checkpoint ({err.__class__.__name__})') from None


def model_variables():
    """The graph's variables that a model checkpoint should provide (global_step aside)."""
    return [v for v in tf1.global_variables() if v.op.name != 'global_step']


def _describe(name, shape, stored):
    return f'{name} {shape} (missing)' if stored is None else f'{name} {shape} (checkpoint has {stored})'


def _mismatch_error(ckpt, problems, hint=''):
    named = '; '.join(problems[:MAX_NAMED])
    more = f' and {len(problems) - MAX_NAMED} more' if len(problems) > MAX_NAMED else ''
    return UserError(f'{ckpt}: does not match the model: {named}{more}{hint}')


def restore_saver(ckpt, var_list=None):
    """A Saver restoring `var_list` (default: all model variables) from `ckpt`, after checking that every
    one of them is stored there with the same shape."""
    var_list = model_variables() if var_list is None else var_list
    stored = checkpoint_shapes(ckpt)
    problems = [_describe(v.op.name, v.shape.as_list(), stored.get(v.op.name)) for v in var_list
                if stored.get(v.op.name) != v.shape.as_list()]
    if problems:
        missing = sum(v.op.name not in stored for v in var_list)
        hint = (' (most of the model is missing: do the model flags, e.g. --model_variant or '
                '--decoder_output_stride, describe this checkpoint?)' if missing > len(var_list) // 2 else '')
        raise _mismatch_error(ckpt, problems, hint)
    return tf1.train.Saver({v.op.name: v for v in var_list})


def warm_start(ckpt, backbone_scope):
    """Initialise model variables from a pre-trained checkpoint by name.

    Every backbone variable must be there with its shape (else a clear error); head variables are taken when
    the checkpoint has them (a DeepLab model-zoo checkpoint) and start fresh otherwise (an ImageNet one);
    logits of another class count are re-initialised.
    """
    ckpt = resolve_checkpoint(ckpt)
    stored = checkpoint_shapes(ckpt)
    if not any(name.startswith(backbone_scope + '/') for name in stored):
        raise UserError(f'{ckpt}: holds no {backbone_scope} variables; it does not match the chosen '
                        f'--model_variant {backbone_scope}')
    assignment, problems, skipped = {}, [], []
    for var in model_variables():
        name, shape = var.op.name, var.shape.as_list()
        if stored.get(name) == shape:
            assignment[name] = var
        elif name.startswith(backbone_scope + '/'):
            problems.append(_describe(name, shape, stored.get(name)))
        elif name in stored and not name.startswith('logits/'):
            problems.append(_describe(name, shape, stored[name]))
        else:
            skipped.append(name)
    if problems:
        raise _mismatch_error(ckpt, problems)
    tf1.logging.info('Warm start from %s: %d variables taken, %d initialised fresh (%s...)',
                     ckpt, len(assignment), len(skipped), ', '.join(skipped[:3]))
    tf1.train.init_from_checkpoint(ckpt, {name: name for name in assignment})
    return sorted(assignment)
