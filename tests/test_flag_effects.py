"""Every flag of every user-facing script, into its effect.

One table per script (the top-level scripts with build_parser() and main(argv), and deeplab/*.py), read against
the script's own parser (for deeplab/*.py: upstream's flag definitions and absl's logging flags): a flag without a
row, or a row without a flag, fails. Each row gives the flag a value other than the one the run would otherwise
use, runs the script's main() with the library function it hands its work to replaced by a recorder, and checks
the value where it lands (the TrainingRun and params train.py's schedule receives, the prediction source
evaluate.py and inference.py run, the commands of reproduce.py's plan, the file a script writes); the same run
without the row must land elsewhere, so every row can fail. An upstream flag this suite does not translate is in
its table with the error that refuses it. REFUSALS lists the flag combinations a script refuses, with their
one-line error; SAVED_SETTINGS the fields of deeplab_params.json the model-reading scripts read back;
MARKER_READERS the fields of the reproduction's stage markers and who reads them.

    python -c "import tests.test_flag_effects as t; t.print_coverage()"
"""
import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import json
import os
import shutil
import sys
import types

import numpy as np
import pytest
from PIL import Image

from utils.common.errors import run_cli
from utils.common.files import SETTINGS_RECORD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = '<not reached>'


@dataclasses.dataclass
class Row:
    """`argv` (appended to the script's base argv, so a given base flag is overridden) gives the flag its value;
    `probe(seen)` reads where the value lands and must equal `expected`, and differ in the run of `reference`
    (appended to the base argv; default: nothing)."""
    argv: list
    probe: object
    expected: object
    reference: list = dataclasses.field(default_factory=list)
    drop: tuple = ()  # base flags the row's run goes without (the other side of a mutually exclusive pair)


class Seen:
    """What a run handed to the recorded functions: each call's arguments by parameter name; `out` is the run's
    own empty folder and `ws` the shared inputs."""

    def __init__(self, ws, out):
        self.ws, self.out, self.calls = ws, out, {}
        self.code, self.stderr, self.error = None, '', None  # exit code, stderr, the error line's message

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


def arg(function, name):
    """A probe: the argument `name` of the last call of `function`."""
    return lambda seen: seen.arg(function, name)


def without(argv, flags):
    """`argv` without `flags` and their values."""
    kept, skipping = [], False
    for item in argv:
        if item.startswith('--'):
            skipping = item in flags
        if not skipping:
            kept.append(item)
    return kept


def resolve(value, ws, out):
    """`value` with the '{ws}' and '{out}' placeholders of its strings filled in."""
    if isinstance(value, str):
        return value.replace('{ws}', ws).replace('{out}', out)
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(item, ws, out) for item in value)
    if isinstance(value, dict):
        return {resolve(key, ws, out): resolve(item, ws, out) for key, item in value.items()}
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
    lists = {'voc/ImageSets/Segmentation': {'train': 'a', 'val': 'b d'},
             'voc2/ImageSets/Segmentation': {'train': 'a', 'val': 'e f'},
             'voc3/ImageSets/Segmentation': {'train': 'a', 'val': 'b d x'},
             'voctest/ImageSets/Segmentation': {'test': 't1 t2'},
             'sbd': {'train': 'c', 'val': 'b'}, 'sbd2': {'train': 'c k', 'val': 'b'}}
    for folder, files in lists.items():
        os.makedirs(os.path.join(root, folder))
        for name, ids in files.items():
            with open(os.path.join(root, folder, f'{name}.txt'), 'w', encoding='utf-8') as handle:
                handle.write('\n'.join(ids.split()) + '\n')
    os.makedirs(os.path.join(root, 'aug'))
    for image_id in ('a', 'b', 'c', 'd', 'x'):
        save_label(f'{root}/aug/{image_id}.png', np.zeros((2, 2), int))
    write_variables(os.path.join(root, 'zoo', 'model.ckpt'), {
        'xception_65/entry_flow/conv1_1/weights': [3, 3, 3, 32], 'aspp0/weights': [1, 1, 8, 4],
        'logits/semantic/weights': [1, 1, 4, 5]})
    with open(os.path.join(root, 'md5sums.txt'), 'w', encoding='utf-8') as handle:
        handle.write('0123456789abcdef0123456789abcdef  VOCtrainval_11-May-2012.tar\n')
    from utils.postprocess.crf import CrfParams, write_params
    write_params(os.path.join(root, 'crf.json'), CrfParams(**CRF_VALUES))
    return root


def write_variables(prefix, shapes):
    """A checkpoint of zero variables {name: shape} at `prefix`."""
    import tensorflow as tf
    with tf.Graph().as_default():
        for name, shape in shapes.items():
            tf.compat.v1.get_variable(name, shape, initializer=tf.compat.v1.zeros_initializer())
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(session, prefix)


@pytest.fixture(scope='module')
def ws(tmp_path_factory):
    return make_workspace(str(tmp_path_factory.mktemp('inputs')))


# ---------------------------------------------------------------------------------------------------------------
# the model flags: the same nine in train.py, evaluate.py, inference.py and the export scripts

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
    'tensorboard_images_max_outputs': (['2'], 2), 'eval_crop_size': (['321', '321'], [321, 321]),
}


def train_table():
    rows = {f'--{name}': Row([f'--{name}', *argv], run_field(name), value) for name, (argv, value) in TRAIN_RUN.items()}
    rows.update({f'--{name}': Row([f'--{name}', *argv], train_param(name), value)
                 for name, (argv, value) in TRAIN_PARAMS.items()})
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


def predict_rows(function):
    """Rows of add_predict_flags's flags, read from the arguments of `function` (iter_predictions, iter_outputs)."""
    rows = model_rows(lambda seen: seen.arg(function, 'params'))
    rows.update({
        '--model_dir': Row(['--model_dir', '{ws}/model2'], arg(function, 'model_dir'), '{ws}/model2'),
        '--frozen_graph': Row(['--frozen_graph', '{ws}/frozen.pb'], lambda seen: (
            seen.arg(function, 'frozen_graph'), seen.arg(function, 'model_dir')), ('{ws}/frozen.pb', None)),
        '--inference_scales': Row(['--inference_scales', '0.5', '1.0'], arg(function, 'scales'), (0.5, 1.0)),
        '--add_flipped_images': Row(['--add_flipped_images'], arg(function, 'flip'), True),
        '--eval_crop_size': Row(['--eval_crop_size', '65', '97'], arg(function, 'eval_crop_size'), [65, 97]),
        '--batch_size': Row(['--batch_size', '2'], arg(function, 'batch_size'), 2),
        '--precision': Row(['--precision', 'bfloat16'], lambda seen: seen.arg(function, 'params')['precision'],
                           'bfloat16'),
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
                            [SETTINGS_RECORD, 'a.png', 'b.png']),
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
        '--overwrite': Row(['--output_dir', '{out}/existing', '--overwrite'], lambda seen: (
            seen.arg('iter_outputs', 'ids'), seen.arg('resume_settings', 'overwrite')), (['a', 'b'], True),
            ['--output_dir', '{out}/existing']),
    })
    return rows


