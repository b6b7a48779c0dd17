"""Checkpoint lookup, name/shape checks, warm start and restore, with one-line errors on mismatch.

Published checkpoints may hold extra entries (global_step, Momentum slots, ImageNet logits): variables are
looked up by name and whatever the model does not use is ignored.
"""
import os
import re

import tensorflow as tf
from tensorflow.python.util import deprecation

from utils.common.errors import UserError

tf1 = tf.compat.v1
MAX_NAMED = 3
# Checkpoint entries that are training state, not model: the step counter and optimiser slots / accumulators.
OPTIMIZER_SLOTS = ('Momentum', 'Adam', 'Adam_1', 'RMSProp', 'RMSProp_1', 'ExponentialMovingAverage')
TRAINING_STATE = ('global_step', 'beta1_power', 'beta2_power')
# Variable scopes that only some model flags create, and the flag that creates them.
OPTIONAL_PARTS = (('decoder/', '--decoder_output_stride 4'),)
_REPLICA_COPY = re.compile(r'/replica_\d+$')


def _v1_checkpoint(path):
    """Whether `path` is a single-file (V1) checkpoint such as the 2017 slim tarballs may hold, not one part of a
    V2 checkpoint (.index, .data-*, .meta)."""
    name = os.path.basename(path)
    return os.path.isfile(path) and not name.endswith(('.index', '.meta')) and '.data-' not in name


def resolve_checkpoint(path):
    """A checkpoint prefix from a training folder (its latest checkpoint) or a prefix like `.../model.ckpt`."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        if os.path.exists(os.path.join(path, 'model.ckpt.index')):
            return os.path.join(path, 'model.ckpt')
        raise UserError(f'{path}: no checkpoint in this folder')
    if os.path.exists(path + '.index') or _v1_checkpoint(path):
        return path
    raise UserError(f'{path}: checkpoint not found (give a training folder or a prefix such as .../model.ckpt)')


def checkpoint_shapes(ckpt):
    """{variable name: shape} of every entry in a checkpoint."""
    try:
        return {name: list(shape) for name, shape in tf.train.list_variables(ckpt)}
    except (tf.errors.OpError, ValueError) as err:
        raise UserError(f'{ckpt}: unreadable checkpoint ({err.__class__.__name__})') from None


def checkpoint_values(path):
    """{variable name: value} of a checkpoint: a prefix, or a folder's latest."""
    path = tf.train.latest_checkpoint(path) or path
    return {name: tf.train.load_variable(path, name) for name, _ in tf.train.list_variables(path)}


def variable_name(var):
    """The name a variable is saved under. Under tf.distribute, replica i's model_fn sees the mirrored variables
    as their copies `<name>/replica_<i>`, which are saved (and warm-started) as `<name>`."""
    return _REPLICA_COPY.sub('', var.op.name)


def model_variables():
    """The graph's variables that a model checkpoint should provide (global_step aside)."""
    return [v for v in tf1.global_variables() if variable_name(v) != 'global_step']


def _describe(name, shape, stored):
    return f'{name} {shape} (missing)' if stored is None else f'{name} {shape} (checkpoint has {stored})'


def _mismatch_error(ckpt, problems, hint=''):
    named = '; '.join(problems[:MAX_NAMED])
    more = f' and {len(problems) - MAX_NAMED} more' if len(problems) > MAX_NAMED else ''
    return UserError(f'{ckpt}: does not match the model: {named}{more}{hint}')


def is_training_state(name):
    """Whether a checkpoint entry is optimiser or step state rather than a model variable."""
    return name in TRAINING_STATE or name.rsplit('/', 1)[-1] in OPTIMIZER_SLOTS


def unused_variables(stored, var_list):
    """Model variables stored in a checkpoint that the graph does not have (training state aside)."""
    used = {variable_name(v) for v in var_list}
    return sorted(name for name in stored if name not in used and not is_training_state(name))


