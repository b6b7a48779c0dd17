"""Running the reproduction plan: stage markers in the work folder, each command run through its script's
main(), the download stage's list of files to fetch by hand, and the plan as a shell script (--dry_run).

A marker records a finished stage's commands, wall time and sequence number. A finished stage is skipped when
it is up to date: every stage it needs is up to date and finished before it. One made before a stage it needs
was redone is out of date and is redone; one whose recorded commands differ from the plan's (other settings) is
refused before anything runs. Redoing a stage removes what it made first, so its commands make it anew. An
interrupted stage resumes (its tools keep what they finished), unless a stage it needs finished again since it
began: what it made came from replaced outputs, so it is removed and the stage starts again.
"""
import json
import os
import shlex
import shutil
import sys
import threading
import time

from utils.cli.commands import command_line, current_names, run_command
from utils.common.errors import UserError, problem_list
from utils.common.files import atomic_path, is_temporary, read_json_object
from utils.reproduce.download import ChecksumMismatch, DownloadError
from utils.reproduce.sources import VOC_TEST, VOC_TEST_NOTE

HEARTBEAT_SECONDS = 5  # how often a running stage's time so far is saved, so a killed run's time still counts
MAX_CHANGES_SHOWN = 3


def marker(layout, stage):
    """The file recording that `stage` finished (its commands, wall time and sequence number)."""
    return os.path.join(layout.state, f'{stage}.json')


def _redo_flag(layout, stage):
    """The file saying that `stage` is being redone: its outputs are removed again if a run stops midway."""
    return os.path.join(layout.state, f'{stage}.redo')


def _partial(layout, stage):
    """The file holding a running or interrupted stage's wall time so far."""
    return os.path.join(layout.state, f'{stage}.partial.json')


def _write_json(path, value):
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(value, handle)


def _read_markers(layout):
    """{stage: marker content} of the finished stages of the run in `layout`."""
    markers = {}
    if os.path.isdir(layout.state):
        for name in os.listdir(layout.state):
            if name.endswith('.json') and not name.endswith('.partial.json') and not is_temporary(name):
                markers[name[:-len('.json')]] = read_json_object(os.path.join(layout.state, name), 'stage marker')
    return markers


def stage_times(layout):
    """{stage: seconds} of the finished stages of the run in `layout`, every attempt of a resumed one included."""
    return {stage: content['seconds'] for stage, content in _read_markers(layout).items()}


def _recorded(stage):
    """A stage's commands as its marker records them."""
    return [[command.script, *command.argv] for command in stage.commands]


def up_to_date(plan, markers):
    """{stage name: whether it is up to date} for the stages with a marker: each stage it needs is up to date
    and finished before it."""
    status = {}
    for stage in plan:
        content = markers.get(stage.name)
        if content is not None:
            sequence = content.get('sequence', 0)  # markers of older versions have none: taken as made in order
            status[stage.name] = all(status.get(need, False) and markers[need].get('sequence', 0) <= sequence
                                     for need in stage.needs)
    return status


def _flags(argv):
    """{flag: its values joined} of an argument list, in order."""
    flags, current = {}, None
    for item in argv:
        if item.startswith('--'):
            current = item
            flags[current] = []
        elif current is not None:
            flags[current].append(item)
    return {flag: ' '.join(values) for flag, values in flags.items()}


def describe_change(old, new):
    """What differs between two recorded command lists, flag by flag (the first few differences)."""
    changes = []
    for before, after in zip(old, new):
        if before == after:
            continue
        if before[0] != after[0]:
            changes.append(f'{before[0]}.py -> {after[0]}.py')
            continue
        was, now = _flags(before[1:]), _flags(after[1:])
        for flag in list(dict.fromkeys([*was, *now])):
            if was.get(flag) != now.get(flag):
                changes.append(f'{after[0]}.py {flag} {was.get(flag, "(not given)") or "(on)"} -> '
                               f'{now.get(flag, "(not given)") or "(on)"}')
    changes += [f'{command[0]}.py no longer run' for command in old[len(new):]]
    changes += [f'{command[0]}.py now run' for command in new[len(old):]]
    shown = '; '.join(changes[:MAX_CHANGES_SHOWN])
    return shown + (f'; and {len(changes) - MAX_CHANGES_SHOWN} more' if len(changes) > MAX_CHANGES_SHOWN else '')


def _spelt_now(commands):
    """Recorded commands with today's flag names, so a stage recorded before a flag was renamed still matches."""
    return [[script, *current_names(script, argv)] for script, *argv in commands]