def patch_inference(monkeypatch, seen):
    import inference
    from utils.postprocess import plots
    patch_predict(monkeypatch, seen)
    record(monkeypatch, seen, inference, 'resume_settings', passthrough=True)
    record(monkeypatch, seen, plots, 'side_by_side')
    shutil.copytree(os.path.join(seen.ws, 'existing'), seen.file('existing'))


# ---------------------------------------------------------------------------------------------------------------
# export_model.py

def export_table():
    rows = model_rows(lambda seen: seen.arg('export', 'params'))
    rows.update({
        '--model_dir': Row(['--model_dir', '{ws}/model2'], arg('export', 'model_dir'), '{ws}/model2'),
        '--export_path': Row(['--export_path', '{out}/other.pb'], arg('export', 'export_path'), '{out}/other.pb'),
        '--saved_model_dir': Row(['--saved_model_dir', '{out}/saved'], arg('export', 'saved_model_dir'), '{out}/saved'),
        '--onnx_path': Row(['--onnx_path', '{out}/model.onnx'], arg('export', 'onnx_path'), '{out}/model.onnx'),
        '--eval_crop_size': Row(['--eval_crop_size', '65', '97'], arg('export', 'eval_crop_size'), [65, 97]),
        '--precision': Row(['--precision', 'float16'], lambda seen: seen.arg('export', 'params')['precision'],
                           'float16'),
    })
    return rows


def patch_export(monkeypatch, seen):
    from utils.runtime import export
    record(monkeypatch, seen, export, 'export')


# ---------------------------------------------------------------------------------------------------------------
# post-processing: pixel_stacking.py, densecrf_inference.py, make_submission.py

def stacking_table():
    vote, fuse = 'stack_folders', 'fuse_folders'
    return {
        '--prediction_dir': Row(['--prediction_dir', '{ws}/preds2', '{ws}/preds'], arg(vote, 'input_dirs'),
                                ['{ws}/preds2', '{ws}/preds']),
        '--weights': Row(['--weights', '2', '1'], arg(vote, 'weights'), [2.0, 1.0]),
        '--probabilities': Row(['--probabilities', '--prediction_dir', '{ws}/probs', '{ws}/probs2'],
                               arg(fuse, 'prob_dirs'), ['{ws}/probs', '{ws}/probs2']),
        '--output_dir': Row(['--output_dir', '{out}/other'], arg(vote, 'output_dir'), '{out}/other'),
        '--tie_break': Row(['--tie_break', 'smallest'], arg(vote, 'tie_break'), 'smallest'),
        '--image_list': Row(['--image_list', '{ws}/list_a.txt'], arg(vote, 'ids'), ['a']),
        '--allow_missing': Row(['--allow_missing'], arg(vote, 'allow_missing'), True),
        '--num_classes': Row(['--num_classes', '5'], arg(vote, 'num_classes'), 5),
        '--num_workers': Row(['--num_workers', '3'], arg(vote, 'num_workers'), 3),
        '--overwrite': Row(['--overwrite'], lambda seen: (
            seen.arg(vote, 'overwrite'), seen.arg('resume_settings', 'overwrite')), (True, True)),
    }


def patch_stacking(monkeypatch, seen):
    import pixel_stacking
    record(monkeypatch, seen, pixel_stacking, 'stack_folders', types.SimpleNamespace(missing={}, written=2, skipped=0))
    record(monkeypatch, seen, pixel_stacking, 'fuse_folders', (2, 0))
    record(monkeypatch, seen, pixel_stacking, 'resume_settings', passthrough=True)


CRF_VALUES = {'gt_prob': 0.6, 'gauss_sxy': 2.0, 'gauss_compat': 4.0, 'bilateral_sxy': 50.0, 'bilateral_srgb': 7.0,
              'bilateral_compat': 6.0, 'iterations': 3}  # none the default of hard labels or of probabilities


def crf_table():
    refine, tune = 'refine_folder', 'tune'
    tuning = ['--tune', '--ground_truth_dir', '{ws}/labels']

    def params(name):
        return lambda seen: getattr(seen.arg(refine, 'params'), name)

    rows = {f'--{name}': Row([f'--{name}', str(value)], params(name), value) for name, value in CRF_VALUES.items()}
    rows.update({
        '--image_data_dir': Row(['--image_data_dir', '{ws}/labels'], arg(refine, 'image_dir'), '{ws}/labels'),
        '--prediction_dir': Row(['--prediction_dir', '{ws}/preds2'], arg(refine, 'label_dir'), '{ws}/preds2'),
        '--prob_dir': Row(['--prob_dir', '{ws}/probs'], lambda seen: (
            seen.arg(refine, 'prob_dir'), seen.arg(refine, 'params').bilateral_sxy), ('{ws}/probs', 67),
            drop=('--prediction_dir',)),
        '--output_dir': Row(['--output_dir', '{out}/other'], arg(refine, 'output_dir'), '{out}/other'),
        '--image_list': Row(['--image_list', '{ws}/list_a.txt'], arg(refine, 'ids'), ['a']),
        '--seed_compat': Row(['--seed_compat'], lambda seen: (
            seen.arg(refine, 'seed_compat'), seen.arg(refine, 'params').iterations), (True, 1)),
        '--params_json': Row(['--params_json', '{ws}/crf.json'], lambda seen: seen.arg(refine, 'params')._asdict(),
                             CRF_VALUES),
        '--num_classes': Row(['--num_classes', '5'], arg(refine, 'num_classes'), 5),
        '--num_workers': Row(['--num_workers', '3'], arg(refine, 'num_workers'), 3),
        '--overwrite': Row(['--overwrite'], lambda seen: (
            seen.arg(refine, 'overwrite'), seen.arg('resume_settings', 'overwrite')), (True, True)),
        '--tune': Row(tuning, lambda seen: (seen.count(tune), seen.count(refine)), (1, 0)),
        '--ground_truth_dir': Row([*tuning, '--ground_truth_dir', '{ws}/labels2'], arg(tune, 'gt_dir'),
                                  '{ws}/labels2', tuning),
        '--tune_output': Row([*tuning, '--tune_output', '{out}/best.json'], lambda seen: seen.json('best.json'),
                             {'gt_prob': 0.7, 'gauss_sxy': 3, 'gauss_compat': 3, 'bilateral_sxy': 40,
                              'bilateral_srgb': 3, 'bilateral_compat': 4, 'iterations': 5}, tuning),  # grid's first
    })
    for name in ('bilateral_sxy', 'bilateral_srgb', 'bilateral_compat'):
        rows[f'--tune_{name}'] = Row([*tuning, f'--tune_{name}', '2', '9'],
                                     lambda seen, name=name: seen.arg(tune, 'grid')[name], [2.0, 9.0], tuning)
    return rows


