"""The demo's closing table: what the README's table is pasted from."""
from demo import STAGE_DESCRIPTIONS, summary_table


def score(miou, accuracy):
    return {'miou': miou, 'pixel_accuracy': accuracy, 'per_class_iou': {'background': accuracy}}


def test_summary_table_is_the_readme_markdown_in_stage_order():
    scores = {'background_only': score(0.14078, 0.84456), 'densecrf': score(0.98889, 0.998),
              'stacking': score(0.9171, 0.98494), 'deeplabv3_tta': score(0.89634, 0.9812),
              'deeplabv3plus': score(0.892, 0.97774), 'deeplabv3': score(0.81566, 0.96444)}
    assert summary_table(scores) == '\n'.join([
        '| stage | what it is | val mIoU | pixel accuracy |',
        '| --- | --- | --- | --- |',
        '| deeplabv3 | DeepLabv3, single scale | 81.57 | 96.44 |',
        '| deeplabv3plus | DeepLabv3+ (decoder at stride 4), single scale | 89.20 | 97.77 |',
        '| deeplabv3_tta | DeepLabv3, scales 0.75/1.0/1.25 + flip | 89.63 | 98.12 |',
        '| stacking | per-pixel vote of the three above | 91.71 | 98.49 |',
        '| densecrf | 21-class DenseCRF on the TTA probabilities | 98.89 | 99.80 |',
        '| background_only | the trivial baseline: background everywhere | 14.08 | 84.46 |',
    ])


def test_undefined_scores_and_unknown_stages():
    table = summary_table({'other': score(None, 0.5), 'deeplabv3': score(0.25, None)}).splitlines()
    assert table[2:] == ['| deeplabv3 | DeepLabv3, single scale | 25.00 | n/a |', '| other |  | n/a | 50.00 |']


def test_every_demo_stage_has_a_description():
    assert list(STAGE_DESCRIPTIONS) == ['deeplabv3', 'deeplabv3plus', 'deeplabv3_tta', 'stacking', 'densecrf',
                                        'background_only']
