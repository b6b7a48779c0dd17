"""bfloat16 atrous convolution: oneDNN's dilated kernel against tap products (nets.layers.tap_products_conv2d),
the forward pass, the input's gradient and the kernel's gradient apart, at each rate (--dtype float32: the same
in float32, where the suite keeps the native kernels).

Shape: ASPP's 3x3 convolution of DeepLabv3 ResNet-101 OS16 at the 513 training crop: a batch of 2 maps of 33x33
with 2048 channels to 256. Tap products compute the forward pass and the kernel's gradient as one matrix
product per tap over the outputs the tap reaches; their input gradient is the native kernel's, so that column
is timed once. Everything runs in one process and session (oneDNN on, as the suite's default), each
(rate, part, method) once per round, interleaved, --repeats rounds after a warm-up.

Usage: .venv/bin/python bench/bench_atrous_bfloat16.py [--repeats 5] [--rates 2 3 6 12 18] [--dtype float32]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import cpu_flags_of_interest, cpu_model, median, ratio  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, SIDE, CHANNELS, OUTPUTS = 2, 33, 2048, 256


def build(rates, dtype):
    """{(rate, part, method): fetch} in a new session, computing in `dtype`; returns (session, fetches)."""
    import numpy as np
    import tensorflow as tf

    from nets import layers
    tf1 = tf.compat.v1
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    fetches = {}
    with graph.as_default():
        def variable(shape, scale=1.0):
            return tf.cast(tf1.Variable((rng.standard_normal(shape) * scale).astype(np.float32)), dtype)
        inputs = variable((BATCH, SIDE, SIDE, CHANNELS))
        kernel = variable((3, 3, CHANNELS, OUTPUTS), 0.01)
        output_gradient = variable((BATCH, SIDE, SIDE, OUTPUTS))
        for rate in rates:
            for method, conv in (('native', tf.nn.conv2d(inputs, kernel, 1, 'SAME', dilations=rate)),
                                 ('tap products', layers.tap_products_conv2d(inputs, kernel, rate))):
                input_gradient, kernel_gradient = tf.gradients(conv, [inputs, kernel], grad_ys=output_gradient)
                parts = {'forward': conv, 'kernel gradient': kernel_gradient}
                if method == 'native':
                    parts['input gradient'] = input_gradient
                for part, tensor in parts.items():
                    fetches[rate, part, method] = tf.reduce_sum(tf.cast(tensor, tf.float32))
        session = tf1.Session(graph=graph)
        session.run(tf1.global_variables_initializer())
    return session, fetches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=5, help='Timed rounds after the warm-up (default: 5).')
    parser.add_argument('--rates', type=int, nargs='+', default=[2, 3, 6, 12, 18],
                        help='Atrous rates (default: %(default)s).')
    parser.add_argument('--dtype', choices=['bfloat16', 'float32'], default='bfloat16',
                        help='Arithmetic (default: %(default)s).')
    args = parser.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    sys.path.insert(0, ROOT)
    import tensorflow as tf
    session, fetches = build(args.rates, tf.as_dtype(args.dtype))
    results = {key: {'times': []} for key in fetches}
    for fetch in fetches.values():
        session.run(fetch)
    for _ in range(args.repeats):
        for key, fetch in fetches.items():
            begin = time.perf_counter()
            session.run(fetch)
            results[key]['times'].append(time.perf_counter() - begin)
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores, flags {" ".join(cpu_flags_of_interest())}; {args.dtype}, '
          f'{BATCH}x{SIDE}x{SIDE}x{CHANNELS} -> {OUTPUTS}, 3x3; ms, median / min of {args.repeats} rounds')
    print('| rate | forward native | forward tap products | x | kernel gradient native | kernel gradient tap '
          'products | x | input gradient (native) |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')

    def cell(key):
        return f'{1e3 * median(results[key]):.1f} / {1e3 * min(results[key]["times"]):.1f}'

    def speedup(rate, part):
        return ratio(median(results[rate, part, 'native']), median(results[rate, part, 'tap products']))
    for rate in args.rates:
        print(f'| {rate} | {cell((rate, "forward", "native"))} | {cell((rate, "forward", "tap products"))} | '
              f'{speedup(rate, "forward")} | {cell((rate, "kernel gradient", "native"))} | '
              f'{cell((rate, "kernel gradient", "tap products"))} | {speedup(rate, "kernel gradient")} | '
              f'{cell((rate, "input gradient", "native"))} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
