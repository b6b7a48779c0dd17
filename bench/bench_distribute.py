"""tf.distribute training: what MirroredStrategy costs with one replica, and 2-replica / 2-worker correctness runs.

step      Training step time through the Estimator as train.py builds it (deeplab_model.model_fn, the records input
          pipeline, utils.runtime.training.run_config), with no strategy and with MirroredStrategy on one device
          (/cpu:0), the only difference being RunConfig's train_distribute. Each run trains --warmup_steps
          untimed steps, then --steps timed ones (wall time between step ends, median); configurations alternate,
          --rounds rounds, so machine load hits both alike. Goal: within 5 %.
agree     The same --agree_steps of global batch 4 from the same random start (warm start from a whole random
          model) on one device, on 2 CPU replicas (--num_cpu_replicas 2, synchronized batch norm) and on a local
          cluster of 2 workers + evaluator (launch_local_cluster.py logic), each in its own processes: the loss
          every step, the wall time (process start included) and the largest weight difference to one device.
          A correctness run, not a speed claim: the 2 cores are shared by the replicas or workers.
          The cluster reads a disjoint half of the records per worker, so its batches are other crops than the
          single-device run's; dropout masks differ too: its losses agree in level, not to the digit.

Data: generated demo scenes (utils.data.demo_data) written to records in a temporary folder; random weights.
Usage: .venv/bin/python bench/bench_distribute.py [--parts step agree] [--rounds 3] [--steps 8]
"""
import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402

import create_tf_record  # noqa: E402
import deeplab_model  # noqa: E402
import preprocessing  # noqa: E402
import train  # noqa: E402
from utils.common.errors import run_cli  # noqa: E402
from utils.data.demo_data import make_demo_voc  # noqa: E402
from utils.runtime import training  # noqa: E402
from utils.runtime.checkpoints import checkpoint_values  # noqa: E402
from utils.runtime.cluster import LocalCluster  # noqa: E402
from utils.runtime.distribute import Plan  # noqa: E402

tf1 = tf.compat.v1
PLANS = {'no strategy': Plan('none', 1, None, None),
         'MirroredStrategy, 1 replica': Plan('mirrored', 1, ['/cpu:0'], None)}


class StepTimes(tf1.train.SessionRunHook):
    """Wall time between the ends of consecutive training steps."""

    def __init__(self):
        self.ends = []

    def after_run(self, run_context, run_values):
        self.ends.append(time.perf_counter())

    def durations(self, skip):
        return [b - a for a, b in zip(self.ends[skip:], self.ends[skip + 1:])]


def write_records(folder, num_train, num_val):
    demo = make_demo_voc(os.path.join(folder, 'voc'), num_train=num_train, num_val=num_val, num_test=0)
    out = os.path.join(folder, 'records')
    assert run_cli(create_tf_record.main, ['--data_dir', out, '--image_data_dir', demo['image_dir'],
                                           '--ground_truth_dir', demo['aug_label_dir'], '--num_workers', '1']) == 0
    return out


def step_seconds(plan, argv, steps, warmup, model_dir):
    """Median step time of one Estimator training run with `plan`'s strategy."""
    args = train.build_parser().parse_args(['--model_dir', model_dir, *argv])
    params = dict(train.training_params(args), max_iter=10 ** 6)
    run = train.training_run(args)
    estimator = tf.estimator.Estimator(deeplab_model.model_fn, model_dir, training.run_config(run, plan), params)
    times = StepTimes()
    estimator.train(training.train_input(run, params, None, 0, preprocessing.input_fn), hooks=[times],
                    steps=warmup + steps + 1)
    return statistics.median(times.durations(warmup))


def bench_step(args, records, folder):
    argv = ['--data_dir', records, '--model_variant', args.model_variant, '--batch_size', str(args.batch_size),
            '--crop_size', str(args.crop), str(args.crop), '--seed', '0', '--log_every_n_steps', '1000']
    results = {name: [] for name in PLANS}
    for round_index in range(args.rounds):
        for name, plan in PLANS.items():
            model_dir = os.path.join(folder, f'step_{round_index}_{len(results[name])}_{plan.kind}')
            results[name].append(step_seconds(plan, argv, args.steps, args.warmup_steps, model_dir))
            print(f'round {round_index + 1}: {name}: {results[name][-1]:.3f} s/step', flush=True)
    base = statistics.median(results['no strategy'])
    print(f'\n{args.model_variant} OS16, batch {args.batch_size} of {args.crop}x{args.crop}, median of '
          f'{args.steps} steps per run, {args.rounds} rounds')
    print('| configuration | s/step per round | median | vs no strategy |\n| --- | --- | --- | --- |')
    for name, values in results.items():
        median = statistics.median(values)
        print(f'| {name} | {" / ".join(f"{v:.3f}" for v in values)} | {median:.3f} | {median / base:.3f} |')


