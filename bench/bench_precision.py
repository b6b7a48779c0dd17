"""--precision speed: this suite's inference and training step in each precision against the hardware floor (the
float32 and bfloat16 GEMM rates) and torchvision's DeepLabV3-R101 at the same shapes, in one run, interleaved.

Workloads (random weights, nothing downloaded), DeepLabv3 ResNet-v2-101 OS16 (ASPP 6 12 18):
  infer  deeplab_model.predict_probabilities on one 513x513 image (no padding: 513 is the eval crop);
  train  one training step as model_fn takes it: cross-entropy + weight decay, poly MomentumOptimizer after the
         batch-norm updates, batch 2 of 513x513 crops;
  gemm   a 4096x4096x4096 matrix product (137 GFLOP) in float32 and in bfloat16: the rate that sets the floor,
         floor = the workload's float operations (TensorFlow's profiler on our graph; a training step counts 3x
         the forward pass per image) / that rate.
Inference runs as CheckpointPredictor runs it: batch norm folded into the convolutions, the weights frozen into
constants; the 'unfolded' rows build it as before that (batch norm after each convolution, weights read and cast
from variables at every run), for comparison in the same run.
Configurations: float32, bfloat16 (--precision, explicit casts; atrous convolutions by tap products, as the suite
runs them), 'bfloat16 native dilation' (oneDNN's dilated kernels instead), 'bfloat16 grappler' (a float32 graph with
TensorFlow's auto_mixed_precision_onednn_bfloat16 pass on the session, for comparison), float16 (emulated on a
CPU), and oneDNN off for float32 and bfloat16 (TF_ENABLE_ONEDNN_OPTS=0). torchvision's model (ResNet-101 with
the last stage dilated, OS16, DeepLabHead with rates 6 12 18, 21 classes) runs in float32 and under
torch.autocast(bfloat16) when --peer_python names an interpreter with torch and torchvision (default
/tmp/peer/bin/python); skipped with a note otherwise. Every configuration is its own process (the oneDNN switch
is read once at start), warmed up once, then timed in turn for --repeats rounds.

Usage: .venv/bin/python bench/bench_precision.py [--repeats 5] [--workloads infer train gemm]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import cell, cpu_flags_of_interest, cpu_model, interleave, median, ratio, serve  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE, TRAIN_BATCH, GEMM_N = 513, 2, 4096
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peer_torchvision.py')
# label -> (precision, TF_ENABLE_ONEDNN_OPTS, grappler bfloat16 pass, inference as the suite runs it: batch norm
# folded into the convolutions and the weights frozen into constants; False: as before, batch norm after each
# convolution and weights read and cast from variables at every run; bfloat16 atrous convolutions by tap products
# as the suite runs them; False: oneDNN's dilated kernels, as before)
TF_CONFIGS = {
    'float32': ('float32', '1', False, True, True),
    'bfloat16': ('bfloat16', '1', False, True, True),
    'float32 unfolded': ('float32', '1', False, False, True),
    'bfloat16 unfolded': ('bfloat16', '1', False, False, True),
    'bfloat16 native dilation': ('bfloat16', '1', False, True, False),
    'bfloat16 grappler': ('float32', '1', True, True, True),
    'float16': ('float16', '1', False, True, True),
    'float32 oneDNN off': ('float32', '0', False, True, True),
    'bfloat16 oneDNN off': ('bfloat16', '0', False, True, True),
}
WORKLOAD_CONFIGS = {
    'infer': list(TF_CONFIGS),
    'train': ['float32', 'bfloat16', 'bfloat16 native dilation'],
    'gemm': ['float32', 'bfloat16'],
}


def session_config(grappler_bfloat16):
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2
    config = tf.compat.v1.ConfigProto()
    if grappler_bfloat16:
        rewrite = config.graph_options.rewrite_options
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
    return config


def build_tf(workload, precision, grappler, folded, tap_products=True):
    """run() of one TensorFlow workload in a session, variables initialised (inference: batch-norm statistics
    drawn at random, so the folded biases are not zero; `folded`, frozen as CheckpointPredictor runs it;
    `tap_products` False: bfloat16 atrous convolutions by oneDNN's dilated kernels)."""
    import numpy as np
    import tensorflow as tf

    import deeplab_model
    from utils.runtime.checkpoints import freeze
    from utils.runtime.model_config import resolve_model_params
    tf1 = tf.compat.v1
    rng = np.random.default_rng(0)
    if not folded:
        unfolded = deeplab_model.batch_norm_config
        deeplab_model.batch_norm_config = lambda params, training: unfolded(params, training)._replace(fold=False)
    if not tap_products:
        from nets import layers
        layers._tap_products_apply = lambda *args: False  # pylint: disable=protected-access
    graph = tf.Graph()
    with graph.as_default():
        if workload == 'gemm':
            dtype = {'float32': tf.float32, 'bfloat16': tf.bfloat16}[precision]
            a, b = (tf1.Variable(tf.cast(tf.constant(rng.standard_normal((GEMM_N, GEMM_N)).astype(np.float32)),
                                         dtype)) for _ in range(2))
            product = tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))
            feed, fetch = {}, product
        else:
            from workloads import deeplab_step
            params = dict(resolve_model_params({'model_variant': 'resnet_v2_101', 'output_stride': 16}),
                          precision=precision)
            fetch, feed = deeplab_step(params, workload == 'train', TRAIN_BATCH if workload == 'train' else 1,
                                       SIDE)
        sess = tf1.Session(graph=graph, config=session_config(grappler))
        sess.run(tf1.global_variables_initializer())
        if workload == 'infer':
            for var in tf1.global_variables():
                if var.op.name.endswith(('moving_mean', 'beta')):
                    var.load(rng.normal(0, 0.1, var.shape).astype(np.float32), sess)
    if workload == 'infer' and folded:
        frozen = freeze(sess, graph, [fetch.op.name])
        sess.close()
        graph = tf.Graph()
        with graph.as_default():
            tf1.import_graph_def(frozen, name='')
        fetch = graph.get_tensor_by_name(fetch.name)
        feed = {graph.get_tensor_by_name(key.name): value for key, value in feed.items()}
        sess = tf1.Session(graph=graph, config=session_config(grappler))
    return lambda: sess.run(fetch, feed)


