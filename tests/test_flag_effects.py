"""Every flag of every user-facing script, into its effect.

One table per script, read against the script's own parser: a flag without a row (or a row without a flag) fails
`test_table_is_the_parser`. Each row gives the flag a value other than the one the run would otherwise use, runs
the script's main() with the library function it hands its work to replaced by a recorder, and checks the value
where it lands (the TrainingRun and params train.py's schedule receives, the prediction source evaluate.py and
inference.py run, the file a script writes); the same run without the row must land somewhere else, so every row
can fail. REFUSALS lists the flag combinations a script refuses, with their one-line error; SAVED_SETTINGS the
fields of deeplab_params.json each model-reading script reads back.

    python -c "import tests.test_flag_effects as t; t.print_coverage()"
"""
import argparse
import contextlib
import dataclasses
import importlib
import inspect
import io
import json
import os
import shutil
import types

import numpy as np
import pytest
from PIL import Image

from utils.common.errors import run_cli

MISSING = '<not reached>'


@dataclasses.dataclass
class Row:
    """`argv` (appended to the script's base argv, so a given base flag is overridden) gives the flag its value;
    `probe(seen)` reads where the value lands and must equal `expected`, and differ in the run of `reference`
    (default: the base argv alone)."""
    argv: list
    probe: object
    expected: object
    reference: list = dataclasses.field(default_factory=list)


class Seen:
    """What a run handed to the recorded functions: each call's arguments by parameter name; `out` is the run's
    own empty folder and `ws` the shared inputs."""

    def __init__(self, ws, out):
        self.ws, self.out, self.calls = ws, out, {}

    def arg(self, function, name, call=-1):
        return self.calls[function][call].get(name)

    def count(self, function):
        return len(self.calls.get(function, []))

    def file(self, *parts):
        return os.path.join(self.out, *parts)

    def json(self, *parts):
        with open(self.file(*parts), encoding='utf-8') as handle:
            return json.load(handle)


