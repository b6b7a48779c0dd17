"""End to end on tiny generated data: records -> train -> evaluate -> inference -> stacking -> CRF -> scores."""
import json
import os
import tarfile

import numpy as np
from PIL import Image

import demo
from demo import summary_table
from utils.common.errors import run_cli
from utils.common.files import read_id_list

STAGES = ['deeplabv3', 'deeplabv3plus', 'deeplabv3_tta', 'stacking', 'densecrf']
BASELINE = 'background_only'


def test_demo_pipeline_runs_every_stage(tmp_path, capsys):
    out = str(tmp_path / 'demo')
    argv = ['--output_dir', out, '--train_steps', '2', '--num_train', '4', '--num_val', '3', '--crop_size', '33',
            '--batch_size', '2']
    assert run_cli(demo.main, argv) == 0
    printed = capsys.readouterr().out
    assert '$ python train.py' in printed and '$ python pixel_stacking.py' in printed
    v3plus_training = next(line for line in printed.splitlines() if 'models/deeplabv3plus' in line)
    assert f'--pre_trained_model {out}/models/deeplabv3' in v3plus_training  # v3+ starts from the trained v3

    val_ids = read_id_list(os.path.join(out, 'VOC2012', 'ImageSets', 'Segmentation', 'val.txt'))
    for stage in STAGES:
        for image_id in val_ids:
            result = Image.open(os.path.join(out, 'results', stage, image_id + '.png'))
            image = Image.open(os.path.join(out, 'VOC2012', 'JPEGImages', image_id + '.jpg'))
            assert result.mode == 'P' and result.size == image.size
            assert set(np.unique(np.asarray(result))) <= set(range(21))
    probabilities = np.load(os.path.join(out, 'results', 'deeplabv3', 'probabilities', val_ids[0] + '.npz'))
    assert probabilities['probabilities'].dtype == np.uint8
    assert probabilities['probabilities'].shape[2] == 21

    with open(os.path.join(out, 'scores.json')) as handle:
        scores = json.load(handle)
    assert sorted(scores) == sorted(STAGES + [BASELINE])
    for score in scores.values():
        assert 0.0 <= score['miou'] <= 1.0 and len(score['per_class_iou']) == 21
    assert scores[BASELINE]['pixel_accuracy'] == scores[BASELINE]['per_class_iou']['background']
    assert printed.rstrip().endswith(summary_table(scores))  # the README's table, as printed
    for name in ('deeplabv3', 'deeplabv3plus'):  # only the final checkpoint is kept (not the step-0 one)
        model_dir = os.path.join(out, 'models', name)
        assert sorted(n for n in os.listdir(model_dir) if n.endswith('.index')) == ['model.ckpt-2.index']
    assert Image.open(os.path.join(out, 'iou_stacking.png')).size[0] > 100
    assert len(os.listdir(os.path.join(out, 'panels', 'deeplabv3'))) == 3

    with tarfile.open(os.path.join(out, 'voc2012_test_results.tar.gz')) as tar:
        names = [n for n in tar.getnames() if n.endswith('.png')]
    assert len(names) == 4 and all(n.startswith('results/VOC2012/Segmentation/comp6_test_cls/') for n in names)
