"""One vocabulary: each meaning has one flag in every script (the id list, the image folder, the ground truth, the
folders of predictions, the output folder); the original project's names, and this suite's earlier ones, keep
working, are hidden from --help's list of options and are shown once, in the table at its end."""
import argparse

import pytest

import create_tf_record
import densecrf_inference
import evaluate
import inference
import make_submission
import pixel_stacking
import train

# script: (its parser, the other flags it requires, the flags under test)
SCRIPTS = {
    'evaluate': (evaluate.build_parser, ['--prediction_dir', 'a'],
                 ['--image_list', '--image_data_dir', '--ground_truth_dir']),
    'inference': (inference.build_parser, ['--output_dir', 'out'],
                  ['--image_list', '--image_data_dir', '--ground_truth_dir']),
    'densecrf_inference': (densecrf_inference.build_parser, ['--prob_dir', 'probs'],
                           ['--image_list', '--image_data_dir', '--ground_truth_dir']),
    'pixel_stacking': (pixel_stacking.build_parser, [], ['--image_list', '--prediction_dir', '--output_dir']),
    'make_submission': (make_submission.build_parser, ['--output', 'x.tar.gz'],
                        ['--image_list', '--image_data_dir', '--prediction_dir']),
    'create_tf_record': (create_tf_record.build_parser, [], ['--image_data_dir', '--ground_truth_dir']),
}
# (script, old name, the name it stands for): the original project's commands, and earlier spellings of this suite
OLD_NAMES = [
    ('evaluate', '--evaluation_data_list', '--image_list'),
    ('evaluate', '--label_data_dir', '--ground_truth_dir'),
    ('inference', '--infer_data_list', '--image_list'),
    ('inference', '--data_dir', '--image_data_dir'),
    ('inference', '--label_data_dir', '--ground_truth_dir'),
    ('densecrf_inference', '--test_data_list', '--image_list'),
    ('densecrf_inference', '--label_gt_dir', '--ground_truth_dir'),
    ('pixel_stacking', '--inputs', '--prediction_dir'),
    ('pixel_stacking', '--path_stacking', '--output_dir'),
    ('make_submission', '--results_dir', '--prediction_dir'),
    ('create_tf_record', '--label_data_dir', '--ground_truth_dir'),
]


def parse(script, flags):
    """The parsed arguments of `script` given `flags` ({flag: value}) and the other flags it requires."""
    build, required, _ = SCRIPTS[script]
    argv = [*required, *(item for flag, value in flags.items() for item in (flag, value))]
    args = vars(build().parse_args(argv))
    return {key: value[0] if isinstance(value, list) and len(value) == 1 else value for key, value in args.items()}


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_script_spells_each_meaning_the_same(script):
    flags = {flag: f'value of {flag}' for flag in SCRIPTS[script][2]}
    args = parse(script, flags)
    assert all(args[flag.lstrip('-')] == value for flag, value in flags.items())


@pytest.mark.parametrize('script, old, name', OLD_NAMES)
def test_an_old_name_gives_the_same_value_and_stays_out_of_the_option_list(script, old, name):
    flags = {flag: f'value of {flag}' for flag in SCRIPTS[script][2]}
    with_name = parse(script, flags)
    flags[old] = flags.pop(name)
    assert parse(script, flags) == with_name
    text = SCRIPTS[script][0]().format_help()
    options, table = text.split('Other names these flags answer to')
    assert old not in options and name in options
    assert any(line.split() == [old, '=', name] for line in table.splitlines())


def test_a_required_flag_is_required_under_either_name(capsys):
    assert parse('evaluate', {'--label_data_dir': 'gt', '--image_list': 'l'})['ground_truth_dir'] == 'gt'
    with pytest.raises(SystemExit):
        evaluate.build_parser().parse_args(['--image_list', 'l'])
    assert 'the following arguments are required: --ground_truth_dir' in capsys.readouterr().err


def test_the_original_stacking_form_and_the_densecrf_labels_keep_their_meaning():
    form = ['--path_val', 'A', '--path_aug', 'B', '--path_ori', 'C', '--path_stacking', 'OUT']
    args = pixel_stacking.build_parser().parse_args(form)
    assert pixel_stacking.input_dirs(args) == ['A', 'B', 'C'] and args.output_dir == 'OUT'
    seed = densecrf_inference.build_parser().parse_args(['--image_data_dir', 'I', '--label_data_dir', 'L'])
    assert seed.prediction_dir == 'L' and seed.ground_truth_dir is None  # labels to refine, not ground truth


def test_ground_truth_is_one_flag_in_every_script_that_reads_it():
    for build in (evaluate.build_parser, inference.build_parser, densecrf_inference.build_parser,
                  create_tf_record.build_parser):
        listed = {option for action in build()._actions for option in action.option_strings
                  if action.help != argparse.SUPPRESS}
        assert '--ground_truth_dir' in listed and not listed & {'--label_data_dir', '--label_gt_dir'}
    assert '--base_architecture' not in train.build_parser().format_help().split('Other names')[0]
