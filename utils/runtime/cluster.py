"""A tf.distribute cluster on this machine, for trying multi-worker training: one train.py process per task
(chief, workers, evaluator) on 127.0.0.1 ports the system picks, each with its TF_CONFIG and log file. When one
task fails or dies, the others are stopped (by their process ids), as a real cluster's job stops."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from utils.runtime.distribute import TF_CONFIG

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, above utils/
TRAIN_SCRIPT = os.path.join(ROOT, 'train.py')
HOST = '127.0.0.1'
STOP_GRACE_SECS = 10  # after SIGTERM, before SIGKILL


def free_ports(count):
    """`count` distinct ports free right now, as the system picks them (bound to port 0, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def cluster_tasks(num_workers):
    """The (type, index) of every task: the chief is worker 0, then the other workers, then the evaluator."""
    return [('chief', 0)] + [('worker', i) for i in range(num_workers - 1)] + [('evaluator', 0)]


def cluster_spec(tasks, ports):
    """The TF_CONFIG "cluster" object for `tasks` on `ports`."""
    cluster = {}
    for (kind, _), port in zip(tasks, ports):
        cluster.setdefault(kind, []).append(f'{HOST}:{port}')
    return cluster


class LocalCluster:
    """The processes of one local cluster: `start`, then `wait` (or `stop`)."""

    def __init__(self, train_args, num_workers, log_dir, command=(sys.executable, TRAIN_SCRIPT)):
        if num_workers < 1:
            raise ValueError(f'a cluster needs at least one worker, not {num_workers}')
        self.train_args, self.log_dir, self.command = list(train_args), log_dir, list(command)
        self.tasks = cluster_tasks(num_workers)
        self.processes = {}

    def log_path(self, task):
        return os.path.join(self.log_dir, '{}{}.log'.format(*task))

    def start(self):
        """Start every task with its TF_CONFIG; returns {task: process}."""
        os.makedirs(self.log_dir, exist_ok=True)
        cluster = cluster_spec(self.tasks, free_ports(len(self.tasks)))
        for task in self.tasks:
            config = json.dumps({'cluster': cluster, 'task': {'type': task[0], 'index': task[1]}})
            with open(self.log_path(task), 'w', encoding='utf-8') as log:
                self.processes[task] = subprocess.Popen(
                    self.command + self.train_args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                    env=dict(os.environ, **{TF_CONFIG: config}))
        return self.processes

    def wait(self, poll_secs=0.5):
        """Wait until every task has ended; the first to fail stops the others. Returns (task, exit code) of
        that failure, or None when all ended well."""
        while True:
            codes = {task: process.poll() for task, process in self.processes.items()}
            failed = [task for task, code in codes.items() if code not in (None, 0)]
            if failed:
                self.stop()
                return failed[0], codes[failed[0]]
            if all(code == 0 for code in codes.values()):
                return None
            time.sleep(poll_secs)

    def stop(self):
        """End every task still running: SIGTERM, then SIGKILL after STOP_GRACE_SECS."""
        running = [process for process in self.processes.values() if process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECS
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def last_line(self, task):
        """The last line a task wrote to its log (its error, when it failed)."""
        with open(self.log_path(task), encoding='utf-8', errors='replace') as log:
            lines = [line.strip() for line in log if line.strip()]
        return lines[-1] if lines else '(no output)'
