"""tf.distribute training: 2 CPU replicas with synchronized batch norm reproduce one device, without it they
differ, moving statistics are the replica mean; a local cluster of 2 workers + evaluator trains, evaluates (as
evaluate.py scores), reads disjoint shards and resumes after a worker dies, restarted in TensorFlow's worker-only
TF_CONFIG form (worker 0 the chief); checkpoints move between one device and replicas both ways and infer and
export on one device; TF_CONFIG forms and their chief; a bad global batch or TF_CONFIG is a one-line error."""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, write_random_checkpoint
from PIL import Image

import deeplab_model
import evaluate
import export_model
import inference
import preprocessing
import train
from nets import heads
from utils.common.errors import run_cli
from utils.common.files import SETTINGS_RECORD
from utils.runtime import distribute
from utils.runtime.checkpoints import checkpoint_values
from utils.runtime.cluster import LocalCluster, free_ports
from utils.runtime.model_config import MODEL_DEFAULTS
from utils.runtime.training import last_evaluation, logged_scalar

tf1 = tf.compat.v1
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50')
NUM_TRAIN = 8
# Scale 1 and 40x48 images: every 33x33 crop lies inside its image, and the labels have no void pixels, so each
# replica's mean loss over its pixels is exactly its share of the global batch's mean.
TINY = ['--model_variant', 'resnet_v2_50', '--crop_size', '33', '33', '--min_scale', '1', '--max_scale', '1',
        '--log_every_n_steps', '1', '--seed', '3', '--initial_learning_rate', '0.05', '--batch_norm_decay', '0.9']
STEPS = 2
FIRST_BN = 'resnet_v2_50/block1/unit_1/bottleneck_v2/preact/'  # the network's first batch norm


def write_void_free_records(tmp_path_factory):
    """Records of random 40x48 JPEGs with labels 0..4 everywhere (no void 255), NUM_TRAIN train and 2 val."""
    from PIL import Image

    import create_tf_record
    from utils.data.voc import save_label
    root = tmp_path_factory.mktemp('void_free')
    (root / 'images').mkdir(), (root / 'labels').mkdir()
    rng = np.random.RandomState(0)
    ids = [f'img{k}' for k in range(NUM_TRAIN + 2)]
    for image_id in ids:
        Image.fromarray(rng.randint(0, 256, (40, 48, 3)).astype(np.uint8)).save(root / 'images' / f'{image_id}.jpg')
        save_label(str(root / 'labels' / f'{image_id}.png'), rng.randint(0, 5, (40, 48)))
    (root / 'train.txt').write_text('\n'.join(ids[:NUM_TRAIN]) + '\n')
    (root / 'val.txt').write_text('\n'.join(ids[NUM_TRAIN:]) + '\n')
    out = str(root / 'records')
    assert run_cli(create_tf_record.main, [
        '--data_dir', out, '--image_data_dir', str(root / 'images'), '--label_data_dir', str(root / 'labels'),
        '--train_data_list', str(root / 'train.txt'), '--valid_data_list', str(root / 'val.txt'),
        '--num_workers', '1']) == 0
    return out


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_void_free_records(tmp_path_factory)


@pytest.fixture(scope='module')
def start(tmp_path_factory):
    """A whole random model to warm-start from, so every run starts from the same weights (a strategy builds
    its graph in another order, which would change seeded initialisers)."""
    folder = tmp_path_factory.mktemp('start')
    write_random_checkpoint(str(folder), PARAMS)
    return tf.train.latest_checkpoint(str(folder))


def remove_unless_a_test_failed(request, *folders):
    """Module fixtures hold gigabytes of checkpoints: free them when the module ends, keep them to debug failures."""
    if not request.session.testsfailed:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope='module')
