"""Exported-graph speed: this suite's inference (TensorFlow on the frozen graph export_model.py writes) against
OpenVINO and ONNX Runtime (through tf2onnx) on the same graph, in float32 and bfloat16, in one run, interleaved.

Workload (random weights, nothing downloaded): DeepLabv3 ResNet-v2-101 OS16 (ASPP 6 12 18) exported at
--eval_crop_size 513 513, one 513x513 image per run, labels and probabilities fetched. Configurations:
  ours              TensorFlow, a session over the float32 export, or over the --precision bfloat16 export;
  OpenVINO          the float32 export on the CPU with INFERENCE_PRECISION_HINT f32, or bf16 (OpenVINO's own
                    bfloat16, the recommended path); also the bfloat16 export itself;
  ONNX Runtime      tf2onnx's conversion of the float32 export, and of the bfloat16 export.
Each runtime uses its default threads. A runtime that is not installed is skipped with a note; a configuration
that cannot run is a row saying why. Every configuration is its own process, warmed up once, then timed in turn
for --repeats rounds; "x ours" is against TensorFlow in the same precision.

Usage: .venv/bin/python bench/bench_runtimes.py [--repeats 5] [--side 513] [--model_variant resnet_v2_101]
"""
import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import cell, cpu_flags_of_interest, cpu_model, interleave, median, ratio, serve  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRECISIONS = ('float32', 'bfloat16')
# label -> (runtime, export precision, compute precision)
CONFIGS = {
    'ours float32': ('tensorflow', 'float32', 'float32'),
    'ours bfloat16': ('tensorflow', 'bfloat16', 'bfloat16'),
    'OpenVINO float32': ('openvino', 'float32', 'float32'),
    'OpenVINO bfloat16 (f32 export, bf16 hint)': ('openvino', 'float32', 'bfloat16'),
    'OpenVINO bfloat16 export': ('openvino', 'bfloat16', 'bfloat16'),
    'ONNX Runtime float32': ('onnxruntime', 'float32', 'float32'),
    'ONNX Runtime bfloat16 export': ('onnxruntime', 'bfloat16', 'bfloat16'),
}
RUNTIME_MODULES = {'tensorflow': ('tensorflow',), 'openvino': ('openvino',),
                   'onnxruntime': ('onnxruntime', 'onnx', 'tf2onnx')}


def graph_path(folder, precision):
    return os.path.join(folder, f'frozen_{precision}.pb')


def prepare(folder, variant, side):
    """A seeded random checkpoint of `variant` in `folder`, exported in float32 and bfloat16 at side x side."""
    sys.path.insert(0, ROOT)
    from workloads import write_random_checkpoint

    import deeplab_model
    from utils.runtime import export
    from utils.runtime.model_config import resolve_model_params
    params = resolve_model_params({'model_variant': variant, 'output_stride': 16})
    model_dir = os.path.join(folder, 'model')
    write_random_checkpoint(model_dir, params)
    for precision in PRECISIONS:
        export.export(model_dir, graph_path(folder, precision), dict(params, precision=precision),
                      deeplab_model.predict_probabilities, [side, side])
    return 0


def build(label, folder, side):
    """run() of one configuration: one side x side image through the exported graph, both outputs fetched."""
    import numpy as np
    sys.path.insert(0, ROOT)
    runtime, export_precision, compute = CONFIGS[label]
    path = graph_path(folder, export_precision)
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    if runtime == 'tensorflow':
        import tensorflow as tf

        from utils.runtime import frozen_graph
        graph = frozen_graph.load_graph(path)
        fetches = [graph.get_tensor_by_name(name) for name in
                   (frozen_graph.OUTPUT_TENSOR, frozen_graph.PROBABILITIES_NAME + ':0')]
        feed = {graph.get_tensor_by_name(frozen_graph.INPUT_TENSOR): image[np.newaxis]}
        session = tf.compat.v1.Session(graph=graph)
        return lambda: session.run(fetches, feed)
    from utils.runtime import runtimes
    if runtime == 'openvino':
        predict = runtimes.openvino_predictor(path, compute)
    else:
        import tensorflow as tf
        graph_def = tf.compat.v1.GraphDef()
        with open(path, 'rb') as handle:
            graph_def.ParseFromString(handle.read())
        predict = runtimes.onnxruntime_predictor(runtimes.onnx_model(graph_def))
    return lambda: predict(image)


