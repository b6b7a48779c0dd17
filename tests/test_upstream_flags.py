"""Upstream DeepLab's absl-style command lines as deeplab/*.py parse them (utils.upstream.flags, .commands,
.data), in-process: --help, a value of the wrong kind, a token that is no flag, the refusals of what this suite
does not honour, each as its exact one line."""
import pytest

from utils.common.errors import UserError
from utils.upstream.commands import check_flags, model_argv, predict_argv
from utils.upstream.data import check_dataset
from utils.upstream.flags import parse, usage


def refusal(function, *args):
    """The one line of the UserError `function(*args)` raises."""
    with pytest.raises(UserError) as err:
        function(*args)
    return str(err.value)


@pytest.mark.parametrize('token', ['-h', '--help', '--helpfull'])
def test_each_help_flag_prints_the_usage_with_the_description_and_exits_0(token, capsys):
    with pytest.raises(SystemExit) as stop:
        parse('vis', ['--vis_logdir=v', token], 'Upstream vis.py, here.')
    assert stop.value.code == 0
    assert capsys.readouterr().out == usage('vis', 'Upstream vis.py, here.') + '\n'
    assert usage('vis', 'Upstream vis.py, here.').startswith('Upstream vis.py, here.\n')


@pytest.mark.parametrize('argv, message', [
    (['--add_image_level_feature=maybe'], '--add_image_level_feature=maybe: a boolean flag takes true or false'),
    (['--merge_method=mean'], '--merge_method=mean: one of max, avg'),
    (['--logits_kernel_size=1.5'], '--logits_kernel_size=1.5: not an integer'),
    (['--multi_grid=1,2,x'], '--multi_grid=1,2,x: not an integer'),
    (['--depth_multiplier=wide'], '--depth_multiplier=wide: not a number'),
    (['train_logdir'], 'deeplab/train.py takes --flag=value arguments only, not train_logdir'),
    (['-'], 'deeplab/train.py takes --flag=value arguments only, not -'),
    (['--'], 'deeplab/train.py takes --flag=value arguments only, not --'),
    (['--logits_kernel_size'], '--logits_kernel_size needs a value'),
])
def test_a_value_of_the_wrong_kind_or_a_bare_word_is_one_line(argv, message):
    assert refusal(parse, 'train', argv, '') == message


def test_an_unknown_flag_is_named_as_typed():
    assert refusal(parse, 'train', ['--Xception'], '') == '--Xception: not a flag of upstream deeplab/train.py'


def test_absl_logging_flags_are_ignored_with_a_note_their_separate_value_too(capsys):
    values, given = parse('train', ['--v', '1', '--logits_kernel_size=3', '--logtostderr'], '')
    assert given == {'logits_kernel_size'} and values['logits_kernel_size'] == 3
    assert capsys.readouterr().err == ('note: --v is absl logging; ignored (this suite logs to stderr)\n'
                                       'note: --logtostderr is absl logging; ignored (this suite logs to stderr)\n')


def test_repeated_and_comma_separated_values_add_up_and_a_value_may_follow_its_flag():
    values, given = parse('train', ['--atrous_rates', '6', '--atrous_rates=12,18', '--logits_kernel_size', '3'], '')
    assert values['atrous_rates'] == [6, 12, 18] and values['logits_kernel_size'] == 3
    assert given == {'atrous_rates', 'logits_kernel_size'}


def test_a_flag_honoured_at_one_value_only_names_why_another_is_refused():
    values, given = parse('vis', ['--colormap_type=cityscapes'], '')
    assert refusal(check_flags, 'vis', values, given) == (
        '--colormap_type=cityscapes: cannot be honoured here (the prediction PNGs use the PASCAL palette)')
    values, given = parse('vis', ['--colormap_type=pascal', '--vis_logdir=v', '--checkpoint_dir=c',
                                  '--dataset_dir=d'], '')
    check_flags('vis', values, given)


def test_a_missing_required_flag_is_named():
    values, given = parse('eval', ['--checkpoint_dir=c', '--dataset_dir=d'], '')
    assert refusal(check_flags, 'eval', values, given) == '--eval_logdir is required'


def test_a_model_variant_or_decoder_this_suite_does_not_build_is_one_line():
    values, _ = parse('vis', ['--model_variant=mobilenet_v2'], '')
    assert refusal(model_argv, values) == (
        '--model_variant=mobilenet_v2: this suite builds resnet_v2_50, resnet_v2_101, xception_65')
    values, _ = parse('vis', ['--model_variant=xception_65', '--decoder_output_stride=4,8'], '')
    assert refusal(model_argv, values) == '--decoder_output_stride: one stride here (a single decoder level)'


def test_a_crop_size_is_a_pair():
    values, _ = parse('eval', ['--eval_crop_size=513,513,3'], '')
    assert refusal(predict_argv, values, 'eval_crop_size', 'c') == (
        '--eval_crop_size: takes height and width, not 513,513,3')


def test_only_pascal_voc_is_served():
    assert check_dataset('pascal_voc_seg') == 21
    assert refusal(check_dataset, 'cityscapes') == (
        '--dataset=cityscapes: only pascal_voc_seg (21 classes, void 255) is served here')