def runs(records, start, tmp_path_factory, request):
    """{name: model_dir} of the same STEPS steps of global batch 4: one device, 2 CPU replicas with synchronized
    batch norm, and without; a checkpoint after every step. The ASPP dropout is off: its random mask over a
    batch of 4 cannot be the same as two masks over halves, and the batch split is what is compared here."""
    flags = {'one_device': [], 'sync': ['--num_cpu_replicas', '2'],
             'no_sync': ['--num_cpu_replicas', '2', '--no_sync_batch_norm']}
    model_dirs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(heads, 'CONCAT_DROPOUT_KEEP', 1.0)
        for name, extra in flags.items():
            model_dirs[name] = str(tmp_path_factory.mktemp(name))
            argv = ['--model_dir', model_dirs[name], '--data_dir', records, '--pre_trained_model', start,
                    '--batch_size', '4', '--max_iter', str(STEPS), '--save_checkpoints_steps', '1', '--no_eval',
                    *TINY, *extra]
            assert run_cli(train.main, argv) == 0, name
    yield model_dirs
    remove_unless_a_test_failed(request, *model_dirs.values())


def checkpoint_at(model_dir, step):
    return os.path.join(model_dir, f'model.ckpt-{step}')


def relative_change(model_dirs, step, names):
    """|update of run b - update of run a| / |update of run a| over `names` after `step` steps, for model_dirs (a, b),
    updates taken from the common start (each run's step-0 checkpoint)."""
    def update(model_dir):
        start, now = (checkpoint_values(checkpoint_at(model_dir, s)) for s in (0, step))
        return np.concatenate([(now[name] - start[name]).ravel() for name in names])
    first, second = (update(model_dir) for model_dir in model_dirs)
    return float(np.linalg.norm(second - first) / np.linalg.norm(first))


def variable_groups(model_dir):
    """(trainable weights, moving statistics) names of a checkpoint."""
    names = [name for name, _ in tf.train.list_variables(checkpoint_at(model_dir, 0))
             if name != 'global_step' and not name.endswith('/Momentum')]
    return [n for n in names if '/moving_' not in n], [n for n in names if '/moving_' in n]


def test_two_replicas_with_sync_batch_norm_reproduce_one_device(runs):
    """The first step's loss and moving statistics agree to float precision. The weight update agrees to about
    1 %, not to float precision: the one-device run normalises with the fused kernel, the replicas with the
    all-reduced statistics, and the gradients of a randomly initialised 50-layer batch-norm network amplify that
    rounding (on one device, swapping the fused kernel for the same formula unfused moves them as much).
    Without synchronisation the update differs by more than its own size (next test)."""
    one, sync = logged_scalar(runs['one_device'], 'loss'), logged_scalar(runs['sync'], 'loss')
    assert sorted(one) == sorted(sync) == list(range(1, STEPS + 1))
    assert sync[1] == pytest.approx(one[1], rel=1e-6)
    assert sync[2] == pytest.approx(one[2], rel=5e-4)
    weights, statistics = variable_groups(runs['one_device'])
    assert len(weights) > 150 and len(statistics) > 100
    assert relative_change((runs['one_device'], runs['sync']), 1, statistics) < 1e-4
    assert relative_change((runs['one_device'], runs['sync']), 1, weights) < 0.03
    one_values, sync_values = (checkpoint_values(checkpoint_at(runs[name], STEPS)) for name in ('one_device', 'sync'))
    assert sorted(one_values) == sorted(sync_values)  # same names, Momentum slots included


def test_without_sync_the_replicas_normalise_their_own_halves_and_differ(runs):
    weights, statistics = variable_groups(runs['one_device'])
    assert relative_change((runs['one_device'], runs['no_sync']), 1, statistics) > 0.1
    assert relative_change((runs['one_device'], runs['no_sync']), 1, weights) > 1.0


def first_batch_norm_means(records, start):
    """Batch means at the first batch norm of the network for the first global batch of 4 (as the runs draw it)
    and for its first 2 crops (replica 0's share), from the start checkpoint."""
    with tf.Graph().as_default():
        tf1.set_random_seed(3)  # the graph seed the Estimator sets from --seed 3: the same shuffle
        features, _ = tf1.data.make_one_shot_iterator(preprocessing.input_fn(
            records, True, 4, crop_size=(33, 33), min_scale=1, max_scale=1, seed=3)).get_next()
        deeplab_model.upsampled_logits(features['image'], PARAMS, training=True)
        bn_input = tf1.get_default_graph().get_operation_by_name(FIRST_BN + 'FusedBatchNormV3').inputs[0]
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            saver.restore(sess, start)
            values = sess.run(bn_input)
    return values.mean(axis=(0, 1, 2)), values[:2].mean(axis=(0, 1, 2))