def check_settings(plan, layout, selected, redo):
    """UserError before anything runs when a finished, up-to-date stage that would be skipped was made by other
    commands than the plan's (other settings: --quick, --mirror, --num_gpus, ...)."""
    markers = _read_markers(layout)
    fresh = up_to_date(plan, markers)
    changed = [(stage, markers[stage.name]) for stage in plan if stage.name in selected and not redo
               and fresh.get(stage.name) and 'commands' in markers[stage.name]
               and _spelt_now(markers[stage.name]['commands']) != _recorded(stage)]
    if changed:
        stage, content = changed[0]
        names = ' '.join(s.name for s, _ in changed)
        change = describe_change(_spelt_now(content['commands']), _recorded(stage))
        raise UserError(f'{layout.work}: stage {stage.name} finished with other settings '
                        f'({change}); run again with --redo --stages '
                        f'{names} to redo {"it" if len(changed) == 1 else "them"}, or use a new --work_dir')


def _remove_outputs(stage, layout):
    """Remove what `stage` made (each path under the work folder), so its commands make it anew."""
    for path in stage.outputs:
        if os.path.commonpath([layout.work, os.path.abspath(path)]) != layout.work:
            raise UserError(f'{path}: not under {layout.work}; refused to remove it')
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _download(stage, layout):
    """The download stage: fetch what can be fetched, then one error listing every file that needs the user.
    Returns whether any file was fetched (a redo that finds every file present and checked changes nothing)."""
    problems, fetched = [], False
    for command in stage.commands:
        argv = dict(zip(command.argv[::2], command.argv[1::2]))
        before = os.stat(argv['--output']).st_mtime_ns if os.path.isfile(argv['--output']) else None
        try:
            run_command(command)
        except ChecksumMismatch as err:
            problems.append(f'{err.url} -> {argv["--output"]}: {err.reason}; if you trust this copy, give its MD5 '
                            f'with --checksums (a line "<md5>  {os.path.basename(argv["--output"])}")')
        except DownloadError as err:
            problems.append(f'{err.url} -> {argv["--output"]} ({err.reason})')
        else:
            fetched = fetched or os.stat(argv['--output']).st_mtime_ns != before
    if not os.path.isfile(layout.voc_test_tar):
        problems.append(f'{VOC_TEST.filename} {VOC_TEST_NOTE} -> {layout.voc_test_tar} (or pass --voc_test_tar PATH)')
    if problems:
        raise UserError(problem_list('files to fetch by hand or accept (then run again):', problems))
    return fetched


class _StageClock:
    """A stage's wall time across attempts: what earlier (killed or failed) attempts spent plus this one's, saved
    every few seconds while it runs, with the `inputs` (stage_inputs) the attempt started from."""

    def __init__(self, path, fresh, inputs):
        self.path, self.inputs = path, inputs
        if fresh and os.path.exists(path):
            os.remove(path)
        earlier = 0.0
        if os.path.isfile(path):
            earlier = read_json_object(path, 'stage progress file').get('seconds', 0.0)
        self.earlier, self.started, self.stop = earlier, time.time(), threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def seconds(self):
        return self.earlier + time.time() - self.started

    def _save(self, seconds):
        _write_json(self.path, {'seconds': round(seconds, 1), 'inputs': self.inputs})

    def _beat(self):
        while not self.stop.wait(HEARTBEAT_SECONDS):
            self._save(self.seconds())

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._save(self.earlier)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._save(self.seconds())


def stage_inputs(stage, markers):
    """What a stage's outputs are made from: {needed stage: its marker's sequence number} of the needed stages that
    have finished."""
    return {need: markers[need].get('sequence', 0) for need in stage.needs if need in markers}


def replaced_since_interrupted(layout, stage, inputs):
    """The needed stages that finished (again) since an interrupted attempt at `stage` started, as its partial file
    records the stage_inputs it started from: what that attempt made came from outputs since replaced. None for
    no attempt, or one recorded by an older version (taken as made from today's inputs)."""
    path = _partial(layout, stage.name)
    started = read_json_object(path, 'stage progress file').get('inputs') if os.path.isfile(path) else None
    if started is None:
        return []
    return sorted(need for need in {*started, *inputs} if started.get(need) != inputs.get(need))


def _run_stage(stage, layout):
    """Run a stage's commands; returns whether it changed its outputs."""
    if stage.name == 'download':
        return _download(stage, layout)
    for command in stage.commands:
        run_command(command)
    return True