def patch_crf(monkeypatch, seen):
    import densecrf_inference
    from utils.postprocess import crf

    def tuned(arguments):  # the grid's first setting beats no CRF
        first = {name: values[0] for name, values in arguments['grid'].items()}
        setting = arguments['params']._replace(**first)
        perfect = np.hstack([np.eye(3) * 10, np.zeros((3, 1))])  # classes x (classes + a column of invalid values)
        confusion = {crf.NO_CRF: np.ones((3, 4)), 'first': perfect}
        return types.SimpleNamespace(confusion=confusion), {'first': setting}

    record(monkeypatch, seen, crf, 'refine_folder', (2, 0))
    record(monkeypatch, seen, crf, 'tune', tuned)
    record(monkeypatch, seen, densecrf_inference, 'resume_settings', passthrough=True)


def submission_table():
    return {
        '--prediction_dir': Row(['--prediction_dir', '{ws}/preds2'], arg('make_submission', 'results_dir'),
                                '{ws}/preds2'),
        '--output': Row(['--output', '{out}/other.tar.gz'], arg('make_submission', 'output'), '{out}/other.tar.gz'),
        '--comp': Row(['--comp', 'comp5'], arg('make_submission', 'comp'), 'comp5'),
        '--image_list': Row(['--image_list', '{ws}/list_a.txt'], arg('make_submission', 'image_list'),
                            '{ws}/list_a.txt'),
        '--image_data_dir': Row(['--image_data_dir', '{ws}/labels'], arg('make_submission', 'image_dir'),
                                '{ws}/labels'),
        '--num_workers': Row(['--num_workers', '3'], arg('make_submission', 'num_workers'), 3),
    }


def patch_submission(monkeypatch, seen):
    import make_submission
    record(monkeypatch, seen, make_submission, 'make_submission', 2)


# ---------------------------------------------------------------------------------------------------------------
# data preparation: create_tf_record.py, create_coco_tf_record.py, prepare_labels.py

def records_table():
    pairs, write = 'find_pairs', 'write_records'
    return {
        '--data_dir': Row(['--data_dir', '{out}/other'], arg(write, 'data_dir'), '{out}/other'),
        '--image_data_dir': Row(['--image_data_dir', '{ws}/labels'], arg(pairs, 'image_dir'), '{ws}/labels'),
        '--ground_truth_dir': Row(['--ground_truth_dir', '{ws}/labels2'], arg(pairs, 'label_dir'), '{ws}/labels2'),
        '--train_data_list': Row(['--train_data_list', '{ws}/list_b.txt'], lambda seen: seen.arg(pairs, 'ids', 0),
                                 ['b']),
        '--valid_data_list': Row(['--valid_data_list', '{ws}/list_b.txt'], lambda seen: seen.arg(pairs, 'ids', 1),
                                 ['b']),
        '--num_classes': Row(['--num_classes', '5'], arg(write, 'num_classes'), 5),
        '--num_shards': Row(['--num_shards', '3'], arg(write, 'num_shards'), 3),
        '--num_workers': Row(['--num_workers', '3'], arg(write, 'num_workers'), 3),
        '--overwrite': Row(['--overwrite'], arg(write, 'overwrite'), True),
    }


def patch_records(monkeypatch, seen):
    from utils.records import tfrecords
    record(monkeypatch, seen, tfrecords, 'find_pairs', lambda arguments: list(arguments['ids']))
    record(monkeypatch, seen, tfrecords, 'write_records',
           lambda arguments: {split: [f'{split}.record'] for split in arguments['splits']})


def coco_table():
    def source(split, field):
        return lambda seen: getattr(seen.arg('convert', 'sources')[split], field)

    return {
        '--data_dir': Row(['--data_dir', '{out}/other'], arg('convert', 'data_dir'), '{out}/other'),
        '--train_image_dir': Row(['--train_image_dir', '{ws}/labels'], source('train', 'image_dir'), '{ws}/labels'),
        '--train_annotations_file': Row(['--train_annotations_file', '{ws}/other.json'],
                                        source('train', 'annotations_file'), '{ws}/other.json'),
        '--val_image_dir': Row(['--val_image_dir', '{ws}/images', '--val_annotations_file', '{ws}/val.json'],
                               source('val', 'image_dir'), '{ws}/images'),
        '--val_annotations_file': Row(['--val_image_dir', '{ws}/images', '--val_annotations_file', '{ws}/val.json'],
                                      source('val', 'annotations_file'), '{ws}/val.json'),
        '--classes': Row(['--classes', 'all'], lambda seen: (seen.arg('convert', 'mode'), seen.arg(
            'convert', 'min_area')), ('all', None)),
        '--min_annotated_area': Row(['--min_annotated_area', '50'], arg('convert', 'min_area'), 50.0),
        '--label_output_dir': Row(['--label_output_dir', '{out}/labels'], arg('convert', 'label_dir'),
                                  '{out}/labels'),
        '--num_shards': Row(['--num_shards', '3'], arg('convert', 'num_shards'), 3),
        '--num_workers': Row(['--num_workers', '3'], arg('convert', 'num_workers'), 3),
        '--overwrite': Row(['--overwrite'], arg('convert', 'overwrite'), True),
    }


def patch_coco(monkeypatch, seen):
    from utils.records import coco_records
    record(monkeypatch, seen, coco_records, 'convert',
           lambda arguments: {split: (2, [f'{split}.record'], 1) for split in arguments['sources']})


def labels_table():
    def listed(name):
        return lambda seen: open(seen.file('lists', f'{name}.txt')).read().split()

    test = ['--voc_test_root', '{ws}/voctest']
    return {
        '--voc_root': Row(['--voc_root', '{ws}/voc2'], listed('run_val'), ['e', 'f']),
        '--sbd_root': Row(['--sbd_root', '{ws}/sbd2'], listed('train_aug'), ['a', 'c', 'k']),
        '--segmentation_class_aug': Row(['--segmentation_class_aug', '{ws}/aug'], lambda seen: (
            listed('train_aug')(seen), seen.count('build_label_folder')), (['a', 'c', 'x'], 0),
            drop=('--sbd_root',)),
        '--output_dir': Row(['--output_dir', '{out}/other'], arg('build_label_folder', 'output_dir'), '{out}/other'),
        '--list_dir': Row(['--list_dir', '{out}/other'], lambda seen: sorted(os.listdir(seen.file('other'))),
                          ['run_train.txt', 'run_val.txt', 'run_val_check.txt', 'run_val_tune.txt', 'train_aug.txt']),
        '--voc_test_root': Row(test, listed('run_test'), ['t1', 't2']),
        '--run_image_dir': Row([*test, '--run_image_dir', '{out}/images'], lambda seen: (
            seen.arg('link_images', 'output_dir'), seen.arg('link_images', 'ids_by_folder')),
            ('{out}/images', {'{ws}/voc/JPEGImages': ['b', 'd'], '{ws}/voctest/JPEGImages': ['t1', 't2']}), test),
        '--num_train': Row(['--num_train', '1'], listed('run_train'), ['a']),
        '--num_val': Row(['--num_val', '2', '--voc_root', '{ws}/voc3'], listed('run_val'), ['b', 'd'],
                         ['--voc_root', '{ws}/voc3']),
        '--num_test': Row([*test, '--num_test', '1'], listed('run_test'), ['t1'], test),
        '--num_workers': Row(['--num_workers', '3'], arg('build_label_folder', 'num_workers'), 3),
    }


