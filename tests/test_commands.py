"""A script run as the shell command it equals (utils.cli.commands): printed as that command, its main() run in
this process, a non-zero exit a one-line error; flags the script also takes under another name are spelt as its
--help lists them."""
import argparse
import sys
import types

import pytest

from utils.cli.commands import Command, command_line, current_names, run_command
from utils.common.errors import UserError


def test_the_shell_line_quotes_what_the_shell_would_split():
    command = Command('inference', ['--output_dir', 'my results', '--num_workers', '2'])
    assert command_line(command) == "python inference.py --output_dir 'my results' --num_workers 2"
    assert command_line(command, '"$PYTHON"') == '"$PYTHON" inference.py --output_dir \'my results\' --num_workers 2'


@pytest.fixture
def script(monkeypatch):
    """A stand-in script module `fake_script` whose main records its argv and returns or raises what it is told."""
    module = types.ModuleType('fake_script')
    module.calls, module.outcome = [], 0

    def main(argv):
        module.calls.append(argv)
        if isinstance(module.outcome, BaseException):
            raise module.outcome
        return module.outcome
    module.main = main
    monkeypatch.setitem(sys.modules, 'fake_script', module)
    return module


def test_a_command_is_printed_then_run_here(script, capsys):
    run_command(Command('fake_script', ['--x', '1']))
    assert script.calls == [['--x', '1']]
    assert capsys.readouterr().out == '$ python fake_script.py --x 1\n'


@pytest.mark.parametrize('outcome, code', [(3, 3), (SystemExit(2), 2)])
def test_a_non_zero_exit_is_a_user_error_naming_the_script(script, outcome, code):
    script.outcome = outcome
    with pytest.raises(UserError) as error:
        run_command(Command('fake_script', []))
    assert str(error.value) == f'fake_script.py stopped with exit code {code}'


@pytest.mark.parametrize('outcome', [None, SystemExit(0), SystemExit(None)])
def test_exit_code_0_or_none_is_success(script, outcome):
    script.outcome = outcome
    run_command(Command('fake_script', []))


def test_flags_under_another_name_are_spelt_as_help_lists_them():
    assert current_names('inference', ['--infer_data_list', 'val.txt', '--data_dir', 'JPEGImages', 'x']) == [
        '--image_list', 'val.txt', '--image_data_dir', 'JPEGImages', 'x']


def test_a_module_that_is_no_script_keeps_its_arguments(script):
    assert current_names('fake_script', ['--infer_data_list', 'a']) == ['--infer_data_list', 'a']
    assert current_names('no_such_module_here', ('--a', 'b')) == ['--a', 'b']


class Stream:
    """stdout that keeps what was written and what had been flushed."""

    def __init__(self):
        self.written, self.flushed = '', ''

    def write(self, text):
        self.written += text

    def flush(self):
        self.flushed = self.written


def test_the_command_line_is_flushed_before_the_script_runs(script, monkeypatch):
    """So that it comes before the script's output when stdout is a pipe or a log file."""
    stream = Stream()
    monkeypatch.setattr(sys, 'stdout', stream)
    seen = []
    script.main = lambda argv: seen.append(stream.flushed)
    run_command(Command('fake_script', []))
    assert seen == ['$ python fake_script.py\n']


def test_a_script_whose_parser_has_no_other_names_keeps_its_arguments(script):
    script.build_parser = argparse.ArgumentParser
    assert current_names('fake_script', ['--infer_data_list', 'a']) == ['--infer_data_list', 'a']


def test_the_help_table_s_rows_that_are_no_single_flag_are_not_renamed():
    """pixel_stacking's table shows the original three-folder form as one row; it is not a flag."""
    row = '--path_val VAL --path_aug AUG --path_ori ORI'
    assert current_names('pixel_stacking', ['--output_dir', row, '--inputs', 'a']) == [
        '--output_dir', row, '--prediction_dir', 'a']
