"""Flag names: --image_list and --image_data_dir mean the same in every script; the seed's names keep working."""
import pytest

import create_tf_record
import densecrf_inference
import evaluate
import inference
import make_submission
import pixel_stacking

# script: (how it parses argv, the other flags it requires, the flags under test)
SCRIPTS = {
    'evaluate': (evaluate.build_parser().parse_args, ['--label_data_dir', 'gt'], ['--image_list', '--image_data_dir']),
    'inference': (inference.build_parser().parse_args, ['--output_dir', 'out'], ['--image_list', '--image_data_dir']),
    'densecrf_inference': (densecrf_inference.build_parser().parse_args, ['--prob_dir', 'probs'],
                           ['--image_list', '--image_data_dir']),
    'pixel_stacking': (pixel_stacking.build_parser().parse_args, ['--output_dir', 'out'], ['--image_list']),
    'make_submission': (make_submission.build_parser().parse_args, ['--results_dir', 'res', '--output', 'x.tar.gz'],
                        ['--image_list', '--image_data_dir']),
    'create_tf_record': (create_tf_record.build_parser().parse_args, ['--label_data_dir', 'labels'],
                         ['--image_data_dir']),
}
SEED_NAMES = [
    ('evaluate', '--evaluation_data_list', '--image_list'),
    ('inference', '--infer_data_list', '--image_list'),
    ('inference', '--data_dir', '--image_data_dir'),
    ('densecrf_inference', '--test_data_list', '--image_list'),
]


def parse(script, flags):
    """The parsed arguments of `script` given `flags` ({flag: value}) and the other flags it requires."""
    parse_args, required, _ = SCRIPTS[script]
    return vars(parse_args([*required, *(item for pair in flags.items() for item in pair)]))


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_script_spells_the_id_list_and_the_image_folder_the_same(script):
    flags = {flag: f'value of {flag}' for flag in SCRIPTS[script][2]}
    args = parse(script, flags)
    assert all(args[flag.lstrip('-')] == value for flag, value in flags.items())


@pytest.mark.parametrize('script, seed_name, name', SEED_NAMES)
def test_the_seed_name_and_the_consistent_name_give_the_same_value(script, seed_name, name):
    flags = {flag: f'value of {flag}' for flag in SCRIPTS[script][2]}
    with_name = parse(script, flags)
    flags[seed_name] = flags.pop(name)
    assert parse(script, flags) == with_name
    assert with_name[name.lstrip('-')] == f'value of {name}'
