"""--inference_scales and --add_flipped_images reach the predictor from inference.py and evaluate.py, and change
what comes out."""
import inspect

import numpy as np
import pytest
from conftest import write_voc_with_model

import evaluate
import inference
from utils.common.errors import run_cli
from utils.postprocess.probabilities import read_probabilities
from utils.runtime import predict
from utils.runtime.model_config import MODEL_DEFAULTS

SIZES = {'2007_000032': (29, 37), '2007_000039': (33, 26)}
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', num_classes=5)
TTA = ['--inference_scales', '0.75', '1.0', '--add_flipped_images']
SMALL = ['--eval_crop_size', '33', '37']  # no larger than the images: nothing to pad


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    """Two small JPEG images with labels, a list file, and a random ResNet-v2-50 model folder with its params."""
    return write_voc_with_model(tmp_path_factory.mktemp('voc'), SIZES, PARAMS)


@pytest.fixture
def predictor_calls(monkeypatch):
    """Record the (scales, flip) every CheckpointPredictor is built with, then build it as usual."""
    calls = []
    original = predict.CheckpointPredictor.__init__

    def spy(self, *args, **kwargs):  # whatever else the constructor grows, read scales and flip by name
        bound = inspect.signature(original).bind(self, *args, **kwargs)
        bound.apply_defaults()
        calls.append((tuple(bound.arguments['scales']), bool(bound.arguments['flip'])))
        original(self, *args, **kwargs)

    monkeypatch.setattr(predict.CheckpointPredictor, '__init__', spy)
    return calls


def probabilities(voc, out, *extra):
    assert run_cli(inference.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--image_list', str(voc / 'val.txt'),
                                    '--model_dir', str(voc / 'model'), '--output_dir', str(out),
                                    '--save_probabilities', *SMALL, *extra]) == 0
    return {i: read_probabilities(str(out / 'probabilities' / f'{i}.npz'), PARAMS['num_classes']) for i in SIZES}


def test_inference_tta_flags_reach_the_predictor_and_change_the_probabilities(voc, tmp_path, predictor_calls):
    plain = probabilities(voc, tmp_path / 'plain')
    augmented = probabilities(voc, tmp_path / 'tta', *TTA)
    assert predictor_calls == [((1.0,), False), ((0.75, 1.0), True)]
    for image_id, (height, width) in SIZES.items():
        assert plain[image_id].shape == augmented[image_id].shape == (height, width, 5)
        np.testing.assert_allclose(augmented[image_id].sum(axis=2), 1.0, atol=1e-2)
        assert np.abs(augmented[image_id] - plain[image_id]).max() > 1e-2


def test_evaluate_checkpoint_mode_passes_the_tta_flags_to_the_predictor(voc, tmp_path, predictor_calls):
    argv = ['--image_data_dir', str(voc / 'JPEGImages'), '--label_data_dir', str(voc / 'SegmentationClass'),
            '--image_list', str(voc / 'val.txt'), '--model_dir', str(voc / 'model'), *SMALL,
            '--output_json', str(tmp_path / 'scores.json'), *TTA]
    assert run_cli(evaluate.main, argv) == 0
    assert predictor_calls == [((0.75, 1.0), True)]
    assert (tmp_path / 'scores.json').is_file()
