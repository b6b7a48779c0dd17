"""A suite script run as the shell command it equals: printed as that command, then its main() called in this
process. The demo and reproduce.py both chain stages this way, so what they print is what they run."""
import collections
import importlib
import shlex

from utils.common.errors import UserError

Command = collections.namedtuple('Command', 'script argv')
Command.__doc__ = 'One run of a suite script: its module name (train, inference, ...) and its arguments.'


def command_line(command, python='python'):
    """The shell line of a command, run from the project folder by `python` (a shell word, not quoted here)."""
    return f'{python} {shlex.join([f"{command.script}.py", *command.argv])}'


def run_command(command):
    """Print a command and run its script's main() here; a non-zero exit is a UserError."""
    print(f'$ {command_line(command)}', flush=True)
    try:
        code = importlib.import_module(command.script).main(command.argv)
    except SystemExit as stop:  # argparse rejecting the arguments
        code = stop.code
    if code:
        raise UserError(f'{command.script}.py stopped with exit code {code}')


def current_names(script, argv):
    """`argv` with every flag the script also takes under another name (the original project's, or an earlier
    one of this suite's) spelt as its --help lists it: two spellings of one command compare equal."""
    try:
        parser = importlib.import_module(script).build_parser()
    except (ImportError, AttributeError):  # not one of the suite's scripts (a test's stand-in): nothing to rename
        return list(argv)
    renamed = {old: new for old, new in getattr(parser, 'original_names', {}).items() if ' ' not in old}
    return [renamed.get(item, item) for item in argv]
