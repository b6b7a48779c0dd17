"""docs/flags.md, every script's --help in one page: written here, and checked by tests/test_flag_reference.py so
that the page and the help a user reads never differ (a changed help text is a change reviewed in the page too).

    python tests/flag_reference.py          # rewrite docs/flags.md after changing a flag
"""
import contextlib
import importlib
import os
import sys
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, 'docs', 'flags.md')
COLUMNS = '100'  # argparse wraps help to the terminal's width: the page uses a fixed one
HEADER = """# Every script's flags

Each script's `--help`, as it prints it (wrapped at {columns} columns; `--num_workers` says your machine's core
count where this page says N). How the flags combine is in [usage.md](usage.md); upstream DeepLab's
`deeplab/*.py` take upstream's own flags ([upstream.md](upstream.md)). This page is written by
`python tests/flag_reference.py`, and `make test` fails when it differs from what the scripts print.
"""


def scripts():
    """The top-level scripts with a build_parser(), by file name."""
    names = []
    for name in sorted(os.listdir(ROOT)):
        if name.endswith('.py'):
            with open(os.path.join(ROOT, name), encoding='utf-8') as handle:
                if 'def build_parser(' in handle.read():
                    names.append(name[:-3])
    return names


def script_help(name):
    """`python <name>.py --help` as printed at the page's width, with the machine's core count as N."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    module = importlib.import_module(name)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, {'COLUMNS': COLUMNS}))
        stack.enter_context(mock.patch('utils.cli.flags.default_workers', lambda: 'N'))
        parser = module.build_parser()
        parser.prog = f'{name}.py'
        return parser.format_help()


def page():
    """The text of docs/flags.md."""
    sections = [HEADER.format(columns=COLUMNS)]
    for name in scripts():
        sections.append(f'## {name}.py\n\n```text\n{script_help(name).rstrip()}\n```\n')
    return '\n'.join(sections)


if __name__ == '__main__':
    with open(PAGE, 'w', encoding='utf-8') as out:
        out.write(page())
    print(f'wrote {os.path.relpath(PAGE)}')
