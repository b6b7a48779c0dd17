"""The flags several scripts share (utils.cli.flags): the model's flags fall back to the model folder's saved
description, then to the defaults; a new output stride or backbone brings its own rates; predictions come from a
checkpoint or a frozen graph, and a frozen graph refuses what it cannot do; the batch tools' flags default to
every core and to resuming; --help ends with the table of the other names a flag answers to."""
import argparse

import pytest

from utils.cli import flags
from utils.common.errors import UserError


def predict_parser():
    parser = flags.parser_for('Predicts.\n\n  kept line breaks')
    flags.add_predict_flags(parser)
    return parser


def test_unset_model_flags_take_the_saved_description_then_the_defaults():
    args = predict_parser().parse_args(['--num_classes', '5'])
    saved = {'model_variant': 'resnet_v2_50', 'output_stride': 8, 'num_classes': 3, 'batch_norm_decay': 0.99}
    params = flags.model_params(args, saved=saved)
    # the defaults: DeepLabv3's ASPP rates at stride 8 (12 24 36) and the paper's multi-grid (1 2 4)
    assert params == {'layout': 'deeplab', 'model_variant': 'resnet_v2_50', 'output_stride': 8,
                      'atrous_rates': [12, 24, 36],
                      'multi_grid': [1, 2, 4], 'decoder_output_stride': None, 'num_classes': 5,
                      'input_normalization': 'inception', 'batch_norm_decay': 0.99}


def test_without_a_saved_description_the_defaults_are_resnet_v2_101_at_stride_16():
    params = flags.model_params(predict_parser().parse_args([]), saved={})
    assert params == {'layout': 'deeplab', 'model_variant': 'resnet_v2_101', 'output_stride': 16,
                      'atrous_rates': [6, 12, 18],
                      'multi_grid': [1, 2, 4], 'decoder_output_stride': None, 'num_classes': 21,
                      'input_normalization': 'inception', 'batch_norm_decay': 0.9997}


def test_an_original_layout_description_brings_the_original_codes_defaults():
    params = flags.model_params(predict_parser().parse_args([]), saved={'layout': 'original'})
    # the original deeplab_model.py: no multi-grid, ImageNet-mean subtraction
    assert (params['multi_grid'], params['input_normalization']) == ([1, 1, 1], 'mean_subtraction')


def test_the_saved_description_is_read_from_the_model_dir(tmp_path):
    (tmp_path / 'deeplab_params.json').write_text('{"model_variant": "xception_65", "output_stride": 8}')
    params = flags.model_params(predict_parser().parse_args(['--model_dir', str(tmp_path)]))
    assert (params['model_variant'], params['output_stride'], params['multi_grid']) == ('xception_65', 8, [1, 1, 1])


def test_a_new_output_stride_brings_its_own_rates_unless_they_are_given():
    saved = {'output_stride': 16, 'atrous_rates': [6, 12, 18]}
    assert flags.model_params(predict_parser().parse_args(['--output_stride', '8']), saved)['atrous_rates'] == [
        12, 24, 36]
    args = predict_parser().parse_args(['--output_stride', '8', '--atrous_rates', '1', '2', '3'])
    assert flags.model_params(args, saved)['atrous_rates'] == [1, 2, 3]
    assert flags.model_params(predict_parser().parse_args([]), {'atrous_rates': [2, 4, 6]})['atrous_rates'] == [
        2, 4, 6]


def test_a_new_backbone_brings_its_own_multi_grid_unless_it_is_given():
    saved = {'model_variant': 'resnet_v2_101', 'multi_grid': [1, 2, 1]}
    assert flags.model_params(predict_parser().parse_args(['--model_variant', 'xception_65']), saved)[
        'multi_grid'] == [1, 1, 1]
    assert flags.model_params(predict_parser().parse_args(['--model_variant', 'resnet_v2_101']), saved)[
        'multi_grid'] == [1, 2, 1]  # the same backbone keeps the saved one
    assert flags.model_params(predict_parser().parse_args([]), saved)['multi_grid'] == [1, 2, 1]
    args = predict_parser().parse_args(['--model_variant', 'xception_65', '--multi_grid', '1', '2', '2'])
    assert flags.model_params(args, saved)['multi_grid'] == [1, 2, 2]


