"""Which tf.distribute strategy train.py uses, checked before anything is written: none (one device),
MirroredStrategy (several GPUs, or CPU devices for trying it), or MultiWorkerMirroredStrategy when TF_CONFIG
describes a cluster. The global batch is split evenly over the replicas."""
import collections
import json
import os

from utils.common.errors import UserError

TF_CONFIG = 'TF_CONFIG'
TRAINING_TASKS = ('chief', 'worker')
TASK_TYPES = (*TRAINING_TASKS, 'evaluator')

# kind: 'none', 'mirrored' or 'multi_worker'; devices: this machine's replica devices (None: the strategy's
# choice); task: (type, index) of this process in the cluster, None on one machine; chief: whether this process
# prepares the model folder and writes the checkpoints and summaries.
Plan = collections.namedtuple('Plan', 'kind replicas devices task chief', defaults=(True,))


def visible_gpus():
    """Number of GPUs TensorFlow sees in this process."""
    import tensorflow as tf
    return len(tf.config.list_physical_devices('GPU'))


def parse_tf_config(text):
    """The cluster and this process's task from a TF_CONFIG value; a UserError names what is wrong with it.

    TensorFlow's forms: at most one chief (without one, worker 0 is the chief), any number of workers, and at most
    one evaluator, which may also be left out of the cluster (an "evaluator" task, index 0, is not one of the
    tasks that train); the task is one of them."""
    try:
        config = json.loads(text)
    except ValueError as err:
        raise UserError(f'{TF_CONFIG}: not valid JSON ({err})') from None
    if not isinstance(config, dict) or not isinstance(config.get('cluster'), dict) \
            or not isinstance(config.get('task'), dict):
        raise UserError(f'{TF_CONFIG}: needs a "cluster" object and a "task" object')
    cluster, task = config['cluster'], config['task']
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise UserError(f'{TF_CONFIG}: unknown job "{unknown[0]}" in the cluster (jobs: {", ".join(TASK_TYPES)})')
    for job, addresses in cluster.items():
        if not (isinstance(addresses, list) and addresses and all(isinstance(a, str) for a in addresses)):
            raise UserError(f'{TF_CONFIG}: cluster job "{job}" needs a list of "host:port" addresses')
    if not any(job in cluster for job in TRAINING_TASKS):
        raise UserError(f'{TF_CONFIG}: the cluster needs a "chief" or "worker" job (the tasks that train)')
    for job in ('chief', 'evaluator'):
        if len(cluster.get(job, [])) > 1:
            raise UserError(f'{TF_CONFIG}: the cluster has {len(cluster[job])} "{job}" addresses, at most one')
    kind, index = task.get('type'), task.get('index', 0)
    listed = kind in cluster and isinstance(index, int) and 0 <= index < len(cluster[kind])
    if not (listed or (kind == 'evaluator' and index == 0)):
        raise UserError(f'{TF_CONFIG}: task {json.dumps(task)} is not one of the cluster\'s jobs')
    return cluster, (kind, index)


def is_chief(cluster, task):
    """Whether `task` is the chief of `cluster`: its "chief", else worker 0 (TensorFlow's rule)."""
    return task == ('chief', 0) or ('chief' not in cluster and task == ('worker', 0))


def plan(num_gpus=None, num_cpu_replicas=None, environ=None):
    """The strategy for this process from the flags and TF_CONFIG (see the module docstring)."""
    environ = os.environ if environ is None else environ
    for flag, value in (('--num_gpus', num_gpus), ('--num_cpu_replicas', num_cpu_replicas)):
        if value is not None and value < 0:
            raise UserError(f'{flag} {value}: a number of devices, 0 or more')
    if environ.get(TF_CONFIG):
        if num_gpus is not None or num_cpu_replicas:
            raise UserError(f'--num_gpus / --num_cpu_replicas do not apply with {TF_CONFIG}: every worker uses all '
                            'the GPUs it sees (choose them with CUDA_VISIBLE_DEVICES), or its CPU')
        cluster, task = parse_tf_config(environ[TF_CONFIG])
        workers = sum(len(cluster.get(job, [])) for job in TRAINING_TASKS)
        return Plan('multi_worker', workers * max(1, visible_gpus()), None, task, is_chief(cluster, task))
    if num_cpu_replicas:
        if num_gpus:
            raise UserError('--num_gpus and --num_cpu_replicas exclude each other')
        return Plan('mirrored', num_cpu_replicas, [f'/cpu:{i}' for i in range(num_cpu_replicas)], None)
    gpus = visible_gpus() if num_gpus is None else num_gpus
    if gpus > visible_gpus():
        raise UserError(f'--num_gpus {gpus}: TensorFlow sees {visible_gpus()} GPUs here')
    if gpus <= 1:
        return Plan('none', 1, None, None)
    return Plan('mirrored', gpus, [f'/gpu:{i}' for i in range(gpus)], None)


def per_replica_batch(global_batch, replicas):
    """Crops per replica and step; the global batch must divide evenly."""
    if global_batch % replicas:
        raise UserError(f'--batch_size {global_batch} is the global batch and must divide by the {replicas} '
                        f'replicas (try {max(replicas, global_batch // replicas * replicas)})')
    return global_batch // replicas


def strategy(run_plan):
    """The tf.distribute strategy of a plan, or None. Multi-worker needs graph mode from here on."""
    import tensorflow as tf
    if run_plan.kind == 'mirrored':
        # soft placement, as TensorFlow's context has when it starts eagerly: one started inside a graph (by an
        # earlier graph-mode run in the same process) places hard, and refuses the second CPU replica's /cpu:1
        tf.config.set_soft_device_placement(True)
        return tf.distribute.MirroredStrategy(run_plan.devices)
    if run_plan.kind == 'multi_worker':
        tf.compat.v1.disable_eager_execution()
        if run_plan.task[0] == 'evaluator':
            return evaluator_strategy()
        return tf.distribute.experimental.MultiWorkerMirroredStrategy()
    return None


def evaluator_strategy():
    """A strategy on this machine alone: it only sends the Estimator to the distribute coordinator, which reads the
    evaluator's task from TF_CONFIG. Built from TF_CONFIG, it raises a KeyError for an evaluator the cluster does
    not list (TensorFlow's own form of the evaluator)."""
    import tensorflow as tf
    local = tf.distribute.cluster_resolver.SimpleClusterResolver(tf.train.ClusterSpec({}))
    return tf.distribute.experimental.MultiWorkerMirroredStrategy(cluster_resolver=local)


def describe(run_plan, global_batch):
    """One log line: replicas, per-replica and global batch, and where they run."""
    if run_plan.kind == 'multi_worker':
        evaluator = run_plan.task[0] == 'evaluator'
        role = ', evaluates the checkpoints' if evaluator else ', the chief' if run_plan.chief else ''
        where = 'MultiWorkerMirroredStrategy; this task: {} {}{}'.format(*run_plan.task, role)
    elif run_plan.kind == 'mirrored':
        where = 'MirroredStrategy on ' + ', '.join(run_plan.devices)
    else:
        where = 'one device, no strategy'
    return (f'{run_plan.replicas} replicas x {per_replica_batch(global_batch, run_plan.replicas)} crops per '
            f'replica = global batch {global_batch} ({where})')
