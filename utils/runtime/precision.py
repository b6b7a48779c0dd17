"""The network's arithmetic under --precision: its compute dtype, whether this machine runs it natively, and the
float16 loss scaling.

Variables stay float32 in every precision (nets.layers casts them to the compute dtype of their inputs; batch
norm keeps float32 parameters and statistics), and logits return to float32 before the resize, softmax and loss,
so a checkpoint trained in one precision restores and predicts in any other.
"""
import functools
import logging

import tensorflow as tf

from utils.runtime.model_config import DEFAULT_PRECISION

tf1 = tf.compat.v1
COMPUTE_DTYPES = {'float32': tf.float32, 'bfloat16': tf.bfloat16, 'float16': tf.float16}
# The x86 instruction sets with bfloat16 arithmetic (/proc/cpuinfo flags): AVX512-BF16 (Intel Cooper Lake and
# later, AMD Zen 4 and later) and AMX (Intel Sapphire Rapids and later).
NATIVE_BFLOAT16_FLAGS = ('avx512_bf16', 'amx_bf16')


def precision_of(params):
    """The --precision a params dict asks for (float32 when unset)."""
    return params.get('precision') or DEFAULT_PRECISION


def compute_dtype(params):
    """The dtype the network's convolutions run in."""
    return COMPUTE_DTYPES[precision_of(params)]


def cpu_flags(path='/proc/cpuinfo'):
    """The instruction-set flags of this machine's CPU (empty where /proc/cpuinfo does not exist)."""
    try:
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_enabled():
    """Whether TensorFlow runs oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, on by default on x86)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False


@functools.lru_cache(maxsize=None)
def slow_precision_note(precision, instruction_sets=None, onednn=None, gpu=None):
    """One line saying why `precision` gains nothing over float32 here, or None where it runs natively: bfloat16
    needs a GPU or oneDNN on a CPU with AVX512-BF16 or AMX; float16 needs a GPU (on a CPU it is slower)."""
    instruction_sets = cpu_flags() if instruction_sets is None else instruction_sets
    onednn = onednn_enabled() if onednn is None else onednn
    gpu = bool(tf.config.list_physical_devices('GPU')) if gpu is None else gpu
    if gpu or precision == 'float32':
        return None
    if precision == 'float16':
        return ('--precision float16 without a GPU: TensorFlow has no fast float16 convolutions on CPUs and converts '
                'to float32 for every product, slower than float32 (float16 is for GPUs; on a CPU use bfloat16)')
    missing = [flag for flag in NATIVE_BFLOAT16_FLAGS if flag not in instruction_sets]
    if len(missing) == len(NATIVE_BFLOAT16_FLAGS):
        return (f'--precision bfloat16: this CPU has neither {" nor ".join(NATIVE_BFLOAT16_FLAGS)}, so it has no '
                'bfloat16 arithmetic: expect no gain over float32')
    if not onednn:
        return ('--precision bfloat16 with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0): TensorFlow\'s own kernels convert '
                'bfloat16 to float32 for every product, no faster than float32 (BENCHMARKS.md)')
    return None


@functools.lru_cache(maxsize=None)
def warn_if_slow(precision):
    """Log slow_precision_note's line, once per process, as a warning, where there is one."""
    note = slow_precision_note(precision)
    if note:
        logging.getLogger('tensorflow').warning(note)
    return note


def loss_scaled(optimizer, precision):
    """The optimizer, under dynamic loss scaling in float16 (whose small gradients would flush to zero);
    bfloat16 has float32's range and needs none. The scale's state is a local variable, not checkpointed, so
    checkpoints hold the same variables in every precision; a resumed float16 run restarts from the initial
    scale, which dynamic scaling lowers within a few steps where it overflows."""
    if precision != 'float16':
        return optimizer
    with tf.variable_creator_scope(_local_variable):
        return tf1.mixed_precision.MixedPrecisionLossScaleOptimizer(optimizer, 'dynamic')


def _local_variable(next_creator, **kwargs):
    kwargs['collections'] = [tf1.GraphKeys.LOCAL_VARIABLES]
    return next_creator(**kwargs)