def test_model_flags_parse_to_their_types_and_refuse_other_values(capsys):
    args = predict_parser().parse_args(['--model_variant', 'xception_65', '--output_stride', '8', '--atrous_rates',
                                        '1', '2', '3', '--multi_grid', '1', '1', '2', '--decoder_output_stride', '4',
                                        '--num_classes', '3', '--input_normalization', 'inception',
                                        '--batch_norm_decay', '0.9'])
    assert (args.model_variant, args.output_stride, args.atrous_rates, args.multi_grid, args.decoder_output_stride,
            args.num_classes, args.input_normalization, args.batch_norm_decay) == (
        'xception_65', 8, [1, 2, 3], [1, 1, 2], 4, 3, 'inception', 0.9)
    for argv in (['--model_variant', 'vgg16'], ['--output_stride', '32'], ['--decoder_output_stride', '8'],
                 ['--input_normalization', 'none'], ['--atrous_rates', '1', '2'], ['--multi_grid', '1'],
                 ['--precision', 'int8']):
        with pytest.raises(SystemExit):
            predict_parser().parse_args(argv)
    assert predict_parser().parse_args(['--base_architecture', 'resnet_v2_50']).model_variant == 'resnet_v2_50'


def source_of(args, **kwargs):
    """prediction_source for the model the flags describe."""
    return flags.prediction_source(args, flags.model_params(args), **kwargs)


def test_predictions_come_from_the_checkpoint_with_its_description_and_test_time_settings():
    args = predict_parser().parse_args(['--model_dir', 'm', '--inference_scales', '0.5', '1.0',
                                        '--add_flipped_images', '--eval_crop_size', '321', '257', '--batch_size',
                                        '2', '--precision', 'bfloat16'])
    source = source_of(args, with_probabilities=True)
    assert source == {'model_dir': 'm', 'params': dict(flags.model_params(args), precision='bfloat16'),
                      'scales': (0.5, 1.0), 'flip': True, 'eval_crop_size': [321, 257],
                      'with_probabilities': True, 'batch_size': 2}


def test_prediction_defaults_are_one_scale_upstreams_crop_and_four_images_a_run():
    args = predict_parser().parse_args([])
    source = source_of(args)
    # upstream eval.py's eval_crop_size 513 513; BENCHMARKS.md's batch of 4
    assert {k: source[k] for k in ('model_dir', 'scales', 'flip', 'eval_crop_size', 'with_probabilities',
                                   'batch_size')} == {
        'model_dir': './model', 'scales': (1.0,), 'flip': False, 'eval_crop_size': [513, 513],
        'with_probabilities': False, 'batch_size': 4}
    assert source['params']['precision'] == 'float32' and args.frozen_graph is None


def test_a_frozen_graph_runs_alone():
    assert source_of(predict_parser().parse_args(['--frozen_graph', 'g.pb'])) == {
        'frozen_graph': 'g.pb'}


