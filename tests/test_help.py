"""--help shows each script's examples as written: a trailing backslash stays, the next line stays a line."""
import ast
import glob
import os

import pytest
from conftest import ROOT

import export_model

SCRIPTS = sorted(glob.glob(os.path.join(ROOT, '*.py')))


def test_export_model_help_shows_the_example_on_two_lines():
    lines = export_model.build_parser().format_help().splitlines()
    first = next(i for i, line in enumerate(lines) if 'python export_model.py' in line)
    assert lines[first].endswith('--export_path model/frozen_inference_graph.pb \\')
    assert lines[first + 1].strip() == '--model_variant xception_65 --decoder_output_stride 4'


@pytest.mark.parametrize('path', SCRIPTS, ids=os.path.basename)
def test_no_docstring_line_is_joined_by_a_single_backslash(path):
    with open(path, encoding='utf-8') as handle:
        source = handle.read()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=False)
    assert doc, 'no module docstring (it is the --help description)'
    written = ast.get_source_segment(source, tree.body[0])
    assert doc.count('\n') == written.count('\n'), 'a line ends in a single backslash: write \\\\ to show one'
