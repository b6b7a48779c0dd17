"""Bad input is one line `error: ...` on stderr and exit code 2, Ctrl-C is `interrupted` and 130, and a list of
problems names every one (utils.common.errors)."""
import pytest

from utils.common.errors import UserError, problem_list, run_cli


def test_a_main_that_returns_nothing_exits_0_and_gets_the_arguments():
    seen = []
    assert run_cli(seen.append, ['--flag', 'value']) == 0
    assert seen == [['--flag', 'value']]


def test_a_main_s_own_exit_code_is_kept():
    assert run_cli(lambda argv: 3, []) == 3


def test_a_user_error_is_one_line_on_stderr_and_exit_code_2(capsys):
    def main(argv):
        raise UserError('in.png: label values 30 outside the classes')
    assert run_cli(main, []) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ('', 'error: in.png: label values 30 outside the classes\n')


def test_ctrl_c_is_one_line_and_exit_code_130(capsys):
    def main(argv):
        raise KeyboardInterrupt
    assert run_cli(main, []) == 130  # 128 + SIGINT, as a shell reports a Ctrl-C
    assert capsys.readouterr() == ('', 'interrupted\n')


def test_other_exceptions_keep_their_traceback():
    def main(argv):
        raise RuntimeError('a bug')
    with pytest.raises(RuntimeError, match='a bug'):
        run_cli(main, [])


def test_one_problem_follows_the_summary_on_its_line():
    assert problem_list('labels:', ['a.png: missing']) == 'labels: a.png: missing'


def test_several_problems_are_indented_lines_under_the_summary():
    assert problem_list('2 bad labels:', ['a.png: missing', 'b.png: 3 channels']) == (
        '2 bad labels:\n  a.png: missing\n  b.png: 3 channels')