def test_moving_statistics_are_the_mean_over_replicas_not_replica_0s(records, start, runs):
    global_mean, replica_0_mean = first_batch_norm_means(records, start)
    start_mean = tf.train.load_variable(start, FIRST_BN + 'moving_mean')
    stored = tf.train.load_variable(checkpoint_at(runs['no_sync'], 1), FIRST_BN + 'moving_mean')
    momentum = 1 - 0.9
    np.testing.assert_allclose(stored, start_mean + momentum * (global_mean - start_mean), atol=1e-5)
    assert np.max(np.abs(stored - (start_mean + momentum * (replica_0_mean - start_mean)))) > 1e-3


def wait_for_checkpoint(model_dir, step, timeout_secs=600):
    """Until the latest checkpoint of `model_dir` (as its `checkpoint` file names it) is at `step` or later."""
    deadline = time.monotonic() + timeout_secs
    while True:
        latest = tf.train.latest_checkpoint(model_dir)
        if latest and int(latest.rsplit('-', 1)[1]) >= step:
            return
        assert time.monotonic() < deadline, f'no checkpoint at step {step} after {timeout_secs} s'
        time.sleep(0.5)


def copy_last_checkpoint(model_dir, target):
    """A model folder holding only `model_dir`'s latest checkpoint and its deeplab_params.json, as a user would
    carry a trained model to another machine."""
    prefix = tf.train.latest_checkpoint(model_dir)
    os.makedirs(target)
    for path in tf.io.gfile.glob(prefix + '.*') + [os.path.join(model_dir, 'deeplab_params.json')]:
        shutil.copy(path, target)
    tf1.train.update_checkpoint_state(str(target), os.path.join(str(target), os.path.basename(prefix)))
    return str(target)


class WorkerOnlyCluster(LocalCluster):
    """Two workers and an evaluator with TF_CONFIG as TensorFlow's multi-worker guide writes it: only "worker" in
    the cluster (worker 0 is the chief) and the evaluator outside it, each process started here by hand."""

    def __init__(self, train_args, log_dir, command):
        super().__init__(train_args, 2, log_dir, command)
        self.tasks = [('worker', 0), ('worker', 1), ('evaluator', 0)]

    def start(self):
        os.makedirs(self.log_dir, exist_ok=True)
        workers = [f'127.0.0.1:{port}' for port in free_ports(2)]
        for kind, index in self.tasks:
            config = json.dumps({'cluster': {'worker': workers}, 'task': {'type': kind, 'index': index}})
            with open(self.log_path((kind, index)), 'w', encoding='utf-8') as log:
                self.processes[kind, index] = subprocess.Popen(
                    self.command + self.train_args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                    env=dict(os.environ, TF_CONFIG=config))
        return self.processes


# restart_began: time.time_ns() just before the restart's processes were started
ClusterRun = collections.namedtuple('ClusterRun', 'model_dir killed failure restarted examples restart_began')


@pytest.fixture(scope='module')
def cluster_run(records, runs, tmp_path_factory, request):
    """A chief, a worker and an evaluator listed in the cluster (the launcher's form), resuming the one-device
    run's step-2 checkpoint, up to step 6 (checkpoints every 2 steps); the worker is killed once the step-4
    checkpoint is the latest, then the job is started again as a WorkerOnlyCluster, which resumes and finishes."""
    model_dir = copy_last_checkpoint(runs['one_device'], tmp_path_factory.mktemp('cluster') / 'model')
    # global batch 4: each worker's 2 crops a step, over the restart's 2 steps, are its whole half of the 8 examples
    argv = ['--model_dir', model_dir, '--data_dir', records, '--batch_size', '4', '--max_iter', str(STEPS + 4),
            '--save_checkpoints_steps', '2', '--eval_throttle_secs', '1', '--eval_crop_size', '33', '33', *TINY]

    def recording(attempt):
        """The attempt's log folder, and train.py's command recording what each task reads into `examples`."""
        examples = tmp_path_factory.mktemp(f'examples_{attempt}')
        command = [sys.executable, os.path.join(ROOT, 'tests', 'train_recording_examples.py'), str(examples)]
        return str(tmp_path_factory.mktemp(f'logs_{attempt}')), command, examples

    log_dir, command, _ = recording('killed')
    killed = LocalCluster(argv, 2, log_dir, command)
    killed.start()
    wait_for_checkpoint(model_dir, STEPS + 2)
    killed.processes[('worker', 0)].send_signal(signal.SIGKILL)
    failure = killed.wait()
    log_dir, command, examples = recording('restarted')
    restarted = WorkerOnlyCluster(argv, log_dir, command)
    restart_began = time.time_ns()
    restarted.start()
    try:
        assert restarted.wait() is None, [restarted.last_line(task) for task in restarted.tasks]
    finally:
        restarted.stop()
    yield ClusterRun(model_dir, killed, failure, restarted, examples, restart_began)
    remove_unless_a_test_failed(request, model_dir)