def patch_labels(monkeypatch, seen):
    import prepare_labels
    record(monkeypatch, seen, prepare_labels, 'label_sources', lambda arguments: dict.fromkeys(arguments['ids']))
    record(monkeypatch, seen, prepare_labels, 'build_label_folder', 0)
    record(monkeypatch, seen, prepare_labels, 'link_images', 0)


# ---------------------------------------------------------------------------------------------------------------
# export_inference_graph.py, describe_checkpoint.py, download.py, extract.py, write_results.py

def original_export_table():
    call = 'export_original_saved_model'
    rows = model_rows(lambda seen: seen.arg(call, 'params'))
    rows.update({
        '--model_dir': Row(['--model_dir', '{ws}/model2'], arg(call, 'model_dir'), '{ws}/model2'),
        '--export_dir': Row(['--export_dir', '{out}/other'], arg(call, 'export_dir'), '{out}/other'),
        '--eval_crop_size': Row(['--eval_crop_size', '65', '97'], arg(call, 'eval_crop_size'), [65, 97]),
        '--precision': Row(['--precision', 'float16'], lambda seen: seen.arg(call, 'params')['precision'], 'float16'),
    })
    return rows


def patch_original_export(monkeypatch, seen):
    from utils.runtime import export
    record(monkeypatch, seen, export, 'export_original_saved_model', lambda arguments: arguments['export_dir'])


def describe_table():
    call = 'check_and_describe'
    return {
        '--checkpoint': Row(['--checkpoint', '{ws}/model2'], arg(call, 'path'), '{ws}/model2'),
        '--output_stride': Row(['--output_stride', '16'], arg(call, 'output_stride'), 16),
        '--expect_variant': Row(['--expect_variant', 'xception_65'], arg(call, 'expect_variant'), 'xception_65'),
    }


def patch_describe(monkeypatch, seen):
    from utils.runtime import checkpoint_description
    description = {'layout': 'deeplab', 'model_variant': 'resnet_v2_50', 'decoder_output_stride': None,
                   'num_classes': 21}
    record(monkeypatch, seen, checkpoint_description, 'check_and_describe',
           lambda arguments: (arguments['path'], description))


def download_table():
    return {
        '--url': Row(['--url', 'http://example.org/other.tar'], arg('fetch', 'url'), 'http://example.org/other.tar'),
        '--output': Row(['--output', '{out}/other.tar'], arg('fetch', 'output'), '{out}/other.tar'),
        '--md5': Row(['--md5', '0' * 32], arg('fetch', 'md5'), '0' * 32),
    }


def patch_download(monkeypatch, seen):
    import download
    record(monkeypatch, seen, download, 'fetch', 'present')


def extract_table():
    return {
        '--archive': Row(['--archive', '{ws}/other.tgz'], arg('extract', 'archive'), '{ws}/other.tgz'),
        '--output_dir': Row(['--output_dir', '{out}/other'], arg('extract', 'output_dir'), '{out}/other'),
        '--md5': Row(['--md5', '0' * 32], arg('extract', 'md5'), '0' * 32),
    }


def patch_extract(monkeypatch, seen):
    import extract
    record(monkeypatch, seen, extract, 'extract', 'present')


def results_table():
    def written(seen, folder='work'):
        return open(seen.file(folder, 'RESULTS.md'), encoding='utf-8').read()

    return {
        '--work_dir': Row(['--work_dir', '{out}/other'], lambda seen: written(seen, 'other'),
                          'work_dir={out}/other quick=False precision=float32'),
        '--quick': Row(['--quick'], written, 'work_dir={out}/work quick=True precision=float32'),
        '--precision': Row(['--precision', 'bfloat16'], written, 'work_dir={out}/work quick=False precision=bfloat16'),
    }


def patch_results(monkeypatch, seen):
    import write_results
    record(monkeypatch, seen, write_results, 'results_markdown',
           lambda arguments: 'work_dir={work_dir} quick={quick} precision={precision}'.format(**arguments))
    for folder in ('work', 'other'):
        os.makedirs(seen.file(folder))


# ---------------------------------------------------------------------------------------------------------------
# demo.py, launch_local_cluster.py, reproduce.py

DEMO_VALUES = {'output_dir': (['{out}/other'], '{out}/other'), 'train_steps': (['5'], 5), 'num_train': (['6'], 6),
               'num_val': (['4'], 4), 'crop_size': (['33'], 33), 'batch_size': (['2'], 2),
               'learning_rate': (['0.05'], 0.05), 'precision': (['bfloat16'], 'bfloat16')}
DEMO_PARAMETERS = {'output_dir': 'out', 'train_steps': 'train_steps', 'num_train': 'num_train', 'num_val': 'num_val',
                   'crop_size': 'crop_size', 'batch_size': 'batch_size', 'learning_rate': 'learning_rate',
                   'precision': 'precision'}


def demo_table():
    return {f'--{flag}': Row([f'--{flag}', *argv], arg('run_demo', DEMO_PARAMETERS[flag]), value)
            for flag, (argv, value) in DEMO_VALUES.items()}


def patch_demo(monkeypatch, seen):
    import demo
    record(monkeypatch, seen, demo, 'run_demo', ('scores.json', 'chart.png'))


def cluster_table():
    return {
        '--num_workers': Row(['--num_workers', '3'], arg('LocalCluster', 'num_workers'), 3),
        '--log_dir': Row(['--log_dir', '{out}/logs'], arg('LocalCluster', 'log_dir'), '{out}/logs'),
        'train_args': Row(['--', '--max_iter', '7'], arg('LocalCluster', 'train_args'), ['--max_iter', '7']),
    }


def patch_cluster(monkeypatch, seen):
    from utils.runtime import cluster
    finished = types.SimpleNamespace(start=dict, wait=lambda: None, last_line=lambda task: 'val mIoU 0.5',
                                     stop=lambda: None)
    record(monkeypatch, seen, cluster, 'LocalCluster', finished)


def stage_flags(stage_name, script):
    """A probe: {flag: value} of the plan's first command of `script` in stage `stage_name`."""
    def probe(seen):
        stage = next(stage for stage in seen.arg('run_plan', 'plan') if stage.name == stage_name)
        argv = next(command.argv for command in stage.commands if command.script == script)
        return {flag: value for flag, value in zip(argv, argv[1:]) if flag.startswith('--')}
    return probe