def tf_worker(workload, label):
    sys.path.insert(0, ROOT)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf

    from utils.runtime.precision import onednn_enabled
    precision, _, grappler, folded, tap_products = TF_CONFIGS[label]
    return serve(lambda: build_tf(workload, precision, grappler, folded, tap_products),
                 {'onednn': onednn_enabled(), 'tf': tf.__version__})


def forward_gflop():
    """Float operations of one 513x513 forward pass of the benchmarked network, in GFLOP (profiler count)."""
    sys.path.insert(0, ROOT)
    from count_flops import forward_flops
    return forward_flops({'model_variant': 'resnet_v2_101', 'output_stride': 16}, SIDE) / 1e9


def specs_for(workload, peer_python):
    specs = {}
    for label in WORKLOAD_CONFIGS[workload]:
        env = {'TF_ENABLE_ONEDNN_OPTS': TF_CONFIGS[label][1], 'TF_CPP_MIN_LOG_LEVEL': '2'}
        specs[label] = ([sys.executable, os.path.abspath(__file__), '--worker', workload, '--config', label], env)
    if peer_python and workload in ('infer', 'train'):
        for precision in ('float32', 'bfloat16'):
            specs[f'torchvision {precision}'] = ([peer_python, PEER, '--workload', workload, '--precision', precision,
                                                  '--side', str(SIDE), '--batch', str(TRAIN_BATCH)], {})
    return specs


def peer_note(peer_python):
    """None when `peer_python` runs torch and torchvision, else why the peer is skipped."""
    import subprocess
    if not peer_python or not os.path.exists(peer_python):
        return f'torchvision peer skipped: no interpreter at {peer_python}'
    probe = subprocess.run([peer_python, '-c', 'import torch, torchvision; print(torch.__version__, '
                            'torchvision.__version__)'], capture_output=True, text=True)
    if probe.returncode:
        return f'torchvision peer skipped: {peer_python} cannot import torch and torchvision'
    return None


def table(results, gflop, log):
    """Markdown rows: workload, configuration, median / min seconds, against float32, against the floor of its
    precision, against torchvision in the same precision."""
    gemm = results.get('gemm', {})
    rates = {p: 2 * GEMM_N ** 3 / 1e9 / median(gemm.get(p)) for p in ('float32', 'bfloat16') if median(gemm.get(p))}
    lines = ['| workload | configuration | median / min (s) | x float32 | floor (s) | x floor | x torchvision same '
             'precision |', '| --- | --- | --- | --- | --- | --- | --- |']
    for workload, label_results in results.items():
        if workload == 'gemm':
            for label, info in label_results.items():
                rate = rates.get(label)
                lines.append(f'| gemm {GEMM_N}^3 | {label} | {cell(info)} | | | | {rate:.0f} GFLOP/s |'
                             if rate else f'| gemm | {label} | {cell(info)} | | | | |')
            continue
        flop = gflop * (3 * TRAIN_BATCH if workload == 'train' else 1)
        base = median(label_results.get('float32'))
        for label, info in label_results.items():
            seconds = median(info)
            arithmetic = 'bfloat16' if 'bfloat16' in label else 'float32'
            floor = flop / rates[arithmetic] if arithmetic in rates else None
            peer = median(label_results.get(f'torchvision {arithmetic}'))
            lines.append(' | '.join([
                f'| {workload}', label, cell(info), ratio(seconds, base), f'{floor:.2f}' if floor else '-',
                ratio(seconds, floor), '-' if label.startswith('torchvision') else ratio(seconds, peer)]) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=5, help='Timed rounds after the warm-up (default: 5).')
    parser.add_argument('--workloads', nargs='+', choices=list(WORKLOAD_CONFIGS), default=list(WORKLOAD_CONFIGS),
                        help='What to time (default: all).')
    parser.add_argument('--peer_python', default='/tmp/peer/bin/python',
                        help='Interpreter with torch and torchvision for the peer rows (default: %(default)s).')
    parser.add_argument('--json', default=None, help='Also write every time to this JSON file.')
    parser.add_argument('--worker', choices=list(WORKLOAD_CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument('--config', choices=list(TF_CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return tf_worker(args.worker, args.config)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    note = peer_note(args.peer_python)
    peer = None if note else args.peer_python
    start, load_before = datetime.datetime.now(), os.getloadavg()
    results = {w: interleave(specs_for(w, peer), args.repeats, log, w) for w in args.workloads}
    end, load_after = datetime.datetime.now(), os.getloadavg()
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores, flags {" ".join(cpu_flags_of_interest())}; '
          f'{start:%Y-%m-%d %H:%M}-{end:%H:%M}; load average (1/5/15 min) before '
          f'{"/".join(f"{x:.1f}" for x in load_before)}, after {"/".join(f"{x:.1f}" for x in load_after)}')
    onednn = {label: info.get('onednn') for w in results.values() for label, info in w.items() if 'onednn' in info}
    print(f'oneDNN really on: {json.dumps(onednn)}')
    if note:
        print(note)
    gflop = forward_gflop()
    print(f'forward pass {gflop:.1f} GFLOP; seconds per run, median / min of {args.repeats} rounds')
    print(table(results, gflop, log))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump({'results': results, 'gflop': gflop, 'cpu': cpu_model()}, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