def task_log(cluster, task):
    with open(cluster.log_path(task), encoding='utf-8') as log:
        return log.read()


def restored_steps(cluster, chief):
    """The checkpoint steps the cluster's chief restored, in its log's order."""
    return [int(line.rsplit('-', 1)[1]) for line in task_log(cluster, chief).splitlines()
            if 'Restoring parameters from' in line]


def test_a_one_device_checkpoint_resumes_on_the_cluster(cluster_run):
    assert restored_steps(cluster_run.killed, ('chief', 0))[0] == STEPS


def test_a_dead_worker_stops_the_cluster_and_a_restart_resumes_from_the_last_checkpoint(cluster_run):
    killed, restarted = cluster_run.killed, cluster_run.restarted
    assert cluster_run.failure == (('worker', 0), -signal.SIGKILL)
    assert all(process.poll() is not None for process in killed.processes.values())
    assert restored_steps(restarted, ('worker', 0))[0] >= STEPS + 2
    assert tf.train.load_variable(tf.train.latest_checkpoint(cluster_run.model_dir), 'global_step') == STEPS + 4


def test_without_a_chief_worker_0_writes_the_checkpoints_and_the_model_description(cluster_run):
    """TensorFlow's rule: worker 0 saves into the model folder, the other workers into throwaway tmp_worker_<i>
    folders inside it (their save ops take part in the all-reduce); train.py has worker 0 write
    deeplab_params.json, as a chief does."""
    model_dir, restarted = cluster_run.model_dir, cluster_run.restarted
    saved = f'Saving checkpoints for {STEPS + 4} into '
    assert saved + os.path.join(model_dir, 'model.ckpt.') in task_log(restarted, ('worker', 0))
    assert saved + os.path.join(model_dir, 'tmp_worker_1', 'model.ckpt.') in task_log(restarted, ('worker', 1))
    assert 'this task: worker 0, the chief)' in task_log(restarted, ('worker', 0))
    params_written = os.stat(os.path.join(model_dir, 'deeplab_params.json')).st_mtime_ns
    assert params_written > cluster_run.restart_began


def test_two_workers_reach_max_iter_and_the_evaluator_reports_what_evaluate_py_scores(cluster_run, records, tmp_path):
    """The evaluator's mIoU of the last checkpoint is what evaluate.py computes from it on one device, from the
    same validation images with the same --eval_crop_size."""
    model_dir, restarted = cluster_run.model_dir, cluster_run.restarted
    assert restarted.last_line(('evaluator', 0)).startswith('val mIoU ')
    metrics = last_evaluation(os.path.join(model_dir, 'eval'))
    assert metrics['global_step'] == STEPS + 4
    data, scores = os.path.dirname(records), tmp_path / 'scores.json'
    assert run_cli(evaluate.main, [
        '--image_data_dir', os.path.join(data, 'images'), '--label_data_dir', os.path.join(data, 'labels'),
        '--image_list', os.path.join(data, 'val.txt'), '--model_dir', model_dir, '--eval_crop_size', '33', '33',
        '--output_json', str(scores)]) == 0
    assert json.loads(scores.read_text())['miou'] == pytest.approx(metrics['miou'], rel=1e-6)