def reproduce_table():
    def layout(field):
        return lambda seen: getattr(seen.arg('run_plan', 'layout'), field)

    def fetched(seen):
        return stage_flags('download', 'download')(seen)['--url']

    return {
        '--work_dir': Row(['--work_dir', '{out}/other'], layout('work'), '{out}/other'),
        '--mirror': Row(['--mirror', 'http://mirror.example.org'], lambda seen: fetched(seen).rpartition('/')[0],
                        'http://mirror.example.org'),
        '--checksums': Row(['--checksums', '{ws}/md5sums.txt'], lambda seen: stage_flags('download', 'download')(
            seen)['--md5'], '0123456789abcdef0123456789abcdef'),
        '--voc_test_tar': Row(['--voc_test_tar', '{ws}/test.tar'], lambda seen: stage_flags('extract', 'extract')(
            seen)['--archive'], '{ws}/test.tar'),
        '--segmentation_class_aug': Row(['--segmentation_class_aug', '{ws}/aug'], lambda seen: stage_flags(
            'labels', 'prepare_labels')(seen)['--segmentation_class_aug'], '{ws}/aug'),
        '--num_gpus': Row(['--num_gpus', '2'], lambda seen: stage_flags('train', 'train')(seen).get('--num_gpus'),
                          '2'),
        '--quick': Row(['--quick'], lambda seen: stage_flags('train', 'train')(seen)['--model_variant'],
                       'resnet_v2_50'),
        '--stages': Row(['--stages', 'labels', 'records'], arg('run_plan', 'selected'), ['labels', 'records']),
        '--redo': Row(['--redo'], arg('run_plan', 'redo'), True),
        '--precision': Row(['--precision', 'bfloat16'], lambda seen: (
            stage_flags('train', 'train')(seen)['--precision'], stage_flags('evaluate', 'inference')(seen)[
                '--precision']), ('bfloat16', 'bfloat16')),
        '--dry_run': Row(['--dry_run'], lambda seen: (seen.count('run_plan'), seen.count('shell_script')), (0, 1)),
    }


def patch_reproduce(monkeypatch, seen):
    import reproduce
    record(monkeypatch, seen, reproduce, 'run_plan')
    record(monkeypatch, seen, reproduce, 'print_done_note')
    record(monkeypatch, seen, reproduce, 'shell_script', '#!/usr/bin/env bash\n')


# ---------------------------------------------------------------------------------------------------------------
# deeplab/*.py: upstream DeepLab's absl flags (utils.upstream.flags), translated into this suite's scripts' flags
# (utils.upstream.commands); a flag without a translation is refused at any value but upstream's default

def refused(seen):
    return seen.error


def absl_value(spec):
    """A value other than the default of an upstream flag spec: (its command-line text, the parsed value)."""
    kind, default = spec[0], spec[1]
    if kind == 'boolean':
        return str(not default).lower(), not default
    if kind == 'enum':
        other = next(choice for choice in spec[2] if choice != default)
        return other, other
    if kind == 'string':
        return 'other', 'other'
    if kind == 'integer':
        return str((default or 0) + 3), (default or 0) + 3
    if kind == 'float':
        return str((default or 0) + 0.5), (default or 0) + 0.5
    return {'list': ('7', ['7']), 'multi_integer': ('3', [3]), 'multi_float': ('0.5', [0.5])}[kind]


def upstream_rows(script, effects):
    """`effects` ({flag: Row}) for the flags this suite translates; every other upstream flag of `script` refused
    at a value other than its default, naming it; absl's logging flags accepted with a note."""
    from utils.upstream import commands
    from utils.upstream.flags import LOGGING_FLAGS, flag_table
    rows = dict(effects)
    for name, spec in flag_table(script).items():
        if name in commands.HONOURED[script] and name not in commands._NEVER:
            continue
        text, value = absl_value(spec)
        if name in commands._NEVER:
            why = f'cannot be honoured here ({commands._NEVER[name]})'
        elif name in commands._ONLY:
            why = f'cannot be honoured here ({commands._ONLY[name][1]})'
        else:
            why = f'upstream {script}.py flag this suite cannot honour (only its default {spec[1]})'
        rows[f'--{name}'] = Row([f'--{name}={text}'], refused, f'--{name}={value}: {why}')
    for name, kind in LOGGING_FLAGS.items():
        given = [f'--{name}'] if kind == 'boolean' else [f'--{name}=1' if kind == 'integer' else f'--{name}=logs']
        rows[f'--{name}'] = Row(given, lambda seen, name=name: f'note: --{name} is absl logging; ignored' in
                                seen.stderr, True)
    return rows


UPSTREAM_MODEL = {  # upstream flag: (argv, the model description's key, value)
    '--model_variant': (['--model_variant=resnet_v2_50'], 'model_variant', 'resnet_v2_50'),
    '--atrous_rates': (['--atrous_rates=3', '--atrous_rates=5', '--atrous_rates=7'], 'atrous_rates', [3, 5, 7]),
    '--output_stride': (['--output_stride=8'], 'output_stride', 8),
    '--multi_grid': (['--multi_grid=2,2,2'], 'multi_grid', [2, 2, 2]),
    '--decoder_output_stride': (['--decoder_output_stride=4'], 'decoder_output_stride', 4),
    '--batch_norm_decay': (['--batch_norm_decay=0.99'], 'batch_norm_decay', 0.99),
}
DATASET_REFUSED = Row(['--dataset=cityscapes'], refused,
                      '--dataset=cityscapes: only pascal_voc_seg (21 classes, void 255) is served here')


def upstream_model_rows(params_of, output_stride=16):
    rows = {flag: Row(argv, lambda seen, key=key: params_of(seen)[key], value)
            for flag, (argv, key, value) in UPSTREAM_MODEL.items()}
    if output_stride == 8:  # export_model.py's default: the row gives 16
        rows['--output_stride'] = Row(['--output_stride=16'], lambda seen: params_of(seen)['output_stride'], 16)
    return rows


