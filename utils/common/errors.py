"""One clear line and exit code 2 for bad input, instead of a traceback."""
import sys


class UserError(Exception):
    """A problem with the user's input (files, flags, checkpoints) that the user can fix."""


def problem_list(summary, problems):
    """An error message naming every problem: after `summary` when there is one, else one indented line each,
    so the first line always says what is wrong and every bad input can be fixed in one go."""
    if len(problems) == 1:
        return f'{summary} {problems[0]}'
    return '\n'.join([summary, *(f'  {problem}' for problem in problems)])


def run_cli(main, argv=None):
    """Run `main(argv)`; report a UserError as one line on stderr and return exit code 2."""
    try:
        return main(argv) or 0
    except UserError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