@pytest.mark.parametrize('argv, message', [
    (['--batch_size', '0'], '--batch_size 0: give 1 or more images per run'),
    (['--frozen_graph', 'g.pb', '--batch_size', '2'], 'g.pb: --batch_size needs a checkpoint (--model_dir); a frozen '
                                                       'graph takes one image per run'),
    (['--frozen_graph', 'g.pb', '--inference_scales', '0.5'], 'g.pb: --inference_scales, --add_flipped_images and '
     '--eval_crop_size need a checkpoint (--model_dir); a frozen graph runs one scale with its own padding'),
    (['--frozen_graph', 'g.pb', '--add_flipped_images'], 'g.pb: --inference_scales'),
    (['--frozen_graph', 'g.pb', '--eval_crop_size', '9', '9'], 'g.pb: --inference_scales'),
    (['--frozen_graph', 'g.pb', '--precision', 'float16'], 'g.pb: --precision needs a checkpoint (--model_dir); a '
     'frozen graph runs in the precision it was exported in (export_model.py --precision)'),
])
def test_what_a_frozen_graph_cannot_do_is_one_line(argv, message):
    with pytest.raises(UserError) as error:
        source_of(predict_parser().parse_args(argv))
    assert str(error.value).startswith(message)


def test_a_frozen_graph_gives_no_probabilities():
    with pytest.raises(UserError) as error:
        source_of(predict_parser().parse_args(['--frozen_graph', 'g.pb']), with_probabilities=True)
    assert str(error.value) == ('g.pb: frozen graphs give labels only; pass the checkpoint (--model_dir) to save '
                                'probabilities')


def test_the_batch_flags_default_to_every_core_and_to_resuming(monkeypatch):
    monkeypatch.setattr(flags, 'default_workers', lambda: 7)
    parser = argparse.ArgumentParser()
    flags.add_batch_flags(parser)
    flags.add_num_classes_flag(parser)
    args = parser.parse_args([])
    assert (args.num_workers, args.overwrite, args.num_classes) == (7, False, 21)
    args = parser.parse_args(['--num_workers', '2', '--overwrite', '--num_classes', '3'])
    assert (args.num_workers, args.overwrite, args.num_classes) == (2, True, 3)
    help_text = ' '.join(parser.format_help().split())
    assert '(default: all 7 cores)' in help_text and '(default: 21)' in help_text
    assert ('Redo outputs that already exist (default: skip them, so a run can resume; a folder holding results '
            'made with other settings is refused).') in help_text


def test_the_batch_flags_help_says_what_they_mean_for_the_tool():
    parser = argparse.ArgumentParser()
    flags.add_workers_flag(parser, 'Scoring processes')
    flags.add_overwrite_flag(parser, 'Score again')
    flags.add_num_classes_flag(parser, 'Classes of the labels')
    help_text = ' '.join(parser.format_help().split())
    assert 'Scoring processes (default: all' in help_text and '--overwrite Score again.' in help_text
    assert 'Classes of the labels (default: 21)' in help_text


def test_help_keeps_the_description_s_line_breaks_and_ends_with_the_other_names():
    parser = predict_parser()
    parser.add_argument('--image_list', required=True)
    flags.original_name(parser, parser._option_string_actions['--image_list'], '--infer_data_list')
    flags.original_name(parser, parser._option_string_actions['--add_flipped_images'], '--flip')
    text = parser.format_help()
    assert 'Predicts.\n\n  kept line breaks\n' in text
    assert text.endswith("Other names these flags answer to (the original project's, and this suite's earlier "
                         "ones):\n  --base_architecture  = --model_variant\n  --infer_data_list    = --image_list\n"
                         "  --flip               = --add_flipped_images\n")
    assert '--infer_data_list INFER' not in text and '--flip ' not in text.split('Other names')[0]


def test_a_flag_required_under_two_names_takes_either(capsys):
    parser = flags.parser_for('x')
    flags.original_name(parser, parser.add_argument('--image_list', required=True), '--infer_data_list')
    flags.original_name(parser, parser.add_argument('--flip', action='store_true'), '--mirror')
    assert parser.parse_args(['--infer_data_list', 'a.txt']).image_list == 'a.txt'
    assert parser.parse_args(['--image_list', 'b.txt', '--mirror']).flip is True
    with pytest.raises(SystemExit):
        parser.parse_args([])
    assert 'the following arguments are required: --image_list' in capsys.readouterr().err


