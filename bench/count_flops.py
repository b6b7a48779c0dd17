"""Forward-pass FLOPs of the models the reproduction runs, counted by TensorFlow's profiler on our graphs: the
figures behind README's GPU wall-time estimate ("What to expect").

Random weights, nothing run: the profiler sums the float operations of every op (a multiply-add counts 2).
Usage: .venv/bin/python bench/count_flops.py
"""
import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf

import deeplab_model
from utils.runtime.model_config import resolve_model_params

tf1 = tf.compat.v1
# (name, model description, square input side)
MODELS = (
    ('DeepLabv3 ResNet-v2-101 OS16, 513x513', {'model_variant': 'resnet_v2_101'}, 513),
    ('DeepLabv3 ResNet-v2-101 OS16, 321x321', {'model_variant': 'resnet_v2_101'}, 321),
    ('DeepLabv3 ResNet-v2-101 OS8, 513x513', {'model_variant': 'resnet_v2_101', 'output_stride': 8}, 513),
    ('DeepLabv3+ Xception-65 OS8 + decoder, 513x513',
     {'model_variant': 'xception_65', 'output_stride': 8, 'decoder_output_stride': 4}, 513),
)


def forward_flops(description, side):
    """Float operations of one forward pass of the network on a [1, side, side, 3] input."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, side, side, 3])
        deeplab_model.network_logits(images, resolve_model_params(description), training=False)
        options = tf1.profiler.ProfileOptionBuilder.float_operation()
        options['output'] = 'none'
        return tf1.profiler.profile(graph, options=options).total_float_ops


def main(argv=None):
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    for name, description, side in MODELS:
        print(f'{name}: {forward_flops(description, side) / 1e9:.1f} GFLOP')
    return 0


if __name__ == '__main__':
    sys.exit(main())
