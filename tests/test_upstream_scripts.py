"""The original project's upstream DeepLab commands (python deeplab/train.py, eval.py, vis.py) run here on
upstream's record layout and give what this suite's own scripts give on the same checkpoint; upstream's flag
definitions are pinned."""
import json
import math
import os
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, write_random_checkpoint
from PIL import Image
from test_upstream_records import upstream_example

import evaluate
import inference
import pixel_stacking
import train
from utils.common.errors import UserError, run_cli
from utils.data.demo_data import make_sample
from utils.data.voc import PALETTE, read_label
from utils.runtime.model_config import resolve_model_params
from utils.upstream.commands import check_last_layers, export_argv, predict_argv, train_argv
from utils.upstream.data import split_shards
from utils.upstream.flags import flag_table, parse
from utils.upstream.run import new_checkpoints

MODEL = ['--model_variant="xception_65"', '--atrous_rates=6', '--atrous_rates=12', '--atrous_rates=18',
         '--output_stride=16', '--decoder_output_stride=4']
SUITE_MODEL = ['--model_variant', 'xception_65', '--atrous_rates', '6', '12', '18', '--output_stride', '16',
               '--decoder_output_stride', '4']
CROP = 193  # the generated images are at most 192 pixels a side: whole at evaluation, as upstream's 513 on VOC
BACKGROUND_BIAS = 0.02
SPLITS = {'train': (0, 2), 'val': (1, 7)}  # sample seeds; both val images hold class 20 as well as background


def _script(name):
    """The main() of deeplab/<name>.py, loaded as the file runs from the repository root."""
    return runpy.run_path(os.path.join(ROOT, 'deeplab', f'{name}.py'), run_name=f'upstream_{name}')['main']


def _shell(command):
    """A seed command line as the shell passes it: quotes removed."""
    return [token.replace('"', '') for token in command]


