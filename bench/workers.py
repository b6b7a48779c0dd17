"""Interleaved timing with one process per configuration (standard library only, so other interpreters, such as
a torch venv's, can serve it too).

A worker builds its workload, runs it once untimed, reports `ready`, then runs once per `run` line on stdin and
reports the seconds; the parent asks each live worker in turn, so load changes hit every configuration alike.
Reports are JSON lines after MARK on stdout (anything else a library prints there is skipped).
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

MARK = 'BENCH '


def report(**fields):
    print(MARK + json.dumps(fields), flush=True)


def serve(build, info=None):
    """The worker side: `build()` -> run() (no arguments); reports build and warm-up times, then one timed run per
    request. A failure to build or warm up is reported as `error` (its first line), not raised."""
    info = dict(info or {})
    begin = time.perf_counter()
    try:
        run = build()
        info['build_s'] = time.perf_counter() - begin
        begin = time.perf_counter()
        run()
        info['warmup_s'] = time.perf_counter() - begin
    except Exception as err:  # reported: a configuration that cannot run is a result too
        report(error=first_line(err), **info)
        return 0
    report(ready=True, **info)
    for line in sys.stdin:
        if line.strip() != 'run':
            break
        begin = time.perf_counter()
        run()
        report(seconds=time.perf_counter() - begin)
    return 0


def first_line(err):
    """The error's own first line: a TensorFlow graph execution error's message comes after where its node was
    defined."""
    lines = [line.rstrip() for line in getattr(err, 'message', str(err)).splitlines() if line.strip()]
    node = next((line[len('Node: '):].strip("'") for line in lines if line.startswith('Node: ')), None)
    own = [line for line in lines if not line[0].isspace()
           and not line.startswith(('Graph execution error', 'Detected at node', 'Node: '))]
    text = (own or lines or [''])[0].strip()
    return f'{type(err).__name__}: {text}' + (f' (node {node})' if node else '')


class Worker:
    """A worker process (`argv`, environment `env` added to this one's) and its line protocol."""

    def __init__(self, argv, env=None, cwd=None):
        self.proc = subprocess.Popen(argv, env=dict(os.environ, **(env or {})), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=cwd)

    def read(self):
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        return {'error': f'worker exited with status {self.proc.wait()} without a report'}

    def run(self):
        """The report of one timed run ({'seconds': ...}), or an error report when the worker died (killed for
        memory, say)."""
        try:
            self.proc.stdin.write('run\n')
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {'error': f'worker exited with status {self.proc.wait()} during the timed runs'}
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
        self.proc.wait()


def interleave(specs, repeats, log, name=''):
    """{label: info with 'times' (or 'error')} for `specs` ({label: (argv, env)}): workers started and warmed up
    one at a time (warm-ups do not compete), then `repeats` rounds of one timed run each, in turn."""
    workers, results = {}, {}
    for label, (argv, env) in specs.items():
        worker = Worker(argv, env)
        info = results[label] = worker.read()
        if 'error' in info:
            log(f'  {name} {label}: FAILS: {info["error"]}')
            worker.close()
            continue
        log(f'  {name} {label}: build {info["build_s"]:.1f} s, warm-up {info["warmup_s"]:.2f} s')
        workers[label] = worker
        info['times'] = []
    try:
        for round_ in range(repeats):
            for label, worker in list(workers.items()):
                reply = worker.run()
                if 'error' in reply:
                    log(f'  {name} {label}: FAILS: {reply["error"]}')
                    results[label] = reply
                    workers.pop(label).close()
                    continue
                results[label]['times'].append(reply['seconds'])
            log(f'  {name} round {round_ + 1}: ' + ', '.join(
                f'{label} {results[label]["times"][-1]:.3f}' for label in workers))
    finally:
        for worker in workers.values():
            worker.close()
    return results


def median(info):
    """Median seconds of a result, or None when it failed or is absent."""
    return statistics.median(info['times']) if info and info.get('times') else None


def cell(info):
    """A results table's time cell: median / min seconds, or why the configuration failed."""
    if 'error' in info:
        return f'fails: `{info["error"]}`'
    return f'{median(info):.3f} / {min(info["times"]):.3f}'


def ratio(value, reference):
    """value / reference to two decimals, '-' where either is missing."""
    return f'{value / reference:.2f}' if value and reference else '-'


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def cpu_flags_of_interest(flags=('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_tile')):
    """Which of the instruction sets that decide float32 and bfloat16 speed this CPU has."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            present = next((set(line.split(':', 1)[1].split()) for line in handle if line.startswith('flags')), set())
    except OSError:
        present = set()
    return [flag for flag in flags if flag in present]
