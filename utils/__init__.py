"""Shared building blocks of the DeepLab / CRF script suite (VOC I/O, records, metrics, CRF, voting, flags)."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # keep TensorFlow's C++ start-up chatter out of the shell