def test_the_workers_read_disjoint_shards(cluster_run):
    examples_dir = cluster_run.examples
    read = {task: set((examples_dir / f'{task}.examples').read_text().splitlines()) for task in ('worker0', 'worker1')}
    assert not read['worker0'] & read['worker1']
    assert len(read['worker0'] | read['worker1']) == NUM_TRAIN
    assert len(read['worker0']) == len(read['worker1']) == NUM_TRAIN // 2


def test_the_cluster_checkpoint_has_the_one_device_variables(cluster_run, runs):
    names = dict(tf.train.list_variables(tf.train.latest_checkpoint(cluster_run.model_dir)))
    assert names == dict(tf.train.list_variables(tf.train.latest_checkpoint(runs['one_device'])))


def test_a_two_replica_checkpoint_resumes_on_one_device(runs, records, tmp_path):
    """Training goes on from its step and weights (one more step, a small update), not from a fresh start. The
    other way round, the cluster above resumes the one-device run."""
    model_dir = copy_last_checkpoint(runs['sync'], tmp_path / 'model')
    before = checkpoint_values(checkpoint_at(model_dir, STEPS))
    argv = ['--model_dir', model_dir, '--data_dir', records, '--batch_size', '4', '--max_iter', str(STEPS + 1),
            '--no_eval', '--keep_checkpoints', '1', *TINY]
    assert run_cli(train.main, argv) == 0
    assert sorted(logged_scalar(model_dir, 'loss')) == [STEPS + 1]
    after = checkpoint_values(checkpoint_at(model_dir, STEPS + 1))
    assert sorted(after) == sorted(before)
    weights, _ = variable_groups(runs['sync'])
    moved = np.concatenate([(after[name] - before[name]).ravel() for name in weights])
    assert 0 < np.linalg.norm(moved) < 0.1 * np.linalg.norm(np.concatenate([before[n].ravel() for n in weights]))


def test_a_two_replica_checkpoint_infers_and_exports_on_one_device(runs, records, tmp_path):
    """inference.py from the checkpoint and from export_model.py's frozen graph give the same labels."""
    model_dir = runs['sync']
    data = os.path.dirname(records)
    listed = ['--image_data_dir', os.path.join(data, 'images'), '--image_list', os.path.join(data, 'val.txt')]
    frozen = str(tmp_path / 'frozen.pb')
    assert run_cli(export_model.main, ['--model_dir', model_dir, '--export_path', frozen]) == 0
    for source, out in ((['--model_dir', model_dir], 'checkpoint'), (['--frozen_graph', frozen], 'frozen')):
        assert run_cli(inference.main, [*listed, *source, '--output_dir', str(tmp_path / out)]) == 0
    names = ['img8.png', 'img9.png']
    for out in ('checkpoint', 'frozen'):
        assert sorted(os.listdir(tmp_path / out)) == [SETTINGS_RECORD, *names]
    for name in names:
        labels = [np.array(Image.open(tmp_path / out / name)) for out in ('checkpoint', 'frozen')]
        np.testing.assert_array_equal(*labels)


def error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


def test_a_global_batch_that_does_not_divide_by_the_replicas_is_one_line(records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'm'), '--data_dir', records, '--batch_size', '3', '--num_cpu_replicas',
            '2', *TINY]
    assert run_cli(train.main, argv) == 2
    assert '--batch_size 3 is the global batch and must divide by the 2 replicas' in error_line(capsys)
    assert not (tmp_path / 'm').exists()


@pytest.mark.parametrize('flag', ['--num_gpus', '--num_cpu_replicas'])
def test_a_negative_device_count_is_one_line(flag, records, tmp_path, capsys):
    argv = ['--model_dir', str(tmp_path / 'm'), '--data_dir', records, '--batch_size', '2', flag, '-1', *TINY]
    assert run_cli(train.main, argv) == 2
    assert error_line(capsys) == f'error: {flag} -1: a number of devices, 0 or more'


WORKERS = ['127.0.0.1:1', '127.0.0.1:2']
CHIEF = ['127.0.0.1:3']


