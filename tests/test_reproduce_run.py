"""reproduce.py's stage bookkeeping on a plan of stand-in commands: --redo makes a stage anew and the stages after
it follow, changed settings are refused before anything runs, a stage's time counts every attempt, and the
--dry_run script runs with the interpreter that printed it."""
import json
import os
import subprocess
import sys
import time

import pytest

from utils.cli.commands import Command
from utils.common.errors import UserError
from utils.reproduce import run as reproduce_run
from utils.reproduce.plan import Layout, Stage


def make(path, text):
    """A stand-in command: writes `text` to `path` unless it exists (as the suite's batch tools keep outputs)."""
    return Command('make', ['--output', str(path), '--text', text])


@pytest.fixture
def ran(monkeypatch):
    """The commands run, in order; each writes its --output unless it exists."""
    calls = []

    def run_command(command):
        argv = dict(zip(command.argv[::2], command.argv[1::2]))
        calls.append((command.script, argv['--output']))
        if not os.path.exists(argv['--output']):
            with open(argv['--output'], 'w') as handle:
                handle.write(argv.get('--text', 'fetched'))
    monkeypatch.setattr(reproduce_run, 'run_command', run_command)
    return calls


def plan_of(layout, texts=('a', 'b', 'c'), first_needs=()):
    """Three stages, each writing one file from the text given and needing the one before."""
    names = ('first', 'second', 'third')
    return [Stage(name, f'makes {name}', [make(layout.path(f'{name}.txt'), text)], [layout.path(f'{name}.txt')],
                  (names[k - 1],) if k else first_needs) for k, (name, text) in enumerate(zip(names, texts))]


def run(layout, plan, stages=None, redo=False):
    """What reproduce.py's main does with a plan."""
    stages = stages or [s.name for s in plan]
    reproduce_run.run_plan(plan, layout, stages, redo)
    reproduce_run.print_done_note(plan, stages, layout)


def contents(layout):
    return [open(layout.path(f'{n}.txt')).read() for n in ('first', 'second', 'third')]


def test_a_quick_stage_stops_its_clock_at_once(tmp_path, ran):
    """A stage shorter than the heartbeat ends without waiting for it (run in a thread, so a stuck clock fails)."""
    import threading
    layout = Layout(tmp_path)
    runner = threading.Thread(target=run, args=(layout, plan_of(layout)[:1]), daemon=True)
    runner.start()
    runner.join(3)
    assert not runner.is_alive()