def _unused_error(ckpt, unused):
    """The error for a checkpoint with model variables the graph would silently leave unused."""
    flags = [flag for prefix, flag in OPTIONAL_PARTS if any(name.startswith(prefix) for name in unused)]
    hint = f'; it was trained with {" ".join(flags)}: pass it' if flags else ''
    named = ', '.join(unused[:MAX_NAMED]) + (f' and {len(unused) - MAX_NAMED} more' if len(unused) > MAX_NAMED else '')
    return UserError(f'{ckpt}: holds {len(unused)} model variables the chosen model does not use ({named}){hint}')


def check_restorable(ckpt, var_list=None):
    """Check that `ckpt` holds every variable of `var_list` (default: the graph's model variables) with its shape,
    and no model variable the graph lacks (a v3+ checkpoint run without its decoder would still load)."""
    var_list = model_variables() if var_list is None else var_list
    stored = checkpoint_shapes(ckpt)
    problems = [_describe(v.op.name, v.shape.as_list(), stored.get(v.op.name)) for v in var_list
                if stored.get(v.op.name) != v.shape.as_list()]
    if problems:
        missing = sum(v.op.name not in stored for v in var_list)
        hint = (' (most of the model is missing: do the model flags, e.g. --model_variant or '
                '--decoder_output_stride, describe this checkpoint?)' if missing > len(var_list) // 2 else '')
        raise _mismatch_error(ckpt, problems, hint)
    unused = unused_variables(stored, var_list)
    if unused:
        raise _unused_error(ckpt, unused)
    return var_list


def restore_saver(ckpt, var_list=None):
    """A Saver restoring `var_list` (default: all model variables) from `ckpt`, after `check_restorable`."""
    return tf1.train.Saver({v.op.name: v for v in check_restorable(ckpt, var_list)})


def freeze(session, graph, output_names):
    """`graph`'s GraphDef with the variables of `session` as constants, cut to what `output_names` need: what the
    graph computes from the weights alone (batch norm folded into kernels, casts to the compute dtype) then folds
    into constants once, not at every run."""
    with deprecation.silence():
        return tf1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), list(output_names))


def warm_start_assignment(ckpt, backbone_scope):
    """The model variables to take from a pre-trained checkpoint, by name, after checking it fits.

    Every backbone variable must be there with its shape (else a clear error); head variables are taken when
    the checkpoint has them (a DeepLab model-zoo checkpoint) and start fresh otherwise (an ImageNet one);
    logits of another class count are re-initialised. Model variables the graph lacks are an error, except
    the backbone's own ImageNet classifier (`<backbone>/logits`), which DeepLab never uses.
    Returns ({name: variable}, [names initialised fresh]).
    """
    stored = checkpoint_shapes(ckpt)
    if not any(name.startswith(backbone_scope + '/') for name in stored):
        raise UserError(f'{ckpt}: holds no {backbone_scope} variables; it does not match the chosen '
                        f'--model_variant {backbone_scope}')
    assignment, problems, skipped = {}, [], []
    for var in model_variables():
        name, shape = variable_name(var), var.shape.as_list()
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
    unused = [name for name in unused_variables(stored, model_variables())
              if not name.startswith(f'{backbone_scope}/logits/')]
    if unused:
        raise _unused_error(ckpt, unused)
    return assignment, skipped


def warm_start(ckpt, backbone_scope):
    """Initialise model variables from a pre-trained checkpoint by name (see `warm_start_assignment`)."""
    ckpt = resolve_checkpoint(ckpt)
    assignment, skipped = warm_start_assignment(ckpt, backbone_scope)
    tf1.logging.info('Warm start from %s: %d variables taken, %d initialised fresh (%s...)',
                     ckpt, len(assignment), len(skipped), ', '.join(skipped[:3]))
    stored = checkpoint_shapes(ckpt)
    resized = [var for var in model_variables() if var.op.name in skipped and var.op.name in stored]
    if resized:  # only logits get here: any other shape mismatch is an error of warm_start_assignment
        tf1.logging.info('Warm start: the logits of %s are for %d classes, the model has %d: %s re-initialised.',
                         ckpt, stored[resized[0].op.name][-1], resized[0].shape[-1],
                         ' and '.join(var.op.name for var in resized))
    tf1.train.init_from_checkpoint(ckpt, {name: name for name in assignment})
    return sorted(assignment)
