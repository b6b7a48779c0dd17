"""Shared building blocks of the DeepLab / CRF script suite (VOC I/O, records, metrics, CRF, voting, flags)."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # keep TensorFlow's C++ start-up chatter out of the shell
# oneDNN on by default, whatever the CPU: a training step measured 7x faster than without it
# (BENCHMARKS.md, "CPU kernels").
# Set before TensorFlow is first imported; a user's own TF_ENABLE_ONEDNN_OPTS wins.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