def suite_predictions(root):
    """inference.py's results for the val images with the trained checkpoint (made once)."""
    out = root / 'suite_predictions'
    if not out.is_dir():
        assert run_cli(inference.main, ['--image_data_dir', str(root / 'JPEGImages'), '--image_list',
                                        str(root / 'val.txt'), '--output_dir', str(out), '--model_dir',
                                        str(root / 'train'), '--eval_crop_size', str(CROP), str(CROP),
                                        *SUITE_MODEL]) == 0
    return out


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Upstream-layout records, val images and labels as files, and the original project's train.py command run for
    2 steps from a random xception_65 checkpoint; returns the folder."""
    root = tmp_path_factory.mktemp('upstream')
    for name in ('tfrecord', 'JPEGImages', 'SegmentationClassRaw', 'init'):
        (root / name).mkdir()
    for split, seeds in SPLITS.items():
        with tf.io.TFRecordWriter(str(root / 'tfrecord' / f'{split}-00000-of-00001.tfrecord')) as writer:
            for seed in seeds:
                image, label = make_sample(np.random.default_rng([seed, 7]))
                writer.write(upstream_example(image, label, f'{split}_{seed}'))
                Image.fromarray(image).save(root / 'JPEGImages' / f'{split}_{seed}.jpg', format='JPEG')
                Image.fromarray(label).save(root / 'SegmentationClassRaw' / f'{split}_{seed}.png')
    (root / 'val.txt').write_text(''.join(f'val_{seed}\n' for seed in SPLITS['val']))
    params = resolve_model_params({'model_variant': 'xception_65', 'decoder_output_stride': 4})
    # random logits differ by about 0.02 here: this bias makes part of each image background
    write_random_checkpoint(str(root / 'init'), params, [BACKGROUND_BIAS] + [0.0] * 20)
    command = ['--logtostderr', '--training_number_of_steps=2', '--train_split="train"', *MODEL,
               '--train_crop_size=33', '--train_crop_size=33', '--train_batch_size=1', '--dataset="pascal_voc_seg"',
               f'--tf_initial_checkpoint={root}/init/model.ckpt-0', f'--train_logdir={root}/train',
               f'--dataset_dir={root}/tfrecord']
    assert run_cli(_script('train'), _shell(command)) == 0  # in this process: TensorFlow is imported once
    return root


def test_the_seed_train_command_trains_the_asked_model(trained):
    assert tf.train.latest_checkpoint(str(trained / 'train')).endswith('model.ckpt-2')
    saved = json.loads((trained / 'train' / 'deeplab_params.json').read_text())
    assert (saved['model_variant'], saved['atrous_rates'], saved['decoder_output_stride']) == (
        'xception_65', [6, 12, 18], 4)


def test_the_seed_vis_command_writes_upstreams_files_of_inference_predictions(trained, tmp_path):
    vis = ['--logtostderr', '--vis_split="val"', *MODEL, f'--vis_crop_size={CROP}', f'--vis_crop_size={CROP}',
           '--dataset="pascal_voc_seg"', f'--checkpoint_dir={trained}/train', f'--vis_logdir={tmp_path}/vis',
           f'--dataset_dir={trained}/tfrecord', '--also_save_raw_predictions', '--max_number_of_iterations=1']
    assert run_cli(_script('vis'), _shell(vis)) == 0
    assert sorted(os.listdir(tmp_path / 'vis' / 'raw_segmentation_results')) == ['val_1.png', 'val_7.png']
    suite = suite_predictions(trained)
    for index, seed in enumerate(SPLITS['val']):
        raw = np.asarray(Image.open(tmp_path / 'vis' / 'raw_segmentation_results' / f'val_{seed}.png'))
        assert raw.shape == read_label(str(trained / 'SegmentationClassRaw' / f'val_{seed}.png')).shape
        assert len(np.unique(raw)) > 1  # the background bias makes a mixed prediction, not one class everywhere
        np.testing.assert_array_equal(raw, read_label(str(suite / f'val_{seed}.png')))
        results = tmp_path / 'vis' / 'segmentation_results'
        np.testing.assert_array_equal(np.asarray(Image.open(results / f'{index:06d}_prediction.png')), PALETTE[raw])
        image = np.asarray(Image.open(trained / 'JPEGImages' / f'val_{seed}.jpg'))
        np.testing.assert_array_equal(np.asarray(Image.open(results / f'{index:06d}_image.png')), image)


def test_the_seed_stacks_three_vis_outputs_with_its_pixel_stacking_command(trained, tmp_path):
    """Three vis.py runs (one scale, flipped, two scales) give three raw folders; the original project's
    pixel_stacking.py command votes them pixel by pixel, a three-way tie going to --path_val's label."""
    extra = {'val': [], 'aug': ['--add_flipped_images'], 'ori': ['--eval_scales=0.75', '--eval_scales=1.25']}
    raw = {}
    for name, flags in extra.items():
        vis = ['--logtostderr', '--vis_split="val"', *MODEL, f'--vis_crop_size={CROP}', f'--vis_crop_size={CROP}',
               '--dataset="pascal_voc_seg"', f'--checkpoint_dir={trained}/train', f'--vis_logdir={tmp_path}/{name}',
               f'--dataset_dir={trained}/tfrecord', '--also_save_raw_predictions', '--max_number_of_iterations=1',
               *flags]
        assert run_cli(_script('vis'), _shell(vis)) == 0
        raw[name] = tmp_path / name / 'raw_segmentation_results'
    command = (f'--path_val {raw["val"]} --path_aug {raw["aug"]} --path_ori {raw["ori"]} '
               f'--path_stacking {tmp_path}/stacked')
    assert run_cli(pixel_stacking.main, command.split()) == 0
    differing = 0
    for seed in SPLITS['val']:
        first, second, third = (np.asarray(Image.open(raw[name] / f'val_{seed}.png')) for name in extra)
        expected = np.where((second == third) & (second != first), second, first)
        differing += int((first != second).sum() + (first != third).sum())
        np.testing.assert_array_equal(read_label(str(tmp_path / 'stacked' / f'val_{seed}.png')), expected)
    assert differing > 0  # the three runs disagree somewhere, so the vote is tested, not copied


