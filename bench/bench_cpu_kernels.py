"""CPU kernels: oneDNN on/off x atrous convolution native (tf.nn.conv2d with dilations) / space-to-batch
(tf.nn.convolution), for a forward pass and a training step of DeepLabv3, each configuration in its own process.

TF_ENABLE_ONEDNN_OPTS is read once when TensorFlow starts, so every (configuration, workload) is one worker
process (this script with --worker) started with the variable set; the worker forces the atrous path by
replacing `nets.layers.native_dilation` before it builds the graph, and reports IsMklEnabled() so the table
shows whether oneDNN really was on. Workers build their graph and run it once (warm-up, not timed), then wait;
the parent asks them for one timed run each in turn, `--repeats` rounds, so machine load hits all alike.
At most one workload's workers are alive at a time.

Workloads (random weights, nothing downloaded):
  forward   deeplab_model.predict_probabilities, DeepLabv3 ResNet-v2-101 OS16 (multi-grid 1 2 4, ASPP 6 12 18),
            one 513x513 image, training=False.
  train     one step as model_fn trains: softmax cross-entropy on deeplab_model.upsampled_logits (training=True)
            plus weight decay, MomentumOptimizer (poly learning rate) minimised after UPDATE_OPS; ResNet-v2-101
            OS16, batch 2 of 321x321 crops (smaller than the paper's 513 batch 16, which does not fit the time
            on 2 cores).
  xception  as forward, DeepLabv3+ Xception-65 OS16 + decoder 4 (on with --workloads ... xception).
oneDNN off + native has no gradient kernel on CPU: its training step is run anyway and reported as failing,
with the error's first line.

Usage: .venv/bin/python bench/bench_cpu_kernels.py [--repeats 3] [--workloads forward train [xception]]
"""
import argparse
import datetime
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import cpu_model, interleave, serve  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (label, TF_ENABLE_ONEDNN_OPTS, native dilation); the first is the default that ratios are taken against.
CONFIGS = (('oneDNN on + native', '1', True),
           ('oneDNN on + space_to_batch', '1', False),
           ('oneDNN off + space_to_batch', '0', False),
           ('oneDNN off + native', '0', True))
WORKLOADS = {
    'forward': ('forward 513 (s)', ['--model_variant', 'resnet_v2_101'], 1, 513),
    'train': ('train step 2x321 (s)', ['--model_variant', 'resnet_v2_101'], 2, 321),
    'xception': ('v3+ Xception-65 dec4 forward 513 (s)',
                 ['--model_variant', 'xception_65', '--decoder_output_stride', '4'], 1, 513),
}
def build(workload):
    """The workload's graph in a session, variables initialised; returns run() -> None for one step."""
    import tensorflow as tf
    from workloads import deeplab_step

    from utils.cli.flags import add_model_flags, model_params

    tf1 = tf.compat.v1
    _, flags, batch, size = WORKLOADS[workload]
    parser = argparse.ArgumentParser()
    add_model_flags(parser)
    params = model_params(parser.parse_args(flags + ['--output_stride', '16']), saved={})
    graph = tf.Graph()
    with graph.as_default():
        fetch, feed = deeplab_step(params, workload == 'train', batch, size)
        sess = tf1.Session(graph=graph)
        sess.run(tf1.global_variables_initializer())
    return lambda: sess.run(fetch, feed)


def worker(workload, native):
    """One (configuration, workload): build, warm up, then one timed run per 'run' line on stdin."""
    sys.path.insert(0, ROOT)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    from nets import layers

    info = {'mkl': bool(_pywrap_util_port.IsMklEnabled()), 'tf': tf.__version__,
            'native_by_default': layers.native_dilation(),
            'onednn_env': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}
    layers.native_dilation = lambda dtype=None: native  # atrous_conv2d looks the function up at each call
    return serve(lambda: build(workload), info)  # 'oneDNN off + native' cannot train: reported, not hidden


def measure(workload, repeats, log):
    """{label: info dict with 'times' or 'error'} for one workload, configurations interleaved."""
    specs = {label: ([sys.executable, os.path.abspath(__file__), '--worker', workload, '--native', str(int(native))],
                     {'TF_ENABLE_ONEDNN_OPTS': onednn, 'TF_CPP_MIN_LOG_LEVEL': '2'})
             for label, onednn, native in CONFIGS}
    return interleave(specs, repeats, log, workload)


def cell(info):
    """'median / min' seconds, or the failure."""
    if info is None:
        return ''
    if 'error' in info:
        return f'fails: `{info["error"]}`'
    return f'{statistics.median(info["times"]):.2f} / {min(info["times"]):.2f}'


def ratio(info, baseline):
    if info is None or 'error' in info or baseline is None or 'error' in baseline:
        return '-'
    return f'{statistics.median(info["times"]) / statistics.median(baseline["times"]):.2f}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=3,
                        help='Timed runs per configuration after the warm-up, interleaved (default: 3).')
    parser.add_argument('--workloads', nargs='+', choices=list(WORKLOADS), default=['forward', 'train'],
                        help='What to time (default: forward train; xception adds v3+ Xception-65 forward).')
    parser.add_argument('--worker', choices=list(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument('--native', type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, bool(args.native))

    def log(text):
        print(text, file=sys.stderr, flush=True)

    start, load_before = datetime.datetime.now(), os.getloadavg()
    results = {workload: measure(workload, args.repeats, log) for workload in args.workloads}
    end, load_after = datetime.datetime.now(), os.getloadavg()
    first = next(iter(next(iter(results.values())).values()))
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {first.get("tf")}; '
          f'{start:%Y-%m-%d %H:%M}-{end:%H:%M}; load average (1/5/15 min) before '
          f'{"/".join(f"{x:.1f}" for x in load_before)}, after {"/".join(f"{x:.1f}" for x in load_after)}')
    chosen = {label: info.get('native_by_default') for label, info in results[args.workloads[0]].items()}
    print(f'native_dilation() unpatched, TF_ENABLE_ONEDNN_OPTS=1: {chosen[CONFIGS[0][0]]}, '
          f'=0: {chosen[CONFIGS[2][0]]}')
    print(f'seconds per run, median / min of {args.repeats} (warm-up excluded); ratio = median / median of '
          f'{CONFIGS[0][0]}, same workload')
    header = ['config', 'oneDNN really on'] + [f'{WORKLOADS[w][0]} median / min' for w in args.workloads] + \
        [f'ratio {w}' for w in args.workloads]
    print('| ' + ' | '.join(header) + ' |')
    print('|' + ' --- |' * len(header))
    for label, _, _ in CONFIGS:
        infos = [results[w].get(label) for w in args.workloads]
        mkl = next((info['mkl'] for info in infos if info and 'mkl' in info), None)
        row = [label, 'yes' if mkl else 'no'] + [cell(info) for info in infos] + \
            [ratio(info, results[w][CONFIGS[0][0]]) for w, info in zip(args.workloads, infos)]
        print('| ' + ' | '.join(row) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