def record(monkeypatch, seen, owner, name, result=None, passthrough=False):
    """Replace `owner.name` by a recorder of its arguments (bound to its own signature) returning `result`
    (called with them when callable), or calling the real function when `passthrough`."""
    real = getattr(owner, name)
    signature = inspect.signature(real)

    def recorder(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.update(arguments.pop('kwargs', {}) if 'kwargs' in signature.parameters else {})
        arguments.update(arguments.pop('source', {}) if 'source' in signature.parameters else {})
        seen.calls.setdefault(name, []).append(arguments)
        if passthrough:
            return real(*args, **kwargs)
        return result(arguments) if callable(result) else result

    monkeypatch.setattr(owner, name, recorder)


def resolve(value, ws, out):
    """`value` with the '{ws}' and '{out}' placeholders of its strings filled in."""
    if isinstance(value, str):
        return value.replace('{ws}', ws).replace('{out}', out)
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(item, ws, out) for item in value)
    if isinstance(value, dict):
        return {key: resolve(item, ws, out) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------------------------------------------
# the shared inputs

def make_workspace(root):
    """Two 6x8 images a and b with labels, id lists, result and probability folders, an empty model folder."""
    from utils.data.voc import save_label
    from utils.postprocess.probabilities import save_probabilities
    rng = np.random.RandomState(0)
    for folder in ('images', 'labels', 'labels2', 'preds', 'preds2', 'probs', 'probs2', 'model', 'model2',
                   'data', 'existing'):
        os.makedirs(os.path.join(root, folder))
    for image_id in ('a', 'b'):
        Image.fromarray(rng.randint(0, 256, (6, 8, 3)).astype(np.uint8)).save(f'{root}/images/{image_id}.jpg')
        save_label(f'{root}/labels/{image_id}.png', rng.randint(0, 3, (6, 8)))
        save_label(f'{root}/labels2/{image_id}.png', np.zeros((6, 8), int))
        save_label(f'{root}/existing/{image_id}.png', np.zeros((6, 8), int))
        for folder in ('preds', 'preds2'):
            save_label(f'{root}/{folder}/{image_id}.png', rng.randint(0, 3, (6, 8)))
        for folder in ('probs', 'probs2'):
            save_probabilities(f'{root}/{folder}/{image_id}.npz', rng.dirichlet(np.ones(21), (6, 8)))
    for name, ids in {'list.txt': 'a\nb\n', 'list_a.txt': 'a\n', 'list_b.txt': 'b\n'}.items():
        with open(os.path.join(root, name), 'w', encoding='utf-8') as handle:
            handle.write(ids)
    with open(os.path.join(root, 'data', 'dataset.json'), 'w', encoding='utf-8') as handle:
        json.dump({'num_classes': 7}, handle)
    return root


@pytest.fixture(scope='module')
def ws(tmp_path_factory):
    return make_workspace(str(tmp_path_factory.mktemp('inputs')))


# ---------------------------------------------------------------------------------------------------------------
# the model flags: the same ten in train.py, evaluate.py, inference.py and export_model.py

MODEL_VALUES = {  # flag: (argv value, the model description's value); each differs from the default description
    'layout': (['original'], 'original'),
    'model_variant': (['resnet_v2_50'], 'resnet_v2_50'),
    'output_stride': (['8'], 8),
    'atrous_rates': (['3', '5', '7'], [3, 5, 7]),
    'multi_grid': (['2', '2', '2'], [2, 2, 2]),
    'decoder_output_stride': (['4'], 4),
    'num_classes': (['5'], 5),
    'input_normalization': (['mean_subtraction'], 'mean_subtraction'),
    'batch_norm_decay': (['0.99'], 0.99),
}


def model_rows(params_of):
    """Rows of the model flags, read from the model description `params_of(seen)`."""
    return {f'--{key}': Row([f'--{key}', *argv], lambda seen, key=key: params_of(seen)[key], value)
            for key, (argv, value) in MODEL_VALUES.items()}


# ---------------------------------------------------------------------------------------------------------------
# train.py

def patch_train(monkeypatch, seen):
    from utils.runtime import training
    record(monkeypatch, seen, training, 'prepare', (12, None, types.SimpleNamespace(chief=True)))
    record(monkeypatch, seen, training, 'check_model_dir', passthrough=True)
    record(monkeypatch, seen, training, 'train_and_evaluate', {})


def run_field(name):
    return lambda seen: getattr(seen.arg('train_and_evaluate', 'run'), name)


def train_param(name):
    return lambda seen: seen.arg('train_and_evaluate', 'params')[name]


def train_saved(name):
    """The value in the training params and in the deeplab_params.json train.py wrote (both must agree)."""
    def probe(seen):
        params, saved = seen.arg('train_and_evaluate', 'params'), seen.json('model', 'deeplab_params.json')
        return params[name] if params[name] == saved.get(name, saved.get(f'training_{name}')) else 'disagree'
    return probe


TRAIN_RUN = {  # TrainingRun fields: flag value, recorded value
    'batch_size': (['4'], 4), 'train_epochs': (['3'], 3), 'epochs_per_eval': (['2'], 2), 'no_eval': ([], True),
    'max_iter': (['50'], 50), 'crop_size': (['65', '97'], [65, 97]), 'min_scale': (['0.75'], 0.75),
    'max_scale': (['1.5'], 1.5), 'seed': (['7'], 7), 'save_checkpoints_steps': (['25'], 25),
    'save_checkpoints_secs': (['60'], 60), 'keep_checkpoints': (['5'], 5), 'log_every_n_steps': (['3'], 3),
    'intra_op_threads': (['2'], 2), 'inter_op_threads': (['1'], 1), 'num_gpus': (['0'], 0),
    'num_cpu_replicas': (['2'], 2), 'eval_throttle_secs': (['30'], 30),
}
TRAIN_PARAMS = {  # model_fn's settings: flag value, recorded value
    'initial_learning_rate': (['0.01'], 0.01), 'end_learning_rate': (['1e-5'], 1e-5),
    'learning_power': (['1.0'], 1.0), 'slow_start_step': (['5'], 5), 'slow_start_learning_rate': (['2e-4'], 2e-4),
    'momentum': (['0.8'], 0.8), 'weight_decay': (['5e-5'], 5e-5), 'freeze_batch_norm': ([], True),
    'tensorboard_images_max_outputs': (['2'], 2), 'log_every_n_steps': (['3'], 3),
    'eval_crop_size': (['321', '321'], [321, 321]),
}


def train_table():
    rows = {f'--{name}': Row([f'--{name}', *argv], run_field(name), value) for name, (argv, value) in TRAIN_RUN.items()}
    rows.update({f'--{name}': Row([f'--{name}', *argv], train_param(name), value)
                 for name, (argv, value) in TRAIN_PARAMS.items() if f'--{name}' not in rows})
    rows.update(model_rows(lambda seen: {key: train_saved(key)(seen) for key in MODEL_VALUES}))
    rows.update({
        '--model_dir': Row(['--model_dir', '{out}/other'], lambda seen: (
            seen.arg('train_and_evaluate', 'run').model_dir, os.path.isfile(seen.file('other', 'deeplab_params.json'))),
            ('{out}/other', True)),
        '--clean_model_dir': Row(['--clean_model_dir'], lambda seen: (
            seen.arg('check_model_dir', 'clean'), run_field('clean_model_dir')(seen)), (True, True)),
        '--data_dir': Row(['--data_dir', '{ws}/data'], lambda seen: (
            run_field('data_dir')(seen), train_saved('num_classes')(seen)), ('{ws}/data', 7)),
        '--pre_trained_model': Row(['--pre_trained_model', '{ws}/model2'], train_param('pre_trained_model'),
                                   '{ws}/model2'),
        '--regularization': Row(['--regularization', 'all_trainable'], train_saved('regularization'), 'all_trainable'),
        '--no_sync_batch_norm': Row(['--no_sync_batch_norm'], train_param('sync_batch_norm'), False),
        '--deterministic': Row(['--deterministic', '--seed', '7'], run_field('deterministic'), True),
        '--precision': Row(['--precision', 'bfloat16'], train_saved('precision'), 'bfloat16'),
        '--log_every_n_steps': Row(['--log_every_n_steps', '3'], lambda seen: (
            run_field('log_every_n_steps')(seen), train_param('log_every_n_steps')(seen)), (3, 3)),
    })
    return rows


# ---------------------------------------------------------------------------------------------------------------
# evaluate.py and inference.py: the prediction source (utils.runtime.predict) and what they write

def patch_predict(monkeypatch, seen):
    from utils.runtime import predict

    def outputs(arguments):
        for image_id in arguments['ids']:
            labels = np.zeros((6, 8), np.uint8)
            probabilities = np.full((6, 8, 3), 1 / 3, np.float32) if arguments.get('with_probabilities') else None
            yield image_id, np.zeros((6, 8, 3), np.uint8), labels, probabilities

    record(monkeypatch, seen, predict, 'iter_outputs', outputs)
    record(monkeypatch, seen, predict, 'iter_predictions',
           lambda arguments: ((i, labels) for i, _, labels, _ in outputs(arguments)))


def source_of(function):
    return lambda seen, key: seen.arg(function, key)


def predict_rows(function):
    """Rows of add_predict_flags's flags, read from the arguments of `function` (iter_predictions, iter_outputs)."""
    arg = source_of(function)
    rows = model_rows(lambda seen: arg(seen, 'params'))
    rows.update({
        '--model_dir': Row(['--model_dir', '{ws}/model2'], lambda seen: arg(seen, 'model_dir'), '{ws}/model2'),
        '--frozen_graph': Row(['--frozen_graph', '{ws}/frozen.pb'], lambda seen: (
            arg(seen, 'frozen_graph'), arg(seen, 'model_dir')), ('{ws}/frozen.pb', None)),
        '--inference_scales': Row(['--inference_scales', '0.5', '1.0'], lambda seen: arg(seen, 'scales'), (0.5, 1.0)),
        '--add_flipped_images': Row(['--add_flipped_images'], lambda seen: arg(seen, 'flip'), True),
        '--eval_crop_size': Row(['--eval_crop_size', '65', '97'], lambda seen: arg(seen, 'eval_crop_size'), [65, 97]),
        '--batch_size': Row(['--batch_size', '2'], lambda seen: arg(seen, 'batch_size'), 2),
        '--precision': Row(['--precision', 'bfloat16'], lambda seen: arg(seen, 'params')['precision'], 'bfloat16'),
    })
    return rows


def evaluate_table():
    rows = predict_rows('iter_predictions')

    def scored(seen):
        return seen.json('scores.json')

    rows.update({
        '--prediction_dir': Row(['--prediction_dir', '{ws}/preds', '{ws}/preds2', '--output_json', '{out}/scores.json'],
                                lambda seen: sorted(scored(seen)), ['preds', 'preds2']),
        '--image_data_dir': Row(['--image_data_dir', '{ws}/labels'],
                                lambda seen: seen.arg('iter_predictions', 'image_dir'), '{ws}/labels'),
        '--ground_truth_dir': Row(['--ground_truth_dir', '{ws}/labels2', '--output_json', '{out}/scores.json'],
                                  lambda seen: scored(seen)['pixel_accuracy'], 1.0,
                                  ['--output_json', '{out}/scores.json']),
        '--image_list': Row(['--image_list', '{ws}/list_b.txt'], lambda seen: seen.arg('iter_predictions', 'ids'),
                            ['b']),
        '--output_json': Row(['--output_json', '{out}/scores.json'], lambda seen: scored(seen)['precision'],
                             'float32'),
        '--per_image_csv': Row(['--per_image_csv', '{out}/images.csv'],
                               lambda seen: open(seen.file('images.csv')).read().count('\n'), 3),
        '--plot': Row(['--plot', '{out}/iou.png'], lambda seen: Image.open(seen.file('iou.png')).format, 'PNG'),
        '--num_workers': Row(['--prediction_dir', '{ws}/preds', '--num_workers', '3'],
                             lambda seen: seen.arg('score_folders', 'num_workers'), 3,
                             ['--prediction_dir', '{ws}/preds']),
        '--precision': Row(['--precision', 'bfloat16', '--output_json', '{out}/scores.json'], lambda seen: (
            seen.arg('iter_predictions', 'params')['precision'], scored(seen)['precision']), ('bfloat16', 'bfloat16'),
            ['--output_json', '{out}/scores.json']),
    })
    return rows


def patch_evaluate(monkeypatch, seen):
    import evaluate
    patch_predict(monkeypatch, seen)
    record(monkeypatch, seen, evaluate, 'score_folders', passthrough=True)


def inference_table():
    rows = predict_rows('iter_outputs')
    panels = ['--panel_dir', '{out}/panels']
    rows.update({
        '--image_data_dir': Row(['--image_data_dir', '{ws}/labels'],
                                lambda seen: seen.arg('iter_outputs', 'image_dir'), '{ws}/labels'),
        '--image_list': Row(['--image_list', '{ws}/list_b.txt'], lambda seen: seen.arg('iter_outputs', 'ids'), ['b']),
        '--output_dir': Row(['--output_dir', '{out}/other'], lambda seen: sorted(os.listdir(seen.file('other'))),
                            ['a.png', 'b.png']),
        '--save_probabilities': Row(['--save_probabilities'], lambda seen: (
            seen.arg('iter_outputs', 'with_probabilities'), sorted(os.listdir(seen.file('results', 'probabilities')))),
            (True, ['a.npz', 'b.npz'])),
        '--probabilities_dir': Row(['--save_probabilities', '--probabilities_dir', '{out}/probs'],
                                   lambda seen: sorted(os.listdir(seen.file('probs'))), ['a.npz', 'b.npz'],
                                   ['--save_probabilities']),
        '--panel_dir': Row(panels, lambda seen: [call['path'] for call in seen.calls['side_by_side']],
                           ['{out}/panels/a.png', '{out}/panels/b.png']),
        '--num_panels': Row([*panels, '--num_panels', '1'], lambda seen: seen.count('side_by_side'), 1, panels),
        '--ground_truth_dir': Row([*panels, '--ground_truth_dir', '{ws}/labels'],
                                  lambda seen: seen.arg('side_by_side', 'titles')[-1], 'ground truth', panels),
        '--overwrite': Row(['--output_dir', '{out}/existing', '--overwrite'],
                           lambda seen: seen.arg('iter_outputs', 'ids'), ['a', 'b'],
                           ['--output_dir', '{out}/existing']),
    })
    return rows


def patch_inference(monkeypatch, seen):
    from utils.postprocess import plots
    patch_predict(monkeypatch, seen)
    record(monkeypatch, seen, plots, 'side_by_side')
    shutil.copytree(os.path.join(seen.ws, 'existing'), seen.file('existing'))


# ---------------------------------------------------------------------------------------------------------------
# export_model.py

def export_table():
    def arg(name):
        return lambda seen: seen.arg('export', name)

    rows = model_rows(lambda seen: seen.arg('export', 'params'))
    rows.update({
        '--model_dir': Row(['--model_dir', '{ws}/model2'], arg('model_dir'), '{ws}/model2'),
        '--export_path': Row(['--export_path', '{out}/other.pb'], arg('export_path'), '{out}/other.pb'),
        '--saved_model_dir': Row(['--saved_model_dir', '{out}/saved'], arg('saved_model_dir'), '{out}/saved'),
        '--onnx_path': Row(['--onnx_path', '{out}/model.onnx'], arg('onnx_path'), '{out}/model.onnx'),
        '--eval_crop_size': Row(['--eval_crop_size', '65', '97'], arg('eval_crop_size'), [65, 97]),
        '--precision': Row(['--precision', 'float16'], lambda seen: seen.arg('export', 'params')['precision'],
                           'float16'),
    })
    return rows


def patch_export(monkeypatch, seen):
    from utils.runtime import export
    record(monkeypatch, seen, export, 'export')


# ---------------------------------------------------------------------------------------------------------------
# the tables

@dataclasses.dataclass
class Script:
    module: str
    base: list  # argv every run starts from
    table: object  # () -> {flag: Row}
    patch: object  # (monkeypatch, seen): install the recorders


SCRIPTS = {
    'train': Script('train', ['--model_dir', '{out}/model', '--data_dir', '{out}/records'], train_table, patch_train),
    'evaluate': Script('evaluate', ['--image_data_dir', '{ws}/images', '--ground_truth_dir', '{ws}/labels',
                                    '--image_list', '{ws}/list.txt', '--model_dir', '{ws}/model'],
                       evaluate_table, patch_evaluate),
    'inference': Script('inference', ['--image_data_dir', '{ws}/images', '--output_dir', '{out}/results',
                                      '--model_dir', '{ws}/model'], inference_table, patch_inference),
    'export_model': Script('export_model', ['--model_dir', '{ws}/model', '--export_path', '{out}/frozen.pb'],
                           export_table, patch_export),
}
# User-facing scripts whose flags have no table yet (their parsers are not checked here).
UNCOVERED = ()
TABLES = {name: script.table() for name, script in SCRIPTS.items()}


def parser_flags(parser):
    """The parser's listed options (first spelling) and positionals, without -h and the hidden old names."""
    return {action.option_strings[0] if action.option_strings else action.dest for action in parser._actions
            if not isinstance(action, argparse._HelpAction) and action.help != argparse.SUPPRESS}


def defined_flags(name):
    return parser_flags(importlib.import_module(SCRIPTS[name].module).build_parser())


def coverage():
    """{script: (flags with a row, flags defined)}."""
    return {name: (len(TABLES[name].keys() & defined_flags(name)), len(defined_flags(name))) for name in SCRIPTS}


def print_coverage():
    figures = coverage()
    for name, (covered, defined) in figures.items():
        print(f'{name}: {covered}/{defined}')
    print(f'total: {sum(c for c, _ in figures.values())}/{sum(d for _, d in figures.values())} flags; '
          f'scripts without a table: {", ".join(UNCOVERED) or "none"}')


@pytest.mark.parametrize('name', SCRIPTS)
def test_table_is_the_parser(name):
    assert set(TABLES[name]) == defined_flags(name)


_runs = {}


def run(monkeypatch, ws, tmp_path, name, extra):
    """main() of script `name` on its base argv + `extra`, with its recorders; returns what they saw."""
    script = SCRIPTS[name]
    out = str(tmp_path / f'run{len(os.listdir(tmp_path))}')
    os.makedirs(out)
    seen = Seen(ws, out)
    module = importlib.import_module(script.module)
    with monkeypatch.context() as patcher:
        script.patch(patcher, seen)
        argv = resolve([*script.base, *extra], ws, out)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = run_cli(module.main, argv)
        assert code == 0, err.getvalue()
    return seen


def observe(row, seen):
    try:
        return row.probe(seen)
    except (KeyError, IndexError, FileNotFoundError, TypeError):
        return MISSING


@pytest.mark.parametrize('name,flag', [(name, flag) for name, table in TABLES.items() for flag in table])
def test_flag_lands(name, flag, ws, tmp_path, monkeypatch):
    row = TABLES[name][flag]
    seen = run(monkeypatch, ws, tmp_path, name, row.argv)
    expected = resolve(row.expected, ws, seen.out)
    assert observe(row, seen) == expected
    reference = run(monkeypatch, ws, tmp_path, name, row.reference)
    assert observe(row, reference) != resolve(row.expected, ws, reference.out)


# ---------------------------------------------------------------------------------------------------------------
# refused combinations: exit code 2 and one line saying why

REFUSALS = [  # (script, argv after its base argv, the error line)
    ('train', ['--deterministic'], '--deterministic needs --seed (op determinism refuses unseeded random ops)'),
    ('train', ['--layout', 'original', '--model_variant', 'xception_65'],
     "--layout original: the original project's DeepLabv3 is built on resnet_v2_50 or resnet_v2_101, not xception_65"),
    ('train', ['--layout', 'original', '--decoder_output_stride', '4'],
     "--layout original: the original project's DeepLabv3 has no decoder; leave --decoder_output_stride unset"),
    ('export_model', ['--model_variant', 'xception_65', '--input_normalization', 'mean_subtraction'],
     '--input_normalization mean_subtraction: xception_65 takes inception (x/127.5-1) only'),
    ('export_model', ['--layout', 'original', '--model_variant', 'xception_65'],
     "--layout original: the original project's DeepLabv3 is built on resnet_v2_50 or resnet_v2_101, not xception_65"),
    ('evaluate', ['--frozen_graph', '{ws}/frozen.pb', '--precision', 'bfloat16'],
     '{ws}/frozen.pb: --precision needs a checkpoint (--model_dir); a frozen graph runs in the precision it was '
     'exported in (export_model.py --precision)'),
    ('evaluate', ['--frozen_graph', '{ws}/frozen.pb', '--batch_size', '2'],
     '{ws}/frozen.pb: --batch_size needs a checkpoint (--model_dir); a frozen graph takes one image per run'),
    ('evaluate', ['--frozen_graph', '{ws}/frozen.pb', '--add_flipped_images'],
     '{ws}/frozen.pb: --inference_scales, --add_flipped_images and --eval_crop_size need a checkpoint (--model_dir); '
     'a frozen graph runs one scale with its own padding'),
    ('evaluate', ['--batch_size', '0'], '--batch_size 0: give 1 or more images per run'),
    ('evaluate', ['--layout', 'original', '--decoder_output_stride', '4'],
     "--layout original: the original project's DeepLabv3 has no decoder; leave --decoder_output_stride unset"),
    ('inference', ['--frozen_graph', '{ws}/frozen.pb', '--save_probabilities'],
     '{ws}/frozen.pb: frozen graphs give labels only; pass the checkpoint (--model_dir) to save probabilities'),
    ('inference', ['--frozen_graph', '{ws}/frozen.pb', '--eval_crop_size', '65', '65'],
     '{ws}/frozen.pb: --inference_scales, --add_flipped_images and --eval_crop_size need a checkpoint (--model_dir); '
     'a frozen graph runs one scale with its own padding'),
]


@pytest.mark.parametrize('name,argv,error', REFUSALS)
def test_refused(name, argv, error, ws, tmp_path, monkeypatch):
    seen = Seen(ws, str(tmp_path))
    script = SCRIPTS[name]
    module = importlib.import_module(script.module)
    with monkeypatch.context() as patcher:
        script.patch(patcher, seen)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = run_cli(module.main, resolve([*script.base, *argv], ws, seen.out))
            except SystemExit as exit_:  # argparse's refusals
                code = exit_.code
    assert (code, err.getvalue().strip().splitlines()[-1]) == (2, f'error: {resolve(error, ws, seen.out)}')
    assert not seen.calls.get('train_and_evaluate') and not seen.calls.get('export')


# ---------------------------------------------------------------------------------------------------------------
# saved settings: deeplab_params.json, every field other than its default, read back by every script that reads it

SAVED_SETTINGS = [
    {'layout': 'original', 'model_variant': 'resnet_v2_50', 'output_stride': 8, 'atrous_rates': [3, 5, 7],
     'multi_grid': [2, 2, 2], 'decoder_output_stride': None, 'num_classes': 5, 'input_normalization': 'inception',
     'batch_norm_decay': 0.99, 'training_precision': 'bfloat16', 'regularization': 'kernels'},
    {'layout': 'deeplab', 'model_variant': 'resnet_v2_50', 'output_stride': 8, 'atrous_rates': [2, 4, 6],
     'multi_grid': [1, 1, 1], 'decoder_output_stride': 4, 'num_classes': 9,
     'input_normalization': 'mean_subtraction', 'batch_norm_decay': 0.95, 'training_precision': 'float16',
     'regularization': 'all_trainable'},
]
SAVED_READERS = {  # script: (argv naming the model folder, the model description it runs with)
    'evaluate': (['--model_dir', '{out}/saved'], lambda seen: seen.arg('iter_predictions', 'params')),
    'inference': (['--model_dir', '{out}/saved'], lambda seen: seen.arg('iter_outputs', 'params')),
    'export_model': (['--model_dir', '{out}/saved'], lambda seen: seen.arg('export', 'params')),
    'train': (['--model_dir', '{out}/saved'], lambda seen: seen.arg('train_and_evaluate', 'params')),
}


def test_saved_fields_are_not_defaults(tmp_path):
    """SAVED_SETTINGS hold every field train.py writes, each off its default in one of them."""
    from utils.runtime.model_config import MODEL_DEFAULTS, save_model_params
    save_model_params(str(tmp_path), dict(MODEL_DEFAULTS, precision='float32', regularization='kernels'))
    written = json.loads((tmp_path / 'deeplab_params.json').read_text())
    defaults = dict(written, atrous_rates=[6, 12, 18], multi_grid=[1, 2, 4], input_normalization='inception')
    for field in written:
        assert any(settings[field] != defaults[field] for settings in SAVED_SETTINGS), field
    assert all(set(settings) == set(written) for settings in SAVED_SETTINGS)


@pytest.mark.parametrize('settings', range(len(SAVED_SETTINGS)))
@pytest.mark.parametrize('name', SAVED_READERS)
def test_saved_settings_read_back(name, settings, ws, tmp_path, monkeypatch):
    saved = SAVED_SETTINGS[settings]
    argv, params_of = SAVED_READERS[name]
    recorders = SCRIPTS[name].patch

    def patch(patcher, seen):
        recorders(patcher, seen)
        os.makedirs(seen.file('saved'))
        with open(seen.file('saved', 'deeplab_params.json'), 'w', encoding='utf-8') as handle:
            json.dump(saved, handle)

    monkeypatch.setitem(SCRIPTS, name, dataclasses.replace(SCRIPTS[name], patch=patch))
    seen = run(monkeypatch, ws, tmp_path, name, argv)
    params = params_of(seen)
    model_fields = {key: value for key, value in saved.items() if key not in ('training_precision', 'regularization')}
    assert {key: params[key] for key in model_fields} == model_fields
    if name == 'train':  # the resumed run continues the regularization and writes the same description back
        assert params['regularization'] == saved['regularization']
        rewritten = seen.json('saved', 'deeplab_params.json')
        assert rewritten == dict(saved, training_precision='float32')