def test_the_seed_eval_command_logs_the_miou_evaluate_gives(trained, tmp_path, capsys):
    command = ['--logtostderr', '--eval_split="val"', *MODEL, f'--eval_crop_size={CROP}', f'--eval_crop_size={CROP}',
               '--dataset="pascal_voc_seg"', f'--checkpoint_dir={trained}/train', f'--eval_logdir={tmp_path}/eval',
               f'--dataset_dir={trained}/tfrecord', '--max_number_of_evaluations=1']
    assert run_cli(_script('eval'), _shell(command)) == 0
    out = capsys.readouterr()
    assert '--max_number_of_evaluations' not in out.err  # the waiting note is for the default 0 only
    printed = float(re.search(r'^eval/miou_1\.0_overall\[(.+)\]$', out.out, re.M).group(1))
    suite_json = tmp_path / 'suite.json'
    assert run_cli(evaluate.main, ['--prediction_dir', str(suite_predictions(trained)), '--ground_truth_dir',
                                   str(trained / 'SegmentationClassRaw'), '--image_list', str(trained / 'val.txt'),
                                   '--output_json', str(suite_json), '--num_workers', '1']) == 0
    scores = json.loads(suite_json.read_text())
    expected = scores['miou']
    assert printed == expected > 0
    events = [os.path.join(tmp_path / 'eval', f) for f in os.listdir(tmp_path / 'eval')]
    logged = {v.tag: (e.step, v.simple_value) for e in tf.compat.v1.train.summary_iterator(events[0])
              for v in e.summary.value}
    assert logged.pop('eval/miou_1.0_overall') == (2, pytest.approx(expected, rel=1e-6))
    per_class = list(scores['per_class_iou'].values())
    assert sorted(logged) == sorted(f'eval/miou_1.0_class_{c}' for c in range(21)) and len(per_class) == 21
    for c, iou in enumerate(per_class):  # each class's IoU, NaN where it is undefined, as upstream's summaries
        step, value = logged[f'eval/miou_1.0_class_{c}']
        assert step == 2 and (math.isnan(value) if iou is None else value == pytest.approx(iou, rel=1e-6))
        assert re.search(rf'^eval/miou_1\.0_class_{c}\[', out.out, re.M)


@pytest.mark.slow  # a further 20 s of freezing and running Xception-65: with `make test-slow`
def test_the_upstream_export_command_freezes_the_checkpoints_predictions(trained, tmp_path):
    export = [f'--checkpoint_path={trained}/train/model.ckpt-2', f'--export_path={tmp_path}/frozen.pb', *MODEL,
              '--num_classes=21', f'--crop_size={CROP}', f'--crop_size={CROP}']
    assert run_cli(_script('export_model'), _shell(export)) == 0
    assert run_cli(inference.main, ['--image_data_dir', str(trained / 'JPEGImages'), '--image_list',
                                    str(trained / 'val.txt'), '--output_dir', str(tmp_path / 'frozen'),
                                    '--frozen_graph', str(tmp_path / 'frozen.pb')]) == 0
    for seed in SPLITS['val']:
        np.testing.assert_array_equal(read_label(str(tmp_path / 'frozen' / f'val_{seed}.png')),
                                      read_label(str(suite_predictions(trained) / f'val_{seed}.png')))


def test_the_default_zero_evaluations_follows_checkpoints_and_says_so(trained, capsys):
    first = next(new_checkpoints(str(trained / 'train'), 0, 1, '--max_number_of_evaluations'))
    assert first.endswith('model.ckpt-2')
    assert 'until interrupted' in capsys.readouterr().err