def worker(label, folder, side):
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    return serve(lambda: build(label, folder, side), {'runtime': CONFIGS[label][0]})


def missing_runtimes():
    """{runtime: note} for the runtimes whose modules are not installed here."""
    notes = {}
    for runtime, modules in RUNTIME_MODULES.items():
        absent = [module for module in modules if importlib.util.find_spec(module) is None]
        if absent:
            notes[runtime] = (f'{runtime} skipped: {", ".join(absent)} not installed '
                              '(pip install -r requirements-dev.txt)')
    return notes


def table(results):
    """Markdown rows: configuration, median / min seconds, against ours in the same precision and in float32."""
    lines = ['| configuration | median / min (s) | x ours same precision | x ours float32 |',
             '| --- | --- | --- | --- |']
    for label, info in results.items():
        seconds = median(info)
        same = median(results.get(f'ours {CONFIGS[label][2]}'))
        lines.append(f'| {label} | {cell(info)} | {ratio(seconds, same)} | '
                     f'{ratio(seconds, median(results.get("ours float32")))} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=5, help='Timed rounds after the warm-up (default: 5).')
    parser.add_argument('--side', type=int, default=513, help='Image side and eval crop (default: %(default)s).')
    parser.add_argument('--model_variant', default='resnet_v2_101', choices=['resnet_v2_50', 'resnet_v2_101'],
                        help='Backbone (default: %(default)s).')
    parser.add_argument('--json', default=None, help='Also write every time to this JSON file.')
    parser.add_argument('--worker', choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument('--prepare', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--folder', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        return prepare(args.folder, args.model_variant, args.side)
    if args.worker:
        return worker(args.worker, args.folder, args.side)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    notes = missing_runtimes()
    script = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory(prefix='bench_runtimes.') as folder:
        log(f'exporting a random {args.model_variant} in {", ".join(PRECISIONS)} at {args.side}x{args.side}')
        subprocess.run([sys.executable, script, '--prepare', '--folder', folder, '--side', str(args.side),
                        '--model_variant', args.model_variant], check=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
        # TF2ONNX_CATCH_ERRORS=FALSE: tf2onnx skips copying the whole graph before each optimiser (build time only)
        env = {'TF_CPP_MIN_LOG_LEVEL': '2', 'TF2ONNX_CATCH_ERRORS': 'FALSE'}
        specs = {label: ([sys.executable, script, '--worker', label, '--folder', folder, '--side', str(args.side)], env)
                 for label, (runtime, _, _) in CONFIGS.items() if runtime not in notes}
        start, load_before = datetime.datetime.now(), os.getloadavg()
        results = interleave(specs, args.repeats, log, 'runtimes')
        end, load_after = datetime.datetime.now(), os.getloadavg()
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores, flags {" ".join(cpu_flags_of_interest())}; '
          f'{start:%Y-%m-%d %H:%M}-{end:%H:%M}; load average (1/5/15 min) before '
          f'{"/".join(f"{x:.1f}" for x in load_before)}, after {"/".join(f"{x:.1f}" for x in load_after)}')
    versions = {module: _version(module) for modules in RUNTIME_MODULES.values() for module in modules}
    print('versions: ' + ', '.join(f'{module} {version}' for module, version in versions.items() if version))
    for note in notes.values():
        print(note)
    print(f'DeepLabv3 {args.model_variant} OS16, one {args.side}x{args.side} image; seconds per run, median / min of '
          f'{args.repeats} rounds')
    print(table(results))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump({'results': results, 'versions': versions, 'cpu': cpu_model()}, handle, indent=1)
    return 0


def _version(module):
    """The installed version of `module`'s distribution, or None."""
    from importlib import metadata
    name = {'tensorflow': 'tensorflow-cpu'}.get(module, module)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == '__main__':
    sys.exit(main())