def upstream_train_table():
    rows = upstream_model_rows(lambda seen: seen.arg('train_and_evaluate', 'params'))
    effects = {  # upstream flag: (argv, probe, value)
        '--dataset_dir': (['--dataset_dir={ws}/labels'], arg('link_as_training_split', 'dataset_dir'), '{ws}/labels'),
        '--train_split': (['--train_split=train_aug'], arg('link_as_training_split', 'split'), 'train_aug'),
        '--train_logdir': (['--train_logdir={out}/other'], run_field('model_dir'), '{out}/other'),
        '--training_number_of_steps': (['--training_number_of_steps=50'], run_field('max_iter'), 50),
        '--train_batch_size': (['--train_batch_size=4'], run_field('batch_size'), 4),
        '--base_learning_rate': (['--base_learning_rate=0.01'], train_param('initial_learning_rate'), 0.01),
        '--end_learning_rate': (['--end_learning_rate=1e-5'], train_param('end_learning_rate'), 1e-5),
        '--learning_power': (['--learning_power=1.0'], train_param('learning_power'), 1.0),
        '--slow_start_step': (['--slow_start_step=5'], train_param('slow_start_step'), 5),
        '--slow_start_learning_rate': (['--slow_start_learning_rate=2e-4'], train_param('slow_start_learning_rate'),
                                       2e-4),
        '--momentum': (['--momentum=0.8'], train_param('momentum'), 0.8),
        '--weight_decay': (['--weight_decay=1e-4'], train_param('weight_decay'), 1e-4),
        '--train_crop_size': (['--train_crop_size=65,97'], run_field('crop_size'), [65, 97]),
        '--fine_tune_batch_norm': (['--fine_tune_batch_norm=false'], train_param('freeze_batch_norm'), True),
        '--min_scale_factor': (['--min_scale_factor=0.75'], run_field('min_scale'), 0.75),
        '--max_scale_factor': (['--max_scale_factor=1.5'], run_field('max_scale'), 1.5),
        '--num_clones': (['--num_clones=2'], run_field('num_gpus'), 2),
        '--save_interval_secs': (['--save_interval_secs=60'], run_field('save_checkpoints_secs'), 60),
        '--log_steps': (['--log_steps=3'], run_field('log_every_n_steps'), 3),
        '--tf_initial_checkpoint': (['--tf_initial_checkpoint={ws}/zoo/model.ckpt'], train_param('pre_trained_model'),
                                    '{ws}/zoo/model.ckpt'),
    }
    rows.update({flag: Row(argv, probe, value) for flag, (argv, probe, value) in effects.items()})
    last = ['--tf_initial_checkpoint={ws}/zoo/model.ckpt', '--initialize_last_layer=false']
    rows.update({
        '--dataset': DATASET_REFUSED,
        '--clone_on_cpu': Row(['--num_clones=2', '--clone_on_cpu'], lambda seen: (
            run_field('num_cpu_replicas')(seen), run_field('num_gpus')(seen)), (2, None), ['--num_clones=2']),
        # the checkpoint holds aspp0 (a last layer) and logits of another class count (which start fresh anyway)
        '--initialize_last_layer': Row(last, refused, '--initialize_last_layer=false: {ws}/zoo/model.ckpt holds '
                                       'aspp0/weights (1 such variables), which train.py restores; it cannot start '
                                       'them fresh', last[:1]),
        '--last_layers_contain_logits_only': Row([*last, '--last_layers_contain_logits_only'],
                                                 train_param('pre_trained_model'), '{ws}/zoo/model.ckpt', last),
    })
    return upstream_rows('train', rows)


def patch_upstream_train(monkeypatch, seen):
    from utils.upstream import data
    patch_train(monkeypatch, seen)
    record(monkeypatch, seen, data, 'link_as_training_split')


def upstream_predict_rows(function, crop, batch):
    """The rows eval.py and vis.py share, read from the arguments of `function` (iter_predictions, iter_outputs)."""
    rows = upstream_model_rows(lambda seen: seen.arg(function, 'params'))
    effects = {
        '--dataset_dir': (['--dataset_dir={ws}/labels'], arg('unpack_split', 'dataset_dir'), '{ws}/labels'),
        '--checkpoint_dir': (['--checkpoint_dir={ws}/model2'], lambda seen: (
            seen.arg('new_checkpoints', 'checkpoint_dir'), seen.arg(function, 'model_dir')),
            ('{ws}/model2', '{ws}/model2')),
        '--eval_interval_secs': (['--eval_interval_secs=5'], arg('new_checkpoints', 'interval_secs'), 5),
        '--eval_scales': (['--eval_scales=0.5,1.0'], arg(function, 'scales'), (0.5, 1.0)),
        '--add_flipped_images': (['--add_flipped_images'], arg(function, 'flip'), True),
        f'--{crop}': ([f'--{crop}=65,97'], arg(function, 'eval_crop_size'), [65, 97]),
        f'--{batch}': ([f'--{batch}=2'], arg(function, 'batch_size'), 2),
    }
    rows.update({flag: Row(argv, probe, value) for flag, (argv, probe, value) in effects.items()})
    rows['--dataset'] = DATASET_REFUSED
    return rows


def upstream_eval_table():
    rows = upstream_predict_rows('iter_predictions', 'eval_crop_size', 'eval_batch_size')
    rows.update({
        '--eval_logdir': Row(['--eval_logdir={out}/other'], arg('log_miou', 'logdir'), '{out}/other'),
        '--eval_split': Row(['--eval_split=train'], arg('unpack_split', 'split'), 'train'),
        '--max_number_of_evaluations': Row(['--max_number_of_evaluations=3'], arg('new_checkpoints', 'max_count'), 3),
    })
    return upstream_rows('eval', rows)


def patch_upstream_predict(monkeypatch, seen):
    from utils.upstream import data, run
    record(monkeypatch, seen, data, 'unpack_split', lambda arguments: (
        os.path.join(seen.ws, 'images'), os.path.join(seen.ws, 'labels'), os.path.join(seen.ws, 'list.txt'),
        ['a', 'b']))
    record(monkeypatch, seen, run, 'new_checkpoints', lambda arguments: [arguments['checkpoint_dir']])
    record(monkeypatch, seen, run, 'log_miou')
    record(monkeypatch, seen, run, 'save_visualisation')


def patch_upstream_eval(monkeypatch, seen):
    patch_evaluate(monkeypatch, seen)
    patch_upstream_predict(monkeypatch, seen)


def upstream_vis_table():
    rows = upstream_predict_rows('iter_outputs', 'vis_crop_size', 'vis_batch_size')
    rows.update({
        '--vis_logdir': Row(['--vis_logdir={out}/other'], arg('save_visualisation', 'logdir'), '{out}/other'),
        '--vis_split': Row(['--vis_split=train'], arg('unpack_split', 'split'), 'train'),
        '--also_save_raw_predictions': Row(['--also_save_raw_predictions'], arg('save_visualisation', 'raw'), True),
        '--max_number_of_iterations': Row(['--max_number_of_iterations=3'], arg('new_checkpoints', 'max_count'), 3),
    })
    return upstream_rows('vis', rows)


def patch_upstream_vis(monkeypatch, seen):
    patch_inference(monkeypatch, seen)
    patch_upstream_predict(monkeypatch, seen)