def run_plan(plan, layout, selected, redo=False):
    """Run the selected stages in order: skip up-to-date finished ones, redo out-of-date ones (and, with `redo`,
    every selected one); a stage whose settings changed is refused first (check_settings)."""
    check_settings(plan, layout, selected, redo)
    for number, stage in enumerate(plan, 1):
        if stage.name not in selected:
            continue
        markers = _read_markers(layout)
        content = markers.get(stage.name)
        fresh = up_to_date(plan, markers).get(stage.name, False)
        if content is not None and fresh and not redo:
            print(f'=== {number}. {stage.name}: done already, skipped', flush=True)
            continue
        why = 'redone: ' if content is not None and redo else (
            'redone, out of date (made before a stage it needs was redone): ' if content is not None else '')
        print(f'\n=== {number}. {stage.name}: {why}{stage.description}', flush=True)
        unfinished = [earlier.name for earlier in plan[:number - 1] if earlier.name not in markers]
        if unfinished:
            print(f'note: earlier stages not finished: {", ".join(unfinished)}', file=sys.stderr, flush=True)
        if content is not None:
            _write_json(_redo_flag(layout, stage.name), {})
            os.remove(marker(layout, stage.name))
        if os.path.exists(_redo_flag(layout, stage.name)):
            _remove_outputs(stage, layout)
            os.remove(_redo_flag(layout, stage.name))
        inputs = stage_inputs(stage, markers)
        replaced = [] if content is not None else replaced_since_interrupted(layout, stage, inputs)
        if replaced:
            print(f'note: the interrupted {stage.name} began before the current outputs of {", ".join(replaced)}: what '
                  'it made is removed and it starts again', file=sys.stderr, flush=True)
            _remove_outputs(stage, layout)
        with _StageClock(_partial(layout, stage.name), content is not None or bool(replaced), inputs) as clock:
            changed = _run_stage(stage, layout)
        sequence = max([m.get('sequence', 0) for m in markers.values()] + [0]) + 1
        if content is not None and not changed:
            sequence = content.get('sequence', 0)  # nothing new: what was made from it stays up to date
        _write_json(marker(layout, stage.name), {
            'seconds': round(clock.seconds(), 1), 'finished': time.strftime('%Y-%m-%d %H:%M:%S'),
            'sequence': sequence, 'commands': _recorded(stage)})
        os.remove(clock.path)
        print(f'--- {stage.name}: {clock.seconds():.0f} s', flush=True)


def out_of_date(plan, layout):
    """The finished stages that the next run will redo because an earlier stage was redone after them."""
    markers = _read_markers(layout)
    return [name for name, fresh in up_to_date(plan, markers).items() if not fresh]


def shell_script(plan, layout, selected, root, python):
    """The selected stages as a bash script of the suite's commands, run from the project folder `root` by the
    interpreter `python` (or $PYTHON), which the script checks first."""
    check = ('"$PYTHON" -c "import tensorflow, tensorflow_estimator" 2>/dev/null || { echo "error: $PYTHON cannot '
             'import tensorflow and tensorflow_estimator: set PYTHON to the suite\'s interpreter (make .venv makes '
             'it)" >&2; exit 2; }')
    onednn = shlex.quote(os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1'))
    lines = ['#!/usr/bin/env bash', '# The reproduction, stage by stage, as plain commands of the suite\'s scripts.',
             'set -euo pipefail', f'PYTHON=${{PYTHON:-{shlex.quote(python)}}}', check, f'cd {shlex.quote(root)}',
             '# oneDNN as in the run that printed this script: its kernels round differently, and training follows',
             f'export TF_ENABLE_ONEDNN_OPTS=${{TF_ENABLE_ONEDNN_OPTS:-{onednn}}}']
    for number, stage in enumerate(plan, 1):
        if stage.name not in selected:
            continue
        lines += ['', f'# {number}. {stage.name}: {stage.description}']
        if stage.name == 'download':
            lines.append(f'# {VOC_TEST.filename} {VOC_TEST_NOTE} and put it at {layout.voc_test_tar}')
        lines += [command_line(command, '"$PYTHON"') for command in stage.commands]
    return '\n'.join(lines) + '\n'


def print_done_note(plan, selected, layout):
    """The last lines of a run: stages left out of date, and where the results are."""
    stale = out_of_date(plan, layout)
    if stale:
        print(f'\nnote: out of date after this run\'s redo, redone by the next run: {", ".join(stale)}', flush=True)
    if 'report' in selected:
        print(f'\nResults: {layout.path("RESULTS.md")}' + (' (out of date: see the note above)' if stale else ''))
