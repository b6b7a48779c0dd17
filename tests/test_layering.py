"""The layers of the library, read from the imports of every module (module level and inside functions):
no cycles; data, post-processing and the shared helpers without TensorFlow; no library module importing the top
level; the model files configured outside the command-line module; library functions without argparse."""
import ast
import os

import pytest
from conftest import ROOT

LIBRARY_PACKAGES = ('utils', 'nets')
MODEL_FILES = ('deeplab_model', 'preprocessing')  # top-level modules that are not scripts
TENSORFLOW_FREE = ('utils.common', 'utils.data', 'utils.postprocess', 'utils.cli', 'utils.reproduce',
                   'utils.runtime.model_config')


def _module_name(path):
    relative = os.path.relpath(path, ROOT)[:-len('.py')].replace(os.sep, '.')
    return relative[:-len('.__init__')] if relative.endswith('.__init__') else relative


def _sources():
    """{module name: path} of the library packages and of every top-level .py file."""
    found = {}
    for package in LIBRARY_PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            found.update({_module_name(os.path.join(folder, f)): os.path.join(folder, f)
                          for f in files if f.endswith('.py')})
    found.update({name[:-3]: os.path.join(ROOT, name) for name in os.listdir(ROOT) if name.endswith('.py')})
    return found


SOURCES = _sources()
TOP_LEVEL = {name for name in SOURCES if '.' not in name and name not in LIBRARY_PACKAGES}
LIBRARY = {name for name in SOURCES if name.split('.')[0] in LIBRARY_PACKAGES}


def _imports(path):
    """Every module an `import` / `from ... import` anywhere in the file names (a `from package import module`
    counts as the module when it is one of ours)."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f'{node.module}.{alias.name}' for alias in node.names
                         if f'{node.module}.{alias.name}' in SOURCES)
    return names


IMPORTS = {name: _imports(path) for name, path in SOURCES.items()}


def _ours(names):
    return {name for name in names if name in SOURCES}


def test_the_reader_finds_the_known_edges():
    """A guard on the reader itself: edges that exist must be seen, or every rule below passes vacuously."""
    assert 'utils.runtime.checkpoints' in IMPORTS['deeplab_model']
    assert 'utils.postprocess.metrics' in IMPORTS['utils.postprocess.scoring']
    assert 'tensorflow' in IMPORTS['utils.runtime.training']
    assert 'deeplab_model' in IMPORTS['train']  # a lazy import inside main()


def test_no_import_cycles():
    graph = {name: _ours(IMPORTS[name]) - {name} for name in SOURCES}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = 'open'
        for target in sorted(graph[node]):
            if state.get(target) == 'open':
                cycles.append(' -> '.join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 'done'

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize('prefix', TENSORFLOW_FREE)
def test_data_postprocessing_and_plumbing_import_no_tensorflow(prefix):
    offenders = {name: sorted(n for n in IMPORTS[name] if n.split('.')[0] == 'tensorflow')
                 for name in LIBRARY if name == prefix or name.startswith(prefix + '.')}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_library_modules_never_import_the_top_level():
    """Scripts and the model files sit above the library: they pass the model functions down (training,
    prediction and export take model_fn / predict_fn / input_fn as arguments)."""
    offenders = {name: sorted(IMPORTS[name] & TOP_LEVEL) for name in LIBRARY}
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize('model_file', MODEL_FILES)
def test_the_model_files_take_their_configuration_outside_the_command_line_module(model_file):
    assert 'utils.runtime.model_config' in IMPORTS[model_file] or model_file == 'preprocessing'
    assert sorted(n for n in IMPORTS[model_file] if n.startswith('utils.cli')) == []
    assert sorted(IMPORTS[model_file] & (TOP_LEVEL - set(MODEL_FILES))) == []


def test_nets_build_layers_from_nothing_but_tensorflow_and_each_other():
    offenders = {name: sorted(n for n in _ours(IMPORTS[name]) if not n.startswith('nets'))
                 for name in LIBRARY if name.startswith('nets')}
    assert {name: found for name, found in offenders.items() if found} == {}


def _namespace_parameters(path):
    """Functions of the file with a parameter named like a parsed namespace, as 'function(parameter)'."""
    found = []
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f'{node.name}({arg.arg})' for arg in node.args.args + node.args.kwonlyargs
                      if arg.arg in ('args', 'namespace', 'flags')]
    return found


def test_library_functions_take_explicit_arguments_not_a_parsed_namespace():
    """Only the command-line package reads argparse's namespace; everything below it is called with values."""
    below_cli = [name for name in LIBRARY | set(MODEL_FILES) if not name.startswith('utils.cli')]
    offenders = {name: _namespace_parameters(SOURCES[name]) for name in below_cli}
    assert {name: found for name, found in offenders.items() if found} == {}
    assert sorted(name for name in below_cli if 'argparse' in IMPORTS[name]) == []