def tf_config(cluster, kind, index):
    return json.dumps({'cluster': cluster, 'task': {'type': kind, 'index': index}})


def test_cpu_replicas_build_after_a_graph_mode_run_started_tensorflow_in_the_same_process():
    """TensorFlow's context started inside a graph places ops hard: the strategy must not depend on who started it."""
    code = ('import tensorflow as tf\n'
            'from tensorflow.python.eager import context\n'
            'from utils.runtime import distribute\n'
            'with tf.Graph().as_default():\n'
            '    context.context().ensure_initialized()\n'
            'print(distribute.strategy(distribute.plan(num_cpu_replicas=2)).num_replicas_in_sync)\n')
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ['2']


@pytest.mark.parametrize('cluster, task, chief', [
    ({'worker': WORKERS}, ('worker', 0), True),  # TensorFlow's multi-worker guide: worker 0 is the chief
    ({'worker': WORKERS}, ('worker', 1), False),
    ({'worker': WORKERS}, ('evaluator', 0), False),  # the evaluator outside the cluster, as TensorFlow writes it
    ({'worker': WORKERS, 'evaluator': ['127.0.0.1:4']}, ('evaluator', 0), False),  # or in it, as the launcher does
    ({'chief': CHIEF, 'worker': WORKERS}, ('chief', 0), True),
    ({'chief': CHIEF, 'worker': WORKERS}, ('worker', 0), False),  # with a chief, worker 0 is a worker like the others
])
def test_tf_config_forms_and_their_chief(cluster, task, chief):
    run_plan = distribute.plan(environ={'TF_CONFIG': tf_config(cluster, *task)})
    assert (run_plan.kind, run_plan.task, run_plan.chief) == ('multi_worker', task, chief)
    assert run_plan.replicas == len(cluster.get('chief', [])) + len(WORKERS)


@pytest.mark.parametrize('config, problem', [
    ('{"cluster": {"chief": ["127.0.0.1:1"]', 'TF_CONFIG: not valid JSON'),
    (tf_config({'chief': CHIEF * 2, 'worker': WORKERS}, 'chief', 0),
     'TF_CONFIG: the cluster has 2 "chief" addresses, at most one'),
    (tf_config({'worker': WORKERS, 'evaluator': WORKERS}, 'worker', 0),
     'TF_CONFIG: the cluster has 2 "evaluator" addresses, at most one'),
    (tf_config({'evaluator': CHIEF}, 'evaluator', 0),
     'TF_CONFIG: the cluster needs a "chief" or "worker" job (the tasks that train)'),
    (tf_config({'worker': WORKERS}, 'chief', 0),
     'TF_CONFIG: task {"type": "chief", "index": 0} is not one of the cluster\'s jobs'),
    (tf_config({'worker': WORKERS}, 'worker', 2),
     'TF_CONFIG: task {"type": "worker", "index": 2} is not one of the cluster\'s jobs'),
    (tf_config({'worker': WORKERS}, 'evaluator', 1),
     'TF_CONFIG: task {"type": "evaluator", "index": 1} is not one of the cluster\'s jobs'),
])
def test_a_malformed_tf_config_is_one_line(config, problem, records, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('TF_CONFIG', config)
    argv = ['--model_dir', str(tmp_path / 'm'), '--data_dir', records, '--batch_size', '2', *TINY]
    assert run_cli(train.main, argv) == 2
    assert error_line(capsys).startswith('error: ' + problem)
    assert not (tmp_path / 'm').exists()


def test_the_launcher_stops_the_cluster_when_a_task_fails_and_reports_its_error(tmp_path, capsys):
    import launch_local_cluster
    argv = ['--num_workers', '2', '--log_dir', str(tmp_path / 'logs'), '--', '--model_dir', str(tmp_path / 'm'),
            '--data_dir', str(tmp_path / 'nowhere'), '--batch_size', '2']
    assert run_cli(launch_local_cluster.main, argv) == 2
    line = error_line(capsys)
    assert 'ended with exit code 2 (the other tasks were stopped): error: ' in line
    assert 'nowhere: record folder not found' in line
    assert sorted(os.listdir(tmp_path / 'logs')) == ['chief0.log', 'evaluator0.log', 'worker0.log']
