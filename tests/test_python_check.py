""".ci/make_venv: the venv gets Python 3.11 (python3.11, python3 when it is 3.11, or uv's), else one line says what
is needed and nothing is created. Fake interpreters on a PATH without the real ones stand in for the machine's."""
import os
import shutil
import subprocess

import pytest
from conftest import ROOT

SCRIPT = os.path.join(ROOT, '.ci', 'make_venv')


def fake_tool(bin_dir, name, version=None):
    """An executable `name` that prints "Python <version>" for --version and logs other calls to <name>.log."""
    path = bin_dir / name
    log = bin_dir / f'{name}.log'
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "Python {version}"; exit 0; fi\n'
                    f'echo "$*" > {log}\n')
    path.chmod(0o755)
    return log


def machine(tmp_path, tools):
    """A PATH holding only sed, make and the fake `tools` ({name: version}); returns (environment, logs)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('sed', 'make'):
        (bin_dir / name).symlink_to(shutil.which(name))
    logs = {name: fake_tool(bin_dir, name, version) for name, version in tools.items()}
    env = {key: value for key, value in os.environ.items() if key != 'PYTHON'}
    return dict(env, PATH=str(bin_dir)), logs


def make_venv(tmp_path, env):
    """Run the check for tmp_path/.venv; returns the finished process."""
    return subprocess.run([SCRIPT, str(tmp_path / '.venv')], env=env, capture_output=True, text=True)


@pytest.mark.parametrize('tools, found', [
    ({'python3': '3.12.3'}, 'found python3 3.12.3:'),
    ({}, 'found no python3.11 or python3 on PATH:'),
    ({'python3.11': '3.12.1', 'python3': '3.13.0'}, 'found python3.11 3.12.1, python3 3.13.0:'),
])
def test_without_python_3_11_one_line_says_what_is_needed_and_nothing_is_created(tmp_path, tools, found):
    env, logs = machine(tmp_path, tools)
    result = make_venv(tmp_path, env)
    assert result.returncode == 2 and result.stdout == ''
    line, = result.stderr.splitlines()
    assert line.startswith(f'error: {tmp_path / ".venv"} needs Python 3.11 (TensorFlow 2.15')
    assert found in line and 'apt install python3.11-venv' in line and 'pyenv install 3.11' in line
    assert not (tmp_path / '.venv').exists() and not any(log.exists() for log in logs.values())


def test_python3_11_is_preferred_and_python3_taken_when_it_is_3_11(tmp_path):
    env, logs = machine(tmp_path, {'python3.11': '3.11.9', 'python3': '3.11.4', 'uv': '0'})
    assert make_venv(tmp_path, env).returncode == 0
    assert logs['python3.11'].read_text() == f'-m venv {tmp_path / ".venv"}\n'
    assert not logs['python3'].exists() and not logs['uv'].exists()
    os.remove(tmp_path / 'bin' / 'python3.11')
    assert make_venv(tmp_path, env).returncode == 0
    assert logs['python3'].read_text() == f'-m venv {tmp_path / ".venv"}\n' and not logs['uv'].exists()


def test_uv_makes_the_venv_when_no_python_3_11_is_installed(tmp_path):
    env, logs = machine(tmp_path, {'python3': '3.12.3', 'uv': '0'})
    assert make_venv(tmp_path, env).returncode == 0
    assert logs['uv'].read_text() == f'venv --seed --python 3.11 {tmp_path / ".venv"}\n'
    assert not logs['python3'].exists()


def test_the_python_variable_is_the_only_interpreter_tried(tmp_path):
    env, logs = machine(tmp_path, {'python3.11': '3.11.9', 'uv': '0', 'chosen': '3.12.3'})
    result = make_venv(tmp_path, dict(env, PYTHON=str(tmp_path / 'bin' / 'chosen')))
    assert result.returncode == 2 and f'found {tmp_path / "bin" / "chosen"} 3.12.3:' in result.stderr
    assert not any(log.exists() for log in logs.values())


def test_make_test_stops_before_creating_the_venv(tmp_path):
    """The Makefile's venv target goes through the check (.ci/run runs `make test`)."""
    work = tmp_path / 'clone'
    (work / '.ci').mkdir(parents=True)
    for name in ('Makefile', 'requirements.txt', 'requirements-dev.txt', os.path.join('.ci', 'make_venv')):
        shutil.copy2(os.path.join(ROOT, name), work / name)
    env, _ = machine(tmp_path, {'python3': '3.12.3', 'python3.11': '3.12.3'})
    result = subprocess.run(['make', '-C', str(work), 'test'], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and 'error: .venv needs Python 3.11' in result.stderr
    assert not (work / '.venv').exists()
