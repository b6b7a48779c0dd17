"""Running the reproduction plan: stage markers in the work folder (a finished stage is skipped), each command
run through its script's main(), the download stage's list of files to fetch by hand, and the plan as a shell
script (--dry_run)."""
import json
import os
import shlex
import sys
import time

from utils.commands import command_line, run_command
from utils.download import NetworkError
from utils.errors import UserError, problem_list
from utils.files import atomic_path
from utils.sources import VOC_TEST, VOC_TEST_NOTE


def marker(layout, stage):
    """The file recording that `stage` finished (its wall time and when)."""
    return os.path.join(layout.state, f'{stage}.json')


def is_done(layout, stage):
    """Whether `stage` finished in an earlier run."""
    return os.path.isfile(marker(layout, stage))


def stage_times(layout):
    """{stage: seconds} of the finished stages of the run in `layout`."""
    times = {}
    if os.path.isdir(layout.state):
        for name in os.listdir(layout.state):
            if name.endswith('.json'):
                with open(os.path.join(layout.state, name), encoding='utf-8') as handle:
                    times[name[:-5]] = json.load(handle)['seconds']
    return times


def _mark_done(layout, stage, seconds):
    """Record `stage` as finished, atomically, after its last command succeeded."""
    with atomic_path(marker(layout, stage)) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump({'seconds': round(seconds, 1), 'finished': time.strftime('%Y-%m-%d %H:%M:%S')}, handle)


def _download(stage, layout):
    """The download stage: fetch what can be fetched, then one error listing every file to fetch by hand."""
    by_hand = []
    for command in stage.commands:
        try:
            run_command(command)
        except NetworkError as err:
            argv = dict(zip(command.argv[::2], command.argv[1::2]))
            by_hand.append(f'{argv["--url"]} -> {argv["--output"]} ({err})')
    if not os.path.isfile(layout.voc_test_tar):
        by_hand.append(f'{VOC_TEST.filename} {VOC_TEST_NOTE} -> {layout.voc_test_tar} (or pass --voc_test_tar PATH)')
    if by_hand:
        raise UserError(problem_list('files to fetch by hand (then run again):', by_hand))


def run_plan(plan, layout, selected, redo=False):
    """Run the selected stages in order, skipping finished ones (all of them again with `redo`)."""
    for number, stage in enumerate(plan, 1):
        if stage.name not in selected:
            continue
        if redo and is_done(layout, stage.name):
            os.remove(marker(layout, stage.name))
        if is_done(layout, stage.name):
            print(f'=== {number}. {stage.name}: done already, skipped', flush=True)
            continue
        print(f'\n=== {number}. {stage.name}: {stage.description}', flush=True)
        unfinished = [earlier.name for earlier in plan[:number - 1] if not is_done(layout, earlier.name)]
        if unfinished:
            print(f'note: earlier stages not finished: {", ".join(unfinished)}', file=sys.stderr, flush=True)
        started = time.time()
        if stage.name == 'download':
            _download(stage, layout)
        else:
            for command in stage.commands:
                run_command(command)
        _mark_done(layout, stage.name, time.time() - started)
        print(f'--- {stage.name}: {time.time() - started:.0f} s', flush=True)


def shell_script(plan, layout, selected, root):
    """The selected stages as a bash script of the suite's commands, run from the project folder `root`."""
    lines = ['#!/usr/bin/env bash', '# The reproduction, stage by stage, as plain commands of the suite\'s scripts.',
             'set -euo pipefail', f'cd {shlex.quote(root)}']
    for number, stage in enumerate(plan, 1):
        if stage.name not in selected:
            continue
        lines += ['', f'# {number}. {stage.name}: {stage.description}']
        if stage.name == 'download':
            lines.append(f'# {VOC_TEST.filename} {VOC_TEST_NOTE} and put it at {layout.voc_test_tar}')
        lines += [command_line(command) for command in stage.commands]
    return '\n'.join(lines) + '\n'


def print_done_note(selected, layout):
    """The last line of a run: where the results are."""
    if 'report' in selected:
        print(f'\nResults: {layout.path("RESULTS.md")}')