def test_an_original_name_takes_the_same_arguments():
    parser = flags.parser_for('x')
    flags.original_name(parser, parser.add_argument('--crop', type=int, nargs=2, choices=[1, 2], metavar='N'),
                        '--old_crop')
    assert parser.parse_args(['--old_crop', '1', '2']).crop == [1, 2]
    with pytest.raises(SystemExit):
        parser.parse_args(['--old_crop', '3', '1'])
    with pytest.raises(SystemExit):
        parser.parse_args(['--old_crop', '1'])


def test_a_plain_parser_takes_the_original_name_unlisted():
    parser = argparse.ArgumentParser()
    action = flags.original_name(parser, parser.add_argument('--image_list', required=True), '--infer_data_list')
    assert action.dest == 'image_list' and action.required
    assert parser.parse_args(['--image_list', 'a', '--infer_data_list', 'b']).image_list == 'b'
    assert '--infer_data_list' not in parser.format_help()


def test_the_eval_crop_size_is_upstreams_513_unless_given_and_none_for_the_original_layout():
    deeplab, original = {'layout': 'deeplab'}, {'layout': 'original'}
    assert flags.eval_crop_size_of(predict_parser().parse_args([]), deeplab) == [513, 513]
    assert flags.eval_crop_size_of(predict_parser().parse_args([]), original) is None  # the original: images whole
    for layout in (deeplab, original):
        assert flags.eval_crop_size_of(predict_parser().parse_args(['--eval_crop_size', '9', '7']), layout) == [9, 7]


def test_every_shared_flag_is_described_in_help():
    parser = predict_parser()
    flags.add_batch_flags(parser)
    described = {action.option_strings[0]: action.help for action in parser._actions
                 if action.option_strings and action.help != argparse.SUPPRESS}
    assert len(described) == 19 and all(text and text.strip() for text in described.values()), described


def test_help_names_the_values_each_flag_takes_and_where_unset_model_flags_come_from():
    text = predict_parser().format_help()
    for usage in ('--inference_scales SCALE [SCALE ...]', '--eval_crop_size HEIGHT WIDTH',
                  '--atrous_rates RATE RATE RATE', '--multi_grid M M M', '--batch_size BATCH_SIZE',
                  '--frozen_graph FROZEN_GRAPH', '--model_variant {resnet_v2_50,resnet_v2_101,xception_65}',
                  '--precision {float32,bfloat16,float16}', '--output_stride {8,16}',
                  '--decoder_output_stride {4}'):
        assert usage in text, usage
    assert ("\nmodel (unset flags: MODEL_DIR/deeplab_params.json, else what its checkpoint's variables say, then "
            "the default):\n") in text


def test_model_params_need_no_model_dir_flag():
    parser = argparse.ArgumentParser()
    flags.add_model_flags(parser)
    assert flags.model_params(parser.parse_args(['--output_stride', '8']))['atrous_rates'] == [12, 24, 36]


def test_one_image_a_run_is_a_batch_size():
    assert source_of(predict_parser().parse_args(['--batch_size', '1']))['batch_size'] == 1


def test_parsing_fills_the_namespace_it_is_given():
    namespace = argparse.Namespace(preset=1)
    parser = flags.parser_for('x')
    flags.original_name(parser, parser.add_argument('--image_list', required=True), '--infer_data_list')
    assert parser.parse_args(['--image_list', 'a'], namespace) is namespace
    assert (namespace.preset, namespace.image_list) == (1, 'a')


def test_every_missing_flag_required_under_two_names_is_named_at_once(capsys):
    parser = flags.parser_for('x')
    flags.original_name(parser, parser.add_argument('--image_list', required=True), '--infer_data_list')
    flags.original_name(parser, parser.add_argument('--output_dir', required=True), '--path_stacking')
    with pytest.raises(SystemExit):
        parser.parse_args([])
    assert capsys.readouterr().err.endswith('error: the following arguments are required: --image_list, '
                                            '--output_dir\n')