def upstream_export_table():
    rows = upstream_model_rows(lambda seen: seen.arg('export', 'params'), output_stride=8)
    rows.update({
        '--checkpoint_path': Row(['--checkpoint_path={ws}/model2'], arg('export', 'model_dir'), '{ws}/model2'),
        '--export_path': Row(['--export_path={out}/other.pb'], arg('export', 'export_path'), '{out}/other.pb'),
        '--num_classes': Row(['--num_classes=5'], lambda seen: seen.arg('export', 'params')['num_classes'], 5),
        '--crop_size': Row(['--crop_size=65', '--crop_size=97'], arg('export', 'eval_crop_size'), [65, 97]),
    })
    return upstream_rows('export_model', rows)


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
    'pixel_stacking': Script('pixel_stacking', ['--prediction_dir', '{ws}/preds', '{ws}/preds2',
                                                '--output_dir', '{out}/stacked'], stacking_table, patch_stacking),
    'densecrf_inference': Script('densecrf_inference', ['--image_data_dir', '{ws}/images', '--prediction_dir',
                                                        '{ws}/preds', '--output_dir', '{out}/crf'],
                                 crf_table, patch_crf),
    'make_submission': Script('make_submission', ['--prediction_dir', '{ws}/preds', '--output', '{out}/results.tar.gz',
                                                  '--image_data_dir', '{ws}/images'], submission_table,
                              patch_submission),
    'create_tf_record': Script('create_tf_record', ['--data_dir', '{out}/records', '--image_data_dir', '{ws}/images',
                                                    '--ground_truth_dir', '{ws}/labels', '--train_data_list',
                                                    '{ws}/list.txt', '--valid_data_list', '{ws}/list_a.txt'],
                               records_table, patch_records),
    'create_coco_tf_record': Script('create_coco_tf_record', ['--data_dir', '{out}/records', '--train_image_dir',
                                                              '{ws}/images', '--train_annotations_file',
                                                              '{ws}/train.json'], coco_table, patch_coco),
    'prepare_labels': Script('prepare_labels', ['--voc_root', '{ws}/voc', '--sbd_root', '{ws}/sbd', '--output_dir',
                                                '{out}/aug', '--list_dir', '{out}/lists'], labels_table, patch_labels),
    'export_inference_graph': Script('export_inference_graph', ['--model_dir', '{ws}/model', '--export_dir',
                                                                '{out}/export'], original_export_table,
                                     patch_original_export),
    'describe_checkpoint': Script('describe_checkpoint', ['--checkpoint', '{ws}/model'], describe_table,
                                  patch_describe),
    'download': Script('download', ['--url', 'http://example.org/file.tar', '--output', '{out}/file.tar'],
                       download_table, patch_download),
    'extract': Script('extract', ['--archive', '{ws}/file.tgz', '--output_dir', '{out}/files'], extract_table,
                      patch_extract),
    'write_results': Script('write_results', ['--work_dir', '{out}/work'], results_table, patch_results),
    'demo': Script('demo', [], demo_table, patch_demo),
    'launch_local_cluster': Script('launch_local_cluster', [], cluster_table, patch_cluster),
    'reproduce': Script('reproduce', ['--work_dir', '{out}/work'], reproduce_table, patch_reproduce),
    'deeplab/train': Script('deeplab/train', ['--train_logdir={out}/model', '--dataset_dir={ws}/data',
                                              '--model_variant=xception_65'], upstream_train_table,
                            patch_upstream_train),
    'deeplab/eval': Script('deeplab/eval', ['--checkpoint_dir={ws}/model', '--eval_logdir={out}/logs',
                                            '--dataset_dir={ws}/data', '--model_variant=xception_65'],
                           upstream_eval_table, patch_upstream_eval),
    'deeplab/vis': Script('deeplab/vis', ['--checkpoint_dir={ws}/model', '--vis_logdir={out}/logs',
                                          '--dataset_dir={ws}/data', '--model_variant=xception_65'],
                          upstream_vis_table, patch_upstream_vis),
    'deeplab/export_model': Script('deeplab/export_model', ['--checkpoint_path={ws}/model',
                                                            '--export_path={out}/frozen.pb',
                                                            '--model_variant=xception_65'],
                                   upstream_export_table, patch_export),
}
# User-facing scripts whose flags have no table yet (their parsers are not checked here).
UNCOVERED = ()
TABLES = {name: script.table() for name, script in SCRIPTS.items()}


def script_module(name):
    """The module of a script: a top-level one by its name, deeplab/<name> from its file."""
    if '/' not in name:
        return importlib.import_module(name)
    key = name.replace('/', '_')
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(ROOT, f'{name}.py'))
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


def parser_flags(parser):
    """The parser's listed options (first spelling) and positionals, without -h and the hidden old names."""
    return {action.option_strings[0] if action.option_strings else action.dest for action in parser._actions
            if not isinstance(action, argparse._HelpAction) and action.help != argparse.SUPPRESS}


def defined_flags(name):
    """The flags script `name` defines: its parser's, or for deeplab/*.py upstream's definitions and absl's logging
    flags."""
    if name.startswith('deeplab/'):
        from utils.upstream.flags import LOGGING_FLAGS, flag_table
        return {f'--{flag}' for flag in [*flag_table(name[len('deeplab/'):]), *LOGGING_FLAGS]}
    return parser_flags(script_module(name).build_parser())


def coverage():
    """{script: (flags with a row, flags defined)}."""
    return {name: (len(TABLES[name].keys() & defined_flags(name)), len(defined_flags(name))) for name in SCRIPTS}


def print_coverage():
    figures = coverage()
    for name, (covered, defined) in figures.items():
        refusals = sum(row.probe is refused for row in TABLES[name].values())
        print(f'{name}: {covered}/{defined}' + (f' ({refusals} of them by their refusal)'
                                                if refusals else ''))
    print(f'total: {sum(c for c, _ in figures.values())}/{sum(d for _, d in figures.values())} flags; '
          f'scripts without a table: {", ".join(UNCOVERED) or "none"}')


def user_facing_scripts():
    """The top-level scripts with build_parser() and main(argv), and deeplab/*.py."""
    def text(path):
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    top = {name[:-3] for name in os.listdir(ROOT) if name.endswith('.py')
           and all(part in text(os.path.join(ROOT, name)) for part in ('def build_parser(', 'def main(argv'))}
    return top | {f'deeplab/{name[:-3]}' for name in os.listdir(os.path.join(ROOT, 'deeplab')) if name.endswith('.py')}


def test_every_user_facing_script_has_a_table():
    assert user_facing_scripts() == set(SCRIPTS) | set(UNCOVERED)


@pytest.mark.parametrize('name', SCRIPTS)
def test_the_table_is_the_scripts_parser(name):
    assert set(TABLES[name]) == defined_flags(name)


_runs = {}


def run(monkeypatch, ws, tmp_path, name, extra, drop=()):
    """main() of script `name` on its base argv (without `drop`) + `extra`, with its recorders; returns what they
    saw."""
    script = SCRIPTS[name]
    out = str(tmp_path / f'run{len(os.listdir(tmp_path))}')
    os.makedirs(out)
    seen = Seen(ws, out)
    module = script_module(script.module)
    with monkeypatch.context() as patcher:
        script.patch(patcher, seen)
        argv = resolve([*without(script.base, drop), *extra], ws, out)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            seen.code = run_cli(module.main, argv)
    seen.stderr = err.getvalue()
    lines = seen.stderr.strip().splitlines()
    seen.error = lines[-1].partition('error: ')[2] if seen.code and lines else None
    return seen