def test_the_seed_train_flags_become_these_train_flags():
    values, _ = parse('train', _shell(['--training_number_of_steps=30000', '--train_split="train"', *MODEL,
                                       '--train_crop_size=513,513', '--train_batch_size=1', '--nofine_tune_batch_norm',
                                       '--tf_initial_checkpoint=CKPT', '--train_logdir=TRAIN', '--dataset_dir=DATA']),
                       '')
    assert train_argv(values, 'STAGED') == [
        '--model_dir', 'TRAIN', '--data_dir', 'STAGED', '--no_eval', '--num_classes', '21', '--max_iter', '30000',
        '--batch_size', '1', '--initial_learning_rate', '0.0001', '--end_learning_rate', '0.0',
        '--learning_power', '0.9', '--slow_start_step', '0', '--slow_start_learning_rate', '0.0001',
        '--momentum', '0.9', '--weight_decay', '4e-05', '--crop_size', '513', '513', '--min_scale', '0.5',
        '--max_scale', '2.0',
        '--save_checkpoints_secs', '1200', '--log_every_n_steps', '10', '--num_gpus', '0', *SUITE_MODEL[:2],
        '--output_stride', '16', '--batch_norm_decay', '0.9997', '--atrous_rates', '6', '12', '18',
        '--multi_grid', '1', '1', '1', '--decoder_output_stride', '4', '--freeze_batch_norm', '--pre_trained_model',
        'CKPT']


@pytest.mark.parametrize('flag, value, parsed', [('learning_power', '0.5', 0.5), ('slow_start_step', '300', 300),
                                                  ('slow_start_learning_rate', '0.001', 0.001)])
def test_learning_rate_schedule_flags_are_passed_on_to_train_py(flag, value, parsed):
    values, _ = parse('train', [f'--{flag}={value}', '--train_logdir=T', '--dataset_dir=D', *_shell(MODEL)], '')
    argv = train_argv(values, 'STAGED')
    assert argv[argv.index(f'--{flag}') + 1] == value
    assert train.training_params(train.build_parser().parse_args(argv))[flag] == parsed


def test_absl_forms_parse_as_upstream():
    values, given = parse('eval', ['--eval_scales', '0.5', '--eval_scales=1.0,1.5', '--add_flipped_images',
                                   '--eval_crop_size=321,513', '--v', '1', '--alsologtostderr',
                                   '--noadd_flipped_images', '--max_number_of_evaluations', '3',
                                   '--keep_aspect_ratio=false', '--nologtostderr'], '')
    assert values['eval_scales'] == [0.5, 1.0, 1.5] and values['eval_crop_size'] == ['321', '513']
    assert (values['add_flipped_images'], values['max_number_of_evaluations'], values['keep_aspect_ratio']) == (
        False, 3, False)
    assert given == {'eval_scales', 'add_flipped_images', 'eval_crop_size', 'max_number_of_evaluations',
                     'keep_aspect_ratio'}


def test_upstream_flag_definitions_are_pinned():
    """Kinds and defaults as research/deeplab's common.py, train.py, eval.py, vis.py and export_model.py define
    them (tensorflow/models master)."""
    train, evaluation, vis, export = (flag_table(s) for s in ('train', 'eval', 'vis', 'export_model'))
    assert train['training_number_of_steps'] == ('integer', 30000)
    assert train['train_batch_size'] == ('integer', 8)
    assert train['base_learning_rate'] == ('float', 0.0001)
    assert train['weight_decay'] == ('float', 0.00004)
    assert train['train_crop_size'] == ('list', ['513', '513'])
    assert train['atrous_rates'] == ('multi_integer', None)
    assert train['fine_tune_batch_norm'] == ('boolean', True)
    assert train['save_interval_secs'] == ('integer', 1200)
    assert train['train_split'] == ('string', 'train')
    assert train['model_variant'] == ('string', 'mobilenet_v2')
    assert train['decoder_output_stride'] == ('list', None)
    assert evaluation['eval_scales'] == ('multi_float', [1.0])
    assert evaluation['max_number_of_evaluations'] == ('integer', 0)
    assert evaluation['eval_crop_size'] == ('list', ['513', '513'])
    assert evaluation['output_stride'] == ('integer', 16)
    assert vis['colormap_type'] == ('enum', 'pascal', ('pascal', 'cityscapes', 'ade20k'))
    assert vis['also_save_raw_predictions'] == ('boolean', False)
    assert vis['max_number_of_iterations'] == ('integer', 0)
    assert export['output_stride'] == ('integer', 8)
    assert export['crop_size'] == ('multi_integer', [513, 513])
    assert export['num_classes'] == ('integer', 21)


