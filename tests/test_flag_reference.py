"""docs/flags.md is every script's --help as the scripts print it (tests/flag_reference.py writes it)."""
import difflib

import flag_reference
import pytest


@pytest.mark.parametrize('name', flag_reference.scripts())
def test_the_flag_reference_shows_the_scripts_help(name):
    with open(flag_reference.PAGE, encoding='utf-8') as handle:
        page = handle.read()
    section = f'## {name}.py\n\n```text\n{flag_reference.script_help(name).rstrip()}\n```\n'
    if section not in page:
        start = page.find(f'## {name}.py\n')
        written = page[start:page.find('\n## ', start + 1) + 1] if start >= 0 else ''
        diff = ''.join(difflib.unified_diff(written.splitlines(True), section.splitlines(True), 'docs/flags.md',
                                            f'{name}.py --help', n=1))
        pytest.fail(f'docs/flags.md differs from {name}.py --help (rewrite it: python tests/flag_reference.py)\n'
                    f'{diff}')


def test_the_flag_reference_has_no_other_script():
    with open(flag_reference.PAGE, encoding='utf-8') as handle:
        assert handle.read() == flag_reference.page()
