"""The README and docs/ cannot drift from the code: every flag they show after a script's name is one that
script's parser takes, and every doc page the README links to exists."""
import argparse
import importlib
import os
import re

import pytest
from conftest import ROOT

from utils.upstream.flags import LOGGING_FLAGS, flag_table

PAGES = ['README.md', 'BENCHMARKS.md'] + sorted(os.path.join('docs', name) for name in os.listdir(
    os.path.join(ROOT, 'docs')) if name.endswith('.md'))
# A script's name, then its arguments up to the end of the command (a shell separator, a comment, a table cell).
COMMAND = re.compile(r'(?<![\w/.-])((?:deeplab/)?[a-z_]+\.py)((?:[ \t]+(?![|;&#`]|python|\.venv|make )[^\s|;&#`]+)*)')
FLAG = re.compile(r'^--([a-z][a-z0-9_]*)')


def _code(text):
    """The text of every code block (backslash continuations joined) and inline code span of a page."""
    blocks = re.findall(r'```[a-z]*\n(.*?)```', text, re.S)
    inline = re.findall(r'`([^`\n]+)`', re.sub(r'```.*?```', '', text, flags=re.S))
    return [block.replace('\\\n', ' ') for block in blocks] + inline


def shown_flags(text):
    """{script: {flag, ...}} of every `script.py --flag ...` in a page's code."""
    found = {}
    for code in _code(text):
        for script, rest in COMMAND.findall(code):
            tokens = rest.split()
            tokens = tokens[:tokens.index('--')] if '--' in tokens else tokens  # what follows is another script's
            flags = {match.group(1) for token in tokens if (match := FLAG.match(token))}
            found.setdefault(script, set()).update(flags)
    return found


def accepted_flags(script):
    """Every flag name `script` lists: its argparse options (not the old names it also takes), or upstream
    DeepLab's for deeplab/*.py."""
    if script.startswith('deeplab/'):
        name = script[len('deeplab/'):-len('.py')]
        table = flag_table(name)
        return set(table) | {f'no{n}' for n, spec in table.items() if spec[0] == 'boolean'} | set(LOGGING_FLAGS)
    module = importlib.import_module(script[:-len('.py')])
    parser = module.build_parser()
    return {option[2:] for action in parser._actions for option in action.option_strings
            if option.startswith('--') and action.help != argparse.SUPPRESS}  # pages teach the current names


# docs/flags.md is the scripts' own --help (tests/test_flag_reference.py), whose prose may name a flag beside another
# script's name ("train.py as a chief, --num_workers - 1 workers").
@pytest.mark.parametrize('page', [page for page in PAGES if page != os.path.join('docs', 'flags.md')])
def test_every_flag_a_page_shows_is_in_that_scripts_parser(page):
    text = open(os.path.join(ROOT, page), encoding='utf-8').read()
    shown = {script: flags for script, flags in shown_flags(text).items() if flags}
    missing = sorted(script for script in shown if not os.path.isfile(os.path.join(ROOT, script)))
    assert missing == []  # a flag shown after a script that is not in the repository (upstream's: deeplab/...)
    unknown = {script: sorted(flags - accepted_flags(script)) for script, flags in shown.items()}
    assert {script: flags for script, flags in unknown.items() if flags} == {}


def test_the_reader_sees_commands_in_blocks_tables_and_prose():
    """A guard on the reader itself, on a made-up page: otherwise the test above passes on anything."""
    page = ('Run `train.py --model_dir M --seed 1` first, then `launch_local_cluster.py --num_workers 2 -- --x`.'
            '\n\n| `evaluate.py --output_json F` | x |\n\n```bash\n'
            'python inference.py --image_data_dir D \\\n    --output_dir O  # then\n'
            'python deeplab/train.py --logtostderr --train_crop_size=513\n```\n')
    assert shown_flags(page) == {'train.py': {'model_dir', 'seed'}, 'launch_local_cluster.py': {'num_workers'},
                                 'evaluate.py': {'output_json'},
                                 'inference.py': {'image_data_dir', 'output_dir'},
                                 'deeplab/train.py': {'logtostderr', 'train_crop_size'}}
    assert 'not_a_flag' not in accepted_flags('train.py') and 'model_dir' in accepted_flags('train.py')
    assert 'train_crop_size' in accepted_flags('deeplab/train.py')


def test_the_readme_links_resolve():
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    links = re.findall(r'\]\(([^)#]+)\)', readme)
    assert links and sorted(link for link in links if not os.path.exists(os.path.join(ROOT, link))) == []


def test_every_script_has_a_parser_with_help():
    scripts = sorted(name for name in os.listdir(ROOT) if name.endswith('.py') and name not in (
        'deeplab_model.py', 'preprocessing.py', 'create_pascal_tf_record.py'))
    for script in scripts:
        parser = importlib.import_module(script[:-len('.py')]).build_parser()
        assert isinstance(parser, argparse.ArgumentParser) and parser.description, script


def test_the_crf_defaults_table_of_the_usage_page_is_the_code_s():
    """docs/usage.md's table of DenseCRF defaults, row by row, against utils.postprocess.crf (and so against
    densecrf_inference.py's help, which is generated from the same constants)."""
    from utils.postprocess import crf
    text = open(os.path.join(ROOT, 'docs', 'usage.md'), encoding='utf-8').read()
    rows = [line.split('|')[1:-1] for line in text.splitlines() if line.startswith('| `--') and 'iterations' in text
            and any(f'`--{name}`' in line.split('|')[1] for name in crf.CrfParams._fields)]
    checked = set()
    for flags_cell, _, probs_cell, labels_cell in rows:
        names = re.findall(r'`--([a-z_]+)`', flags_cell)
        number = r'\d+(?:\.\d+)?'
        probs = [float(v) for v in re.findall(number, probs_cell.split('(')[0])]
        labels = [float(v) for v in re.findall(number, labels_cell.split('(')[0])]
        assert labels == [getattr(crf.LABEL_DEFAULTS, name) for name in names]
        assert probs == ([] if names == ['gt_prob'] else [getattr(crf.PROBABILITY_DEFAULTS, name) for name in names])
        checked.update(names)
    assert checked == set(crf.CrfParams._fields)