@pytest.mark.parametrize('flag, message', [
    ('--hard_example_mining_step=100', '--hard_example_mining_step=100: upstream train.py flag this suite cannot'),
    ('--scale_factor_step_size=0.25', '--scale_factor_step_size=0.25: cannot be honoured here (training scales'),
    ('--dataset=ade20k', '--dataset=ade20k: only pascal_voc_seg'),
    ('--no_such_flag=1', '--no_such_flag: not a flag of upstream deeplab/train.py'),
    # upstream's g3doc/pascal.md spells it so; absl refuses it there too
    ('--tf_initial_checkpoints=CKPT', '--tf_initial_checkpoints: not a flag of upstream deeplab/train.py (did you '
                                      'mean --tf_initial_checkpoint?)'),
    ('--model_variant=mobilenet_v2', '--model_variant=mobilenet_v2: this suite builds'),
    ('--master=grpc://10.0.0.1:2222', '--master=grpc://10.0.0.1:2222: upstream train.py flag this suite cannot'),
])
def test_an_unhonourable_or_unknown_flag_is_one_line_exit_2(flag, message, tmp_path, capsys):
    assert run_cli(_script('train'), [flag, f'--train_logdir={tmp_path}/t', f'--dataset_dir={tmp_path}']) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'error: {message}')
    assert not (tmp_path / 't').exists()


def test_initialize_last_layer_false_is_refused_when_train_py_would_restore_the_head(trained, tmp_path, capsys):
    argv = ['--initialize_last_layer=false', '--last_layers_contain_logits_only', *_shell(MODEL),
            f'--tf_initial_checkpoint={trained}/init/model.ckpt-0', f'--train_logdir={tmp_path}/t',
            f'--dataset_dir={trained}/tfrecord']
    assert run_cli(_script('train'), argv) == 2
    assert capsys.readouterr().err.startswith('error: --initialize_last_layer=false: ')


@pytest.mark.parametrize('stored, flags, honoured', [
    ({'xception_65/entry_flow/conv1_1/weights': [3, 3, 3, 32]}, [], True),  # an ImageNet checkpoint: no head
    ({'logits/semantic/weights': [1, 1, 256, 19], 'logits/semantic/weights/Momentum': [1, 1, 256, 19]}, [], True),
    ({'logits/semantic/biases': [21]}, [], False),
    ({'aspp0/weights': [1, 1, 2048, 256]}, [], False),
    # with logits only, the other last layers (upstream's image_pooling, aspp, ...) are no head
    ({'image_pooling/weights': [1, 1, 2048, 256]}, ['--last_layers_contain_logits_only'], True),
    ({'logits/semantic/biases': [21]}, ['--last_layers_contain_logits_only'], False),
])
def test_initialize_last_layer_false_is_honoured_when_no_head_would_be_restored(stored, flags, honoured, monkeypatch):
    from utils.runtime import checkpoints
    monkeypatch.setattr(checkpoints, 'resolve_checkpoint', lambda path: path)
    monkeypatch.setattr(checkpoints, 'checkpoint_shapes', lambda path: stored)
    values, _ = parse('train', ['--initialize_last_layer=false', '--tf_initial_checkpoint=C', *flags], '')
    if honoured:
        check_last_layers(values)
    else:
        with pytest.raises(UserError, match='cannot start them fresh'):
            check_last_layers(values)