def observe(row, seen):
    try:
        return row.probe(seen)
    except (KeyError, IndexError, FileNotFoundError, TypeError):
        return MISSING


@pytest.mark.parametrize('name,flag', [(name, flag) for name, table in TABLES.items() for flag in table])
def test_each_flag_lands_where_its_value_is_used(name, flag, ws, tmp_path, monkeypatch):
    row = TABLES[name][flag]
    seen = run(monkeypatch, ws, tmp_path, name, row.argv, row.drop)
    expected = resolve(row.expected, ws, seen.out)
    assert observe(row, seen) == expected, seen.stderr
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
    ('pixel_stacking', ['--probabilities', '--allow_missing'],
     '--allow_missing is for voting; the soft ensemble needs every probability file'),
    ('pixel_stacking', ['--path_val', '{ws}/preds'],
     'give either --prediction_dir or --path_val/--path_aug/--path_ori, not both'),
    ('densecrf_inference', ['--prob_dir', '{ws}/probs'],
     'argument --prob_dir: not allowed with argument --prediction_dir'),
    ('densecrf_inference', ['--tune'], '--tune needs --ground_truth_dir and usually --image_list'),
    ('densecrf_inference', ['--gt_prob', '1.5'], '--gt_prob must be in (0, 1), got 1.5'),
    ('densecrf_inference', ['--iterations', '0'], '--iterations must be at least 1, got 0'),
    ('create_tf_record', ['--num_shards', '0'], '--num_shards and --num_workers must be at least 1'),
    ('create_tf_record', ['--num_classes', '256'],
     '--num_classes must be 1..255 (255 is the void label), got 256'),
    ('create_coco_tf_record', ['--val_image_dir', '{ws}/images'],
     '--val_image_dir and --val_annotations_file go together; give both or neither'),
    ('prepare_labels', ['--run_image_dir', '{out}/images'], '--run_image_dir needs --voc_test_root'),
    ('prepare_labels', ['--segmentation_class_aug', '{ws}/aug'],
     'argument --segmentation_class_aug: not allowed with argument --sbd_root'),
]


@pytest.mark.parametrize('name,argv,error', REFUSALS)
def test_refused_combinations_exit_2_saying_why(name, argv, error, ws, tmp_path, monkeypatch):
    seen = Seen(ws, str(tmp_path))
    script = SCRIPTS[name]
    module = script_module(script.module)
    with monkeypatch.context() as patcher:
        script.patch(patcher, seen)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = run_cli(module.main, resolve([*script.base, *argv], ws, seen.out))
            except SystemExit as exit_:  # argparse's refusals
                code = exit_.code
    last = err.getvalue().strip().splitlines()[-1]  # 'error: ...', argparse's 'PROG: error: ...'
    assert (code, last.partition('error: ')[2]) == (2, resolve(error, ws, seen.out))
    assert not seen.calls.get('train_and_evaluate') and not seen.calls.get('export')
    assert not any(seen.calls.get(name) for name in ('stack_folders', 'fuse_folders', 'refine_folder', 'tune',
                                                     'write_records', 'convert', 'make_submission'))


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
    'export_inference_graph': (['--model_dir', '{out}/saved'],
                               lambda seen: seen.arg('export_original_saved_model', 'params')),
    'train': (['--model_dir', '{out}/saved'], lambda seen: seen.arg('train_and_evaluate', 'params')),
}


def test_the_saved_settings_set_every_field_off_its_default(tmp_path):
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
def test_deeplab_params_json_is_read_back_by_every_model_script(name, settings, ws, tmp_path, monkeypatch):
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


# ---------------------------------------------------------------------------------------------------------------
# saved settings: the reproduction's stage markers (WORK_DIR/.reproduce/<stage>.json)

MARKER_READERS = {  # field: who reads it back
    'commands': 'reproduce.py: a finished stage made by other commands is refused',
    'sequence': 'reproduce.py: a stage made before a stage it needs is out of date and redone',
    'seconds': 'write_results.py: the wall time of each stage in RESULTS.md',
}
MARKER_UNREAD = {'finished': 'the time of day the stage finished, for a reader of the file'}


def test_the_stage_markers_round_trip(ws, tmp_path, monkeypatch):
    import reproduce
    import write_results
    from utils.reproduce import run as reproduction
    seen = Seen(ws, str(tmp_path))
    record(monkeypatch, seen, reproduction, 'run_command')
    work = str(tmp_path / 'work')
    flags = ['--work_dir', work, '--quick', '--num_gpus', '2', '--precision', 'bfloat16',
             '--segmentation_class_aug', os.path.join(ws, 'aug'), '--stages', 'labels', 'records', 'train']

    def scripts_run(argv):
        seen.calls.clear()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = run_cli(reproduce.main, argv)
        return code, err.getvalue(), [call['command'].script for call in seen.calls.get('run_command', [])]

    state = os.path.join(work, '.reproduce')
    os.makedirs(state)
    for stage in ('download', 'extract'):  # finished before (the stages the chosen ones need)
        with open(os.path.join(state, f'{stage}.json'), 'w', encoding='utf-8') as handle:
            json.dump({'seconds': 1.0, 'finished': '2001-02-03 04:05:06', 'sequence': 0, 'commands': []}, handle)
    assert scripts_run(flags)[::2] == (0, ['prepare_labels', 'create_tf_record', 'train'])

    def markers():
        return {stage: json.loads(open(os.path.join(state, f'{stage}.json')).read())
                for stage in ('labels', 'records', 'train')}

    written = markers()
    assert all(set(content) == set(MARKER_READERS) | set(MARKER_UNREAD) for content in written.values())
    assert written['train']['commands'][0][:1] == ['train'] and '--num_gpus' in written['train']['commands'][0]
    # every field off what the run wrote: labels took 4321 s, records was redone after train
    written['labels']['seconds'] = 4321.0
    written['records']['sequence'] = written['train']['sequence'] + 1
    for stage, content in written.items():
        content['finished'] = '2001-02-03 04:05:06'
        with open(os.path.join(state, f'{stage}.json'), 'w', encoding='utf-8') as handle:
            json.dump(content, handle)
    # sequence: labels and records are up to date and skipped, train is older than records and redone
    assert scripts_run(flags)[::2] == (0, ['train'])
    # seconds: in RESULTS.md
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_cli(write_results.main, ['--work_dir', work, '--quick', '--precision', 'bfloat16']) == 0
    with open(os.path.join(work, 'RESULTS.md'), encoding='utf-8') as handle:
        assert '| 4321 s |' in next(line for line in handle if line.startswith('| labels |'))
    # commands: another --num_gpus is refused, naming the change, and nothing runs
    code, err, ran = scripts_run([*flags[:4], '3', *flags[5:]])
    assert (code, ran) == (2, []) and 'train.py --num_gpus 2 -> 3' in err