def test_a_finished_stage_is_skipped(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    ran.clear()
    run(layout, plan_of(layout))
    assert ran == [] and capsys.readouterr().out.count('done already, skipped') == 3


def test_redo_makes_the_stage_anew_and_the_later_stages_follow(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    run(layout, plan_of(layout, ('a', 'B', 'C')), ['second'], redo=True)  # the tools keep existing outputs
    assert contents(layout) == ['a', 'B', 'c']
    assert 'out of date after this run\'s redo, redone by the next run: third' in capsys.readouterr().out
    run(layout, plan_of(layout, ('a', 'B', 'C')))
    assert contents(layout) == ['a', 'B', 'C']
    out = capsys.readouterr().out
    assert 'first: done already' in out and 'second: done already' in out and 'third: redone, out of date' in out


def test_a_redo_stopped_while_removing_removes_again(tmp_path, ran, monkeypatch):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    remove = reproduce_run._remove_outputs

    def killed(stage, layout):
        raise KeyboardInterrupt
    monkeypatch.setattr(reproduce_run, '_remove_outputs', killed)
    with pytest.raises(KeyboardInterrupt):
        run(layout, plan_of(layout, ('a', 'B', 'c')), ['second'], redo=True)
    monkeypatch.setattr(reproduce_run, '_remove_outputs', remove)
    run(layout, plan_of(layout, ('a', 'B', 'c')), ['second'])  # no --redo: the unfinished redo still removes
    assert contents(layout)[1] == 'B'


def test_changed_settings_are_refused_before_anything_runs(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    ran.clear()
    with pytest.raises(UserError) as refused:
        run(layout, plan_of(layout, ('a', 'b2', 'c2')))
    message = str(refused.value)
    assert '\n' not in message and ran == []
    assert message == (f'{layout.work}: stage second finished with other settings (make.py --text b -> b2); run '
                       'again with --redo --stages second third to redo them, or use a new --work_dir')
    run(layout, plan_of(layout, ('a', 'b2', 'c2')), ['second', 'third'], redo=True)
    assert contents(layout) == ['a', 'b2', 'c2']


def test_a_change_is_described_flag_by_flag():
    old = [['train', '--model_variant', 'resnet_v2_50', '--max_iter', '2', '--no_eval'], ['evaluate', '--x', '1']]
    new = [['train', '--model_variant', 'resnet_v2_101', '--no_eval', '--num_gpus', '4']]
    assert reproduce_run.describe_change(old, new) == (
        'train.py --model_variant resnet_v2_50 -> resnet_v2_101; train.py --max_iter 2 -> (not given); '
        'train.py --num_gpus (not given) -> 4; and 1 more')


def test_only_the_stages_that_need_a_redone_one_follow_it(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    plan = plan_of(layout)
    plan[2] = plan[2]._replace(needs=('first',))  # third reads first's output, not second's
    run(layout, plan)
    run(layout, plan, ['second'], redo=True)
    ran.clear()
    run(layout, plan)
    assert ran == [] and 'third: done already' in capsys.readouterr().out
    run(layout, plan, ['first'], redo=True)
    assert "redone by the next run: second, third" in capsys.readouterr().out


def test_markers_of_older_versions_are_taken_as_they_are(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    for name in ('first', 'second', 'third'):
        with open(reproduce_run.marker(layout, name), 'w') as handle:
            json.dump({'seconds': 1.0, 'finished': '2026-11-01 10:00:00'}, handle)
    ran.clear()
    run(layout, plan_of(layout, ('x', 'y', 'z')))
    assert ran == []


def test_a_stage_time_counts_every_attempt(tmp_path, ran, monkeypatch):
    layout = Layout(tmp_path)
    os.makedirs(layout.state)
    with open(os.path.join(layout.state, 'second.partial.json'), 'w') as handle:
        json.dump({'seconds': 100.02}, handle)  # what a killed attempt had spent
    run(layout, plan_of(layout))
    times = reproduce_run.stage_times(layout)
    assert times['second'] in (100.0, 100.1) and isinstance(times['second'], float)  # to a tenth of a second
    assert 100 <= times['second'] < 110 and times['first'] < 10 and sorted(times) == ['first', 'second', 'third']
    assert not os.path.exists(os.path.join(layout.state, 'second.partial.json'))
    run(layout, plan_of(layout), ['second'], redo=True)
    assert reproduce_run.stage_times(layout)['second'] < 10  # a redo is timed afresh


def test_a_running_stage_saves_its_time_so_far(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    monkeypatch.setattr(reproduce_run, 'HEARTBEAT_SECONDS', 0.05)
    seen = []

    def slow(command):
        time.sleep(0.3)
        with open(os.path.join(layout.state, 'first.partial.json')) as handle:
            seen.append(json.load(handle))
        open(command.argv[1], 'w').write('a')
    monkeypatch.setattr(reproduce_run, 'run_command', slow)
    run(layout, plan_of(layout)[:1])
    assert 0.1 <= seen[0]['seconds'] <= 0.4 and seen[0] == {'seconds': round(seen[0]['seconds'], 1), 'inputs': {}}
    assert isinstance(seen[0]['seconds'], float)
    os.remove(reproduce_run.marker(layout, 'first'))
    with open(os.path.join(layout.state, 'first.partial.json'), 'w') as handle:
        json.dump({'inputs': {}}, handle)  # killed before its first time was saved
    monkeypatch.setattr(reproduce_run, 'run_command', lambda command: None)
    run(layout, plan_of(layout)[:1])
    assert reproduce_run.stage_times(layout)['first'] < 0.5


def download_first_plan(tmp_path):
    """(layout, plan): a download stage whose archive is already there, then the stand-in stages after it."""
    layout = Layout(tmp_path)
    os.makedirs(layout.downloads)
    open(layout.voc_test_tar, 'w').close()
    download = Stage('download', 'fetch', [Command('download', ['--url', 'http://x/a.tar', '--output',
                                                                layout.path('downloads', 'a.tar')])], [], ())
    return layout, [download, *plan_of(layout, first_needs=('download',))]


def test_a_redone_download_that_fetches_nothing_keeps_the_later_stages(tmp_path, ran, capsys):
    layout, plan = download_first_plan(tmp_path)
    run(layout, plan)
    ran.clear()
    run(layout, plan, ['download'], redo=True)
    assert ran == [('download', layout.path('downloads', 'a.tar'))]  # checked again, still there
    run(layout, plan)
    assert len(ran) == 1 and 'out of date' not in capsys.readouterr().out


def test_outputs_outside_the_work_folder_are_never_removed(tmp_path, ran):
    layout = Layout(tmp_path / 'work')
    outside = tmp_path / 'SegmentationClassAug'
    outside.mkdir()
    plan = [Stage('first', 'x', [make(layout.path('a.txt'), 'a')], [str(outside)], ())]
    os.makedirs(layout.work)
    run(layout, plan)
    with pytest.raises(UserError, match='not under'):
        run(layout, plan, redo=True)
    assert outside.is_dir()


def test_the_dry_run_script_checks_its_interpreter(tmp_path):
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run', '--stages',
                             'records'], capture_output=True, text=True, check=True).stdout
    assert f'PYTHON=${{PYTHON:-{sys.executable}}}' in script.splitlines()
    assert '\n"$PYTHON" create_tf_record.py --data_dir ' in script
    (tmp_path / 'run.sh').write_text(script)
    bad = subprocess.run(['bash', str(tmp_path / 'run.sh')], capture_output=True, text=True,
                         env={'PATH': '/usr/bin:/bin', 'PYTHON': '/bin/false'})
    assert bad.returncode == 2 and bad.stderr.startswith('error: /bin/false cannot import tensorflow')
    assert bad.stderr.count('\n') == 1


def test_a_stage_recorded_under_old_flag_names_is_the_same_stage(tmp_path, ran, capsys):
    """Commands recorded before a flag was renamed (pixel_stacking's --inputs and --path_stacking) match today's
    plan (--prediction_dir, --output_dir): skipped, not refused. Other values under either name are refused."""
    layout = Layout(tmp_path)
    out = layout.path('stacked')
    today = Stage('stack', 'stacks', [Command('pixel_stacking', ['--prediction_dir', 'A', 'B', '--output_dir', out])],
                  [out], ())
    os.makedirs(layout.state)
    recorded = {'seconds': 1.0, 'sequence': 1, 'commands': [['pixel_stacking', '--inputs', 'A', 'B',
                                                              '--path_stacking', out]]}
    with open(reproduce_run.marker(layout, 'stack'), 'w') as handle:
        json.dump(recorded, handle)
    os.makedirs(out)
    run(layout, [today])
    assert ran == [] and 'done already, skipped' in capsys.readouterr().out
    recorded['commands'][0][2] = 'C'
    with open(reproduce_run.marker(layout, 'stack'), 'w') as handle:
        json.dump(recorded, handle)
    with pytest.raises(UserError, match=r'pixel_stacking.py --prediction_dir C B -> A B'):
        run(layout, [today])


@pytest.mark.parametrize('printed_with', ['0', '1'])
def test_the_dry_run_script_keeps_the_printing_runs_onednn_setting(tmp_path, printed_with):
    """oneDNN changes the rounding, and so the trained model: the script defaults to the printing run's setting,
    and a TF_ENABLE_ONEDNN_OPTS given when the script runs still wins."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=printed_with)
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run', '--stages',
                             'records'], capture_output=True, text=True, check=True, env=env).stdout
    line = f'export TF_ENABLE_ONEDNN_OPTS=${{TF_ENABLE_ONEDNN_OPTS:-{printed_with}}}'
    assert line in script.splitlines()
    shown = 'echo "$TF_ENABLE_ONEDNN_OPTS"'
    for given, expected in ((None, printed_with), ('7', '7')):
        run_env = {'PATH': '/usr/bin:/bin', **({'TF_ENABLE_ONEDNN_OPTS': given} if given else {})}
        assert subprocess.run(['bash', '-c', f'{line}; {shown}'], capture_output=True, text=True,
                              env=run_env).stdout.strip() == expected


def test_the_dry_run_script_text(tmp_path, monkeypatch):
    """The whole script: the interpreter and its check, the project folder, oneDNN, then each selected stage under
    its number and description (the download stage with the test tar to fetch by hand), quoted for the shell."""
    layout = Layout('/w')
    download = Stage('download', 'fetch', [Command('download', ['--url', 'http://x/a.tar', '--output', '/w/a.tar'])],
                     [], ())
    plan = [download, *plan_of(layout, ('a', 'b', 'c d'))]
    monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
    script = reproduce_run.shell_script(plan, layout, ['third', 'download'], '/my project', '/opt/py 3/python')
    assert script == (
        '#!/usr/bin/env bash\n'
        '# The reproduction, stage by stage, as plain commands of the suite\'s scripts.\n'
        'set -euo pipefail\n'
        'PYTHON=${PYTHON:-\'/opt/py 3/python\'}\n'
        '"$PYTHON" -c "import tensorflow, tensorflow_estimator" 2>/dev/null || { echo "error: $PYTHON cannot import '
        'tensorflow and tensorflow_estimator: set PYTHON to the suite\'s interpreter (make .venv makes it)" >&2; '
        'exit 2; }\n'
        'cd \'/my project\'\n'
        '# oneDNN as in the run that printed this script: its kernels round differently, and training follows\n'
        'export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1}\n'
        '\n'
        '# 1. download: fetch\n'
        '# VOC2012test.tar needs a login: register at the PASCAL VOC evaluation server '
        '(http://host.robots.ox.ac.uk:8080/), download VOC2012test.tar there and put it at '
        '/w/downloads/VOC2012test.tar\n'
        '"$PYTHON" download.py --url http://x/a.tar --output /w/a.tar\n'
        '\n'
        '# 4. third: makes third\n'
        '"$PYTHON" make.py --output /w/third.txt --text \'c d\'\n')
    monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0 ')
    script = reproduce_run.shell_script(plan, layout, ['second'], '/p', 'python3')
    assert script.splitlines()[3] == 'PYTHON=${PYTHON:-python3}'
    assert script.splitlines()[7:] == ["export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-'0 '}", '',
                                       '# 3. second: makes second', '"$PYTHON" make.py --output /w/second.txt --text b']


def test_a_change_of_script_and_of_switches_is_described():
    old = [['same', '--a', '1'], ['extract', '--x', '1'], ['train', 'positional', '--no_eval', '--seed', '0']]
    new = [['same', '--a', '1'], ['download', '--x', '1'], ['train', 'other', '--seed', '0', '--deterministic']]
    assert reproduce_run.describe_change(old, new) == (
        'extract.py -> download.py; train.py --no_eval (on) -> (not given); '
        'train.py --deterministic (not given) -> (on)')


def test_commands_no_longer_run_or_now_run_are_named():
    one, two = ['prepare_labels', '--x', '1'], ['create_tf_record', '--y', '2']
    assert reproduce_run.describe_change([one, two], [one]) == 'create_tf_record.py no longer run'
    assert reproduce_run.describe_change([one], [one, two]) == 'create_tf_record.py now run'
    assert reproduce_run.describe_change([], [one, two, one]) == (
        'prepare_labels.py now run; create_tf_record.py now run; prepare_labels.py now run')
    assert reproduce_run.describe_change([], [one, two, one, two]) == (
        'prepare_labels.py now run; create_tf_record.py now run; prepare_labels.py now run; and 1 more')


def test_the_download_stage_lists_every_file_to_fetch_by_hand_in_one_error(tmp_path, monkeypatch):
    from utils.reproduce.download import ChecksumMismatch, DownloadError
    layout = Layout(tmp_path)
    fetched = []

    def run_command(command):
        url, output = command.argv[1], command.argv[3]
        if url.endswith('bad.tar'):
            raise ChecksumMismatch(url, 'MD5 1234, expected abcd', output + '.part')
        if url.endswith('gone.tar'):
            raise DownloadError(url, 'HTTP 404')
        fetched.append(output)
        open(output, 'w').close()
    monkeypatch.setattr(reproduce_run, 'run_command', run_command)
    commands = [Command('download', ['--url', f'http://x/{name}', '--output', str(tmp_path / name)])
                for name in ('bad.tar', 'gone.tar', 'good.tar')]
    with pytest.raises(UserError) as refused:
        run(layout, [Stage('download', 'fetch', commands, [], ())])
    assert str(refused.value) == (
        'files to fetch by hand or accept (then run again):\n'
        f'  http://x/bad.tar -> {tmp_path}/bad.tar: MD5 1234, expected abcd; if you trust this copy, give its MD5 '
        'with --checksums (a line "<md5>  bad.tar")\n'
        f'  http://x/gone.tar -> {tmp_path}/gone.tar (HTTP 404)\n'
        '  VOC2012test.tar needs a login: register at the PASCAL VOC evaluation server '
        '(http://host.robots.ox.ac.uk:8080/), download VOC2012test.tar there -> '
        f'{tmp_path}/downloads/VOC2012test.tar (or pass --voc_test_tar PATH)')
    assert fetched == [str(tmp_path / 'good.tar')]  # fetched all the same
    with pytest.raises(UserError) as refused:
        run(layout, [Stage('download', 'fetch', commands[2:], [], ())])
    assert str(refused.value) == (
        'files to fetch by hand or accept (then run again): VOC2012test.tar needs a login: register at the PASCAL '
        'VOC evaluation server (http://host.robots.ox.ac.uk:8080/), download VOC2012test.tar there -> '
        f'{tmp_path}/downloads/VOC2012test.tar (or pass --voc_test_tar PATH)')


def test_a_redone_download_that_fetches_a_file_again_puts_the_later_stages_out_of_date(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    os.makedirs(layout.downloads)
    open(layout.voc_test_tar, 'w').close()
    download = Stage('download', 'fetch', [
        Command('download', ['--url', f'http://x/{name}', '--output', layout.path('downloads', name)])
        for name in ('a.tar', 'b.tar')], [], ())
    plan = [download, *plan_of(layout, first_needs=('download',))]
    run(layout, plan)
    os.remove(layout.path('downloads', 'a.tar'))  # fetched again; b.tar is still there
    run(layout, plan, ['download'], redo=True)
    assert 'redone by the next run: first, second, third' in capsys.readouterr().out


def test_a_run_prints_each_stage_its_number_why_it_runs_and_its_time(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    assert capsys.readouterr() == (
        '\n=== 1. first: makes first\n--- first: 0 s\n\n=== 2. second: makes second\n--- second: 0 s\n'
        '\n=== 3. third: makes third\n--- third: 0 s\n', '')
    run(layout, plan_of(layout), ['second'], redo=True)
    assert capsys.readouterr() == (
        '\n=== 2. second: redone: makes second\n--- second: 0 s\n'
        '\nnote: out of date after this run\'s redo, redone by the next run: third\n', '')
    run(layout, plan_of(layout))
    assert capsys.readouterr() == (
        '=== 1. first: done already, skipped\n=== 2. second: done already, skipped\n'
        '\n=== 3. third: redone, out of date (made before a stage it needs was redone): makes third\n'
        '--- third: 0 s\n', '')


def test_a_stage_run_before_the_ones_it_follows_says_so(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout), ['third'])
    assert capsys.readouterr().err == 'note: earlier stages not finished: first, second\n'
    run(layout, plan_of(layout), ['first'])
    run(layout, plan_of(layout), ['third'], redo=True)
    assert capsys.readouterr().err == 'note: earlier stages not finished: second\n'


def test_a_marker_records_the_commands_time_and_order_of_a_finished_stage(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    run(layout, plan_of(layout), ['first'], redo=True)
    markers = {}
    for name in ('first', 'second', 'third'):
        with open(os.path.join(tmp_path, '.reproduce', f'{name}.json')) as handle:
            markers[name] = json.load(handle)
    assert sorted(markers['first']) == ['commands', 'finished', 'seconds', 'sequence']
    assert [markers[n]['sequence'] for n in ('first', 'second', 'third')] == [4, 2, 3]
    assert markers['second']['commands'] == [['make', '--output', layout.path('second.txt'), '--text', 'b']]
    assert 0 <= markers['third']['seconds'] < 5
    assert time.strptime(markers['third']['finished'], '%Y-%m-%d %H:%M:%S')
    assert sorted(os.listdir(layout.state)) == ['first.json', 'second.json', 'third.json']


def test_the_finished_stages_are_read_from_their_markers_only(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout)[:1])
    for name in ('second.partial.json', 'third.redo', '.first.json.tmp-1234'):
        with open(os.path.join(layout.state, name), 'w') as handle:
            json.dump({'seconds': 9.0}, handle)
    assert list(reproduce_run.stage_times(layout)) == ['first']
    assert reproduce_run.stage_times(Layout(tmp_path / 'new')) == {}


def test_an_interrupted_stage_resumes_unless_a_stage_it_needs_finished_since(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    plan = plan_of(layout)
    run(layout, plan, ['first'])
    for started, kept in (({'first': 1}, True), ({}, False), (None, True)):
        with open(layout.path('second.txt'), 'w') as handle:
            handle.write('made before')
        with open(os.path.join(layout.state, 'second.partial.json'), 'w') as handle:
            json.dump({'seconds': 50.0, **({'inputs': started} if started is not None else {})}, handle)
        run(layout, plan, ['second'])
        err = capsys.readouterr().err
        assert open(layout.path('second.txt')).read() == ('made before' if kept else 'b')
        assert (reproduce_run.stage_times(layout)['second'] >= 50) == kept
        assert err == ('' if kept else 'note: the interrupted second began before the current outputs of first: '
                       'what it made is removed and it starts again\n')
        os.remove(reproduce_run.marker(layout, 'second'))


def test_the_stages_replaced_since_an_attempt_began_are_named_in_order(tmp_path):
    layout = Layout(tmp_path)
    stage = plan_of(layout)[0]
    assert reproduce_run.replaced_since_interrupted(layout, stage, {'a': 1}) == []
    os.makedirs(layout.state)
    with open(os.path.join(layout.state, 'first.partial.json'), 'w') as handle:
        json.dump({'seconds': 1.0, 'inputs': {'d': 1, 'b': 2, 'a': 5}}, handle)
    assert reproduce_run.replaced_since_interrupted(layout, stage, {'b': 3, 'c': 1, 'a': 5}) == ['b', 'c', 'd']
    assert reproduce_run.stage_inputs(plan_of(layout)[2]._replace(needs=('first', 'second')),
                                      {'second': {'sequence': 7}, 'other': {'sequence': 2}}) == {'second': 7}
    older = {'first': {'seconds': 1.0}}  # a marker of an older version: taken as made first
    assert reproduce_run.stage_inputs(plan_of(layout)[1], older) == {'first': 0}


def test_a_redo_removes_folders_files_and_links_it_made_but_not_what_links_point_to(tmp_path, ran):
    layout = Layout(tmp_path / 'work')
    target = tmp_path / 'work' / 'kept'
    target.mkdir(parents=True)
    (target / 'x').write_text('x')
    folder, file, link = (layout.path(n) for n in ('folder', 'file', 'link'))
    os.makedirs(os.path.join(folder, 'sub'))
    open(file, 'w').close()
    os.symlink(target, link)
    stage = Stage('first', 'x', [make(layout.path('a.txt'), 'a')], [folder, file, link, layout.path('missing')], ())
    run(layout, [stage])
    run(layout, [stage], redo=True)
    assert sorted(os.listdir(layout.work)) == ['.reproduce', 'a.txt', 'kept'] and (target / 'x').exists()


def test_the_last_lines_say_where_the_results_are(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    plan = plan_of(layout)
    plan[2] = plan[2]._replace(name='report')
    run(layout, plan)
    assert capsys.readouterr().out.endswith(f'\n\nResults: {tmp_path}/RESULTS.md\n')
    run(layout, plan, ['second', 'report'], redo=True)
    assert capsys.readouterr().out.endswith(f'\n\nResults: {tmp_path}/RESULTS.md\n')
    run(layout, plan, ['first', 'report'], redo=True)
    assert capsys.readouterr().out.endswith(
        '\nnote: out of date after this run\'s redo, redone by the next run: second, report\n'
        '\nResults: ' + f'{tmp_path}/RESULTS.md (out of date: see the note above)\n')
    assert reproduce_run.out_of_date(plan, layout) == ['second', 'report']


def test_one_changed_stage_is_refused_alone_and_a_redo_or_a_stage_left_out_is_not(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    changed = plan_of(layout, ('a', 'b', 'c2'))
    with pytest.raises(UserError) as refused:
        run(layout, changed)
    assert str(refused.value).endswith('run again with --redo --stages third to redo it, or use a new --work_dir')
    reproduce_run.check_settings(changed, layout, ['first', 'second'], False)
    reproduce_run.check_settings(changed, layout, ['third'], True)
    run(layout, plan_of(layout, ('a', 'b2', 'c')), ['second'], redo=True)
    reproduce_run.check_settings(plan_of(layout, ('a', 'b2', 'c3')), layout, ['third'], False)  # redone anyway


def test_a_broken_marker_is_named_as_one(tmp_path, ran):
    layout = Layout(tmp_path)
    run(layout, plan_of(layout)[:1])
    with open(reproduce_run.marker(layout, 'first'), 'w') as handle:
        handle.write('[1]')
    with pytest.raises(UserError) as refused:
        run(layout, plan_of(layout)[:1])
    assert str(refused.value) == f'{tmp_path}/.reproduce/first.json: not a stage marker (expected a JSON object)'


def test_a_redo_in_progress_is_flagged_in_the_state_folder(tmp_path, ran, monkeypatch):
    layout = Layout(tmp_path / 'work')
    run(layout, plan_of(layout))
    (tmp_path / 'elsewhere').mkdir()
    monkeypatch.chdir(tmp_path / 'elsewhere')

    def killed(stage, layout):
        raise KeyboardInterrupt
    monkeypatch.setattr(reproduce_run, '_remove_outputs', killed)
    with pytest.raises(KeyboardInterrupt):
        run(layout, plan_of(layout), ['second'], redo=True)
    assert sorted(os.listdir(layout.state)) == ['first.json', 'second.redo', 'third.json']
    with open(os.path.join(layout.state, 'second.redo')) as handle:
        assert json.load(handle) == {}
    assert os.listdir(tmp_path / 'elsewhere') == []


class FlushWatch:
    """A stream that remembers whether each printed line was flushed before the next one was written."""

    def __init__(self):
        self.pending, self.unflushed, self.text = '', [], ''

    def write(self, text):
        if self.pending.endswith('\n'):
            self.unflushed.append(self.pending)
            self.pending = ''
        self.pending += text
        self.text += text

    def flush(self):
        self.pending = ''


def test_every_progress_line_is_flushed_as_it_is_printed(tmp_path, ran, monkeypatch):
    """The stages' own tools print too (and a log may be tailed): each line of progress is out before the next."""
    layout = Layout(tmp_path)
    out, err = FlushWatch(), FlushWatch()
    monkeypatch.setattr(sys, 'stdout', out)
    monkeypatch.setattr(sys, 'stderr', err)
    plan = plan_of(layout)
    reproduce_run.run_plan(plan, layout, ['second'])
    reproduce_run.run_plan(plan, layout, ['first', 'second'])
    reproduce_run.run_plan(plan, layout, ['first'], redo=True)
    os.makedirs(layout.state, exist_ok=True)
    with open(os.path.join(layout.state, 'third.partial.json'), 'w') as handle:
        json.dump({'seconds': 1.0, 'inputs': {'second': 0}}, handle)
    reproduce_run.run_plan(plan, layout, ['second', 'third'])
    reproduce_run.run_plan(plan, layout, ['first'], redo=True)
    reproduce_run.run_plan(plan, layout, ['first'])
    reproduce_run.print_done_note(plan, ['first'], layout)
    assert 'first: done already, skipped' in out.text and out.text.count('\n') > 10 and err.text.count('\n') == 2
    assert (out.unflushed, out.pending, err.unflushed, err.pending) == ([], '', [], '')


def test_a_broken_progress_file_is_named_as_one(tmp_path, ran):
    layout = Layout(tmp_path)
    os.makedirs(layout.state)
    with open(os.path.join(layout.state, 'first.partial.json'), 'w') as handle:
        handle.write('[]')
    with pytest.raises(UserError) as refused:
        run(layout, plan_of(layout)[:1])
    assert str(refused.value) == (f'{tmp_path}/.reproduce/first.partial.json: not a stage progress file '
                                  '(expected a JSON object)')


def test_a_finished_stage_redone_is_not_taken_for_an_interrupted_one(tmp_path, ran, capsys):
    """A run stopped just after a stage's marker was written leaves its progress file: the stage finished, and
    redoing it (out of date) says so, not that an interrupted attempt is thrown away."""
    layout = Layout(tmp_path)
    run(layout, plan_of(layout))
    with open(os.path.join(layout.state, 'second.partial.json'), 'w') as handle:
        json.dump({'seconds': 3.0, 'inputs': {'first': 1}}, handle)
    run(layout, plan_of(layout), ['first'], redo=True)
    capsys.readouterr()
    run(layout, plan_of(layout))
    out, err = capsys.readouterr()
    assert err == '' and 'second: redone, out of date' in out


def test_markers_without_a_sequence_count_as_made_first(tmp_path, ran):
    layout = Layout(tmp_path)
    plan = plan_of(layout)
    assert reproduce_run.up_to_date(plan, {'first': {'sequence': 1}, 'second': {}}) == {'first': True,
                                                                                        'second': False}
    os.makedirs(layout.state)
    for name in ('first', 'second'):
        with open(reproduce_run.marker(layout, name), 'w') as handle:
            json.dump({'seconds': 1.0}, handle)
    run(layout, plan)
    with open(reproduce_run.marker(layout, 'third')) as handle:
        assert json.load(handle)['sequence'] == 1


def test_a_redone_download_that_fetches_nothing_keeps_its_sequence(tmp_path, ran):
    layout, plan = download_first_plan(tmp_path)
    for recorded, kept in (({'sequence': 1}, 1), ({}, 0)):  # {}: a marker of an older version
        run(layout, plan)
        with open(reproduce_run.marker(layout, 'download')) as handle:
            content = json.load(handle)
        with open(reproduce_run.marker(layout, 'download'), 'w') as handle:
            json.dump({key: value for key, value in content.items() if key != 'sequence'} | recorded, handle)
        run(layout, plan, ['download'], redo=True)
        with open(reproduce_run.marker(layout, 'download')) as handle:
            assert json.load(handle)['sequence'] == kept


def test_an_interrupted_stage_names_every_stage_finished_since_it_began(tmp_path, ran, capsys):
    layout = Layout(tmp_path)
    plan = plan_of(layout)
    plan[2] = plan[2]._replace(needs=('first', 'second'))
    run(layout, plan, ['first', 'second'])
    with open(os.path.join(layout.state, 'third.partial.json'), 'w') as handle:
        json.dump({'seconds': 1.0, 'inputs': {}}, handle)
    run(layout, plan, ['third'])
    assert capsys.readouterr().err == ('note: the interrupted third began before the current outputs of first, '
                                       'second: what it made is removed and it starts again\n')