def bench_agree(args, records, folder):
    common = ['--data_dir', records, '--model_variant', args.model_variant, '--batch_size', '4', '--crop_size',
              str(args.crop), str(args.crop), '--seed', '0', '--log_every_n_steps', '1', '--initial_learning_rate',
              '0.02', '--no_eval']
    init = os.path.join(folder, 'init')  # its step-0 checkpoint: the random start every run warm-starts from
    assert run_cli(train.main, ['--model_dir', init, '--max_iter', '1', *common]) == 0
    runs = {'1 device': [], '2 CPU replicas, sync BN': ['--num_cpu_replicas', '2'], '2 workers + evaluator': None}
    losses, seconds, values = {}, {}, {}
    for name, extra in runs.items():
        model_dir = os.path.join(folder, name.split(',')[0].replace(' ', '_'))
        argv = ['--model_dir', model_dir, '--pre_trained_model', os.path.join(init, 'model.ckpt-0'),
                '--max_iter', str(args.agree_steps), *common]
        start = time.perf_counter()
        if extra is None:
            cluster = LocalCluster(argv + ['--eval_throttle_secs', '1'], 2, os.path.join(folder, 'cluster_logs'))
            cluster.start()
            failure = cluster.wait()
            assert failure is None, (failure, cluster.last_line(failure[0]))
        else:  # its own process, as train.py runs: CPU devices are fixed when a process first creates them
            subprocess.run([sys.executable, os.path.join(ROOT, 'train.py'), *argv, *extra], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds[name] = time.perf_counter() - start
        losses[name], values[name] = training.logged_scalar(model_dir, 'loss'), checkpoint_values(model_dir)
        print(f'{name}: {seconds[name]:.0f} s', flush=True)
    reference = values['1 device']
    print(f'\n{args.model_variant}, global batch 4 of {args.crop}x{args.crop}, {args.agree_steps} steps from the same '
          'random start')
    print('| run | wall time (s) | loss per step | max abs weight difference to 1 device after the last step |')
    print('| --- | --- | --- | --- |')
    for name in runs:
        worst = max(float(abs(values[name][n] - reference[n]).max()) for n in reference if n != 'global_step')
        trace = ' '.join(f'{losses[name][step]:.3f}' for step in sorted(losses[name]))
        print(f'| {name} | {seconds[name]:.0f} | {trace} | {worst:.2e} |')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--parts', nargs='+', choices=('step', 'agree'), default=['step', 'agree'],
                        help='What to measure (default: both).')
    parser.add_argument('--model_variant', default='resnet_v2_50', help='Backbone (default: %(default)s).')
    parser.add_argument('--batch_size', type=int, default=2, help='Step-time batch (default: %(default)s).')
    parser.add_argument('--crop', type=int, default=129, help='Square crop side (default: %(default)s).')
    parser.add_argument('--steps', type=int, default=10, help='Timed steps per run (default: %(default)s).')
    parser.add_argument('--warmup_steps', type=int, default=3, help='Untimed steps first (default: %(default)s).')
    parser.add_argument('--rounds', type=int, default=3, help='Alternating rounds (default: %(default)s).')
    parser.add_argument('--agree_steps', type=int, default=10, help='Steps of each correctness run '
                                                                     '(default: %(default)s).')
    args = parser.parse_args(argv)
    tf1.logging.set_verbosity(tf1.logging.ERROR)
    print(f'{datetime.datetime.now():%Y-%m-%d %H:%M}, load average {os.getloadavg()[0]:.1f}', flush=True)
    with tempfile.TemporaryDirectory() as folder:
        records = write_records(folder, num_train=40, num_val=4)
        if 'step' in args.parts:
            bench_step(args, records, folder)
        if 'agree' in args.parts:
            bench_agree(args, records, folder)
    print(f'done {datetime.datetime.now():%H:%M}, load average {os.getloadavg()[0]:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
