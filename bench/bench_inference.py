"""Inference cost per 513x513 image: DeepLabv3 (ResNet-v2-101, OS16) against DeepLabv3+ (Xception-65, OS16,
decoder 4), each single-scale and with 6-scale + flip test-time augmentation, in one run.

Random weights (nothing downloaded); each configuration is one graph built by deeplab_model.predict_probabilities,
warmed up once, then timed `--repeats` times with the configurations interleaved. Ratios are against
single-scale v3 measured in the same run.
Usage: .venv/bin/python bench/bench_inference.py [--repeats 3]
"""
import argparse
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import tensorflow as tf

import deeplab_model
from utils.cli.flags import add_model_flags, model_params

tf1 = tf.compat.v1
SIZE = 513
TTA_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
MODELS = (('v3  resnet_v2_101 OS16', ['--model_variant', 'resnet_v2_101']),
          ('v3+ xception_65 OS16 dec4', ['--model_variant', 'xception_65', '--decoder_output_stride', '4']))


def params_for(flags):
    """Model params exactly as the command-line tools derive them from these flags."""
    parser = argparse.ArgumentParser()
    add_model_flags(parser)
    return model_params(parser.parse_args(flags + ['--output_stride', '16']))


def start(params, scales, flip):
    """A session over one configuration's graph, warmed up once; returns run() -> seconds for one image."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, SIZE, SIZE, 3])
        probabilities = deeplab_model.predict_probabilities(images, params, scales, flip)
        sess = tf1.Session(graph=graph)
        sess.run(tf1.global_variables_initializer())
    feed = {images: np.random.default_rng(0).uniform(0, 255, (1, SIZE, SIZE, 3))}
    sess.run(probabilities, feed)

    def run():
        begin = time.perf_counter()
        sess.run(probabilities, feed)
        return time.perf_counter() - begin
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=3,
                        help='Timed runs per configuration, interleaved so machine load hits all alike (default: 3).')
    args = parser.parse_args(argv)
    configs = {(name, tta): start(params_for(flags), TTA_SCALES if tta else (1.0,), tta)
               for name, flags in MODELS for tta in (False, True)}
    times = {key: [] for key in configs}
    for _ in range(args.repeats):
        for key, run in configs.items():
            times[key].append(run())
    median = {key: float(np.median(values)) for key, values in times.items()}
    baseline = median[(MODELS[0][0], False)]
    print(f'seconds per {SIZE}x{SIZE} image (median of {args.repeats}), {os.cpu_count()} CPU cores, random weights')
    print(f'{"model":28s} {"1 scale s":>10s} {"vs v3":>7s} {"6sc+flip s":>11s} {"vs v3":>7s} {"TTA factor":>11s}')
    for name, _ in MODELS:
        single, tta = median[(name, False)], median[(name, True)]
        print(f'{name:28s} {single:10.2f} {single / baseline:7.2f} {tta:11.2f} {tta / baseline:7.2f} '
              f'{tta / single:11.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