def test_a_split_is_upstreams_shards_of_its_name_else_this_suites_records(tmp_path):
    for name in ('train-00000-of-00001.tfrecord', 'train_aug-00000-of-00001.tfrecord', 'voc_val.record-00000-of-00002',
                 'voc_val.record-00001-of-00002'):
        (tmp_path / name).write_bytes(b'')
    assert [os.path.basename(p) for p in split_shards(str(tmp_path), 'train')] == ['train-00000-of-00001.tfrecord']
    assert [os.path.basename(p) for p in split_shards(str(tmp_path), 'val')] == [
        'voc_val.record-00000-of-00002', 'voc_val.record-00001-of-00002']
    with pytest.raises(UserError, match='no trainval-NNNNN-of-NNNNN.tfrecord shards nor voc_trainval.record'):
        split_shards(str(tmp_path), 'trainval')
    for missing in (str(tmp_path / 'gone'), ''):
        with pytest.raises(UserError) as err:
            split_shards(missing, 'train')
        assert str(err.value) == f'--dataset_dir={missing}: folder of TFRecords not found'


# upstream eval.py's summary names: 'miou' + '_<scale>' for each --eval_scales, '_flipped' with
# --add_flipped_images, under eval/ with '_overall' (research/deeplab/eval.py)
@pytest.mark.parametrize('scales, flipped, tag', [([1.0], False, 'eval/miou_1.0_overall'),
                                                  ([0.5, 0.75, 1.0], True, 'eval/miou_0.5_0.75_1.0_flipped_overall')])
def test_the_miou_is_logged_under_upstreams_tag(scales, flipped, tag):
    from utils.upstream.run import metric_tag
    assert metric_tag(scales, flipped) == tag


def test_export_refuses_multi_scale_by_name(tmp_path, capsys):
    argv = ['--checkpoint_path=C', f'--export_path={tmp_path}/g.pb', '--model_variant=xception_65',
            '--inference_scales=0.5', '--inference_scales=1.0']
    assert run_cli(_script('export_model'), argv) == 2
    assert capsys.readouterr().err == ('error: --inference_scales=[0.5, 1.0]: upstream export_model.py flag this '
                                       'suite cannot honour (only its default [1.0])\n')


def test_the_seed_export_flags_become_these_export_flags():
    values, _ = parse('export_model', _shell(['--checkpoint_path=TRAIN/model.ckpt-30000', '--export_path=OUT.pb',
                                              *MODEL, '--num_classes=21', '--crop_size=513', '--crop_size=513']), '')
    assert export_argv(values) == ['--model_dir', 'TRAIN/model.ckpt-30000', '--export_path', 'OUT.pb',
                                   '--num_classes', '21', '--eval_crop_size', '513', '513', *SUITE_MODEL[:2],
                                   '--output_stride', '16', '--batch_norm_decay', '0.9997', '--atrous_rates', '6',
                                   '12', '18', '--multi_grid', '1', '1', '1', '--decoder_output_stride', '4']
    values, _ = parse('export_model', ['--checkpoint_path=C', '--export_path=E', '--model_variant=xception_65'], '')
    assert export_argv(values)[export_argv(values).index('--output_stride') + 1] == '8'  # upstream's export default


@pytest.mark.parametrize('script', ['eval', 'vis'])
def test_the_upstream_batch_size_becomes_the_images_per_run(script):
    values, _ = parse(script, _shell([f'--{script}_batch_size=3', *MODEL]), '')
    argv = predict_argv(values, f'{script}_crop_size', 'CKPT')
    assert argv[argv.index('--batch_size') + 1] == '3'
    values, _ = parse(script, _shell(MODEL), '')
    argv = predict_argv(values, f'{script}_crop_size', 'CKPT')
    assert argv[argv.index('--batch_size') + 1] == '1'  # upstream's default


def test_the_script_itself_exits_2_on_an_unknown_flag():
    done = subprocess.run([sys.executable, 'deeplab/eval.py', '--eval_splt=val'], cwd=ROOT, capture_output=True,
                          text=True)
    assert (done.returncode, done.stderr) == (
        2, 'error: --eval_splt: not a flag of upstream deeplab/eval.py (did you mean --eval_split?)\n')
