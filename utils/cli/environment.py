"""TensorFlow's environment defaults, set by every script that runs TensorFlow before its first import."""
import os


def tensorflow_defaults():
    """Quiet C++ start-up logs, and oneDNN on whatever the CPU (a training step measured 7x faster than without
    it: BENCHMARKS.md, "CPU kernels"). A user's own TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS wins."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
