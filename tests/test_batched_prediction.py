"""--batch_size in evaluate.py and inference.py: consecutive images of the same padded shape run together and each
gets what it gets alone; reading and writing overlap the network; the flag reaches the session runs."""
import json
import time

import numpy as np
import pytest
from conftest import write_voc_with_model
from PIL import Image

import deeplab_model
import evaluate
import inference
from utils.common.errors import run_cli
from utils.runtime import predict
from utils.runtime.image_feed import read_ahead
from utils.runtime.model_config import DEFAULT_PREDICT_BATCH_SIZE, MODEL_DEFAULTS

CROP = [41, 41]
# three that pad to the crop, one larger (alone), two more that pad to the crop
SIZES = {'a': (37, 41), 'b': (20, 33), 'c': (41, 12), 'd': (45, 29), 'e': (9, 40), 'f': (41, 41)}
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', atrous_rates=[6, 12, 18], num_classes=5)


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    return write_voc_with_model(tmp_path_factory.mktemp('voc'), SIZES, PARAMS)


def images_of(voc):
    return [np.asarray(Image.open(voc / 'JPEGImages' / f'{image_id}.jpg')) for image_id in SIZES]


def test_images_batch_in_order_by_the_shape_the_network_sees():
    shapes = [predict.padded_shape(np.zeros(size + (3,)), CROP) for size in SIZES.values()]
    assert shapes == [(41, 41), (41, 41), (41, 41), (45, 41), (41, 41), (41, 41)]
    assert predict.padded_shape(np.zeros((45, 29, 3)), None) == (45, 29)
    batches = list(predict.same_shape_batches(list(SIZES), lambda i: predict.padded_shape(
        np.zeros(SIZES[i] + (3,)), CROP), 2))
    assert batches == [['a', 'b'], ['c'], ['d'], ['e', 'f']]


def test_each_side_is_padded_to_its_own_side_of_the_crop():
    assert predict.padded_shape(np.zeros((20, 40, 3)), [41, 33]) == (41, 40)
    assert predict.padded_shape(np.zeros((45, 29, 3)), [41, 33]) == (45, 33)


@pytest.mark.parametrize('scales, flip', [((1.0,), False), ((0.75, 1.25), True)])
def test_each_image_of_a_batch_gets_what_it_gets_alone(voc, scales, flip):
    predictor = predict.CheckpointPredictor(str(voc / 'model'), PARAMS, deeplab_model.predict_probabilities, scales,
                                            flip, eval_crop_size=CROP)
    try:
        images = images_of(voc)
        small = [image for image in images if image.shape[0] <= CROP[0] and image.shape[1] <= CROP[1]]
        batched = predictor.predict_batch(small, with_probabilities=True)
        alone = [predictor(image, with_probabilities=True) for image in small]
    finally:
        predictor.close()
    for image, (labels, probabilities), (labels_alone, probabilities_alone) in zip(small, batched, alone):
        assert labels.shape == image.shape[:2] and probabilities.shape == image.shape[:2] + (5,)
        np.testing.assert_allclose(probabilities, probabilities_alone, atol=2e-5)
        margin = np.sort(probabilities_alone, axis=2)[..., -1] - np.sort(probabilities_alone, axis=2)[..., -2]
        np.testing.assert_array_equal(labels[margin > 1e-4], labels_alone[margin > 1e-4])


def run_inference(voc, out, *extra):
    return run_cli(inference.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--image_list', str(voc / 'val.txt'),
                                    '--model_dir', str(voc / 'model'), '--output_dir', str(out),
                                    '--eval_crop_size', *map(str, CROP), *extra])


@pytest.fixture
def batch_sizes(monkeypatch):
    """The number of images of every session run of the predictor."""
    sizes = []
    original = predict.CheckpointPredictor.predict_batch

    def spy(self, images, with_probabilities=False):
        sizes.append(len(images))
        return original(self, images, with_probabilities)

    monkeypatch.setattr(predict.CheckpointPredictor, 'predict_batch', spy)
    return sizes


def test_inference_batch_size_sets_the_images_per_run_and_not_the_results(voc, tmp_path, batch_sizes):
    assert run_inference(voc, tmp_path / 'one', '--batch_size', '1', '--save_probabilities') == 0
    assert batch_sizes == [1] * 6
    batch_sizes.clear()
    assert run_inference(voc, tmp_path / 'three', '--batch_size', '3', '--save_probabilities') == 0
    assert batch_sizes == [3, 1, 2]
    batch_sizes.clear()
    assert run_inference(voc, tmp_path / 'default') == 0
    assert batch_sizes == [min(3, DEFAULT_PREDICT_BATCH_SIZE), 1, 2]
    for image_id in SIZES:
        one = np.load(tmp_path / 'one' / 'probabilities' / f'{image_id}.npz')['probabilities'].astype(int)
        three = np.load(tmp_path / 'three' / 'probabilities' / f'{image_id}.npz')['probabilities'].astype(int)
        assert np.abs(one - three).max() <= 1  # uint8 steps of 1/255: a rounding step at most
        assert Image.open(tmp_path / 'three' / f'{image_id}.png').size == SIZES[image_id][::-1]


def test_evaluate_batch_size_reaches_the_predictor_and_scores_alike(voc, tmp_path, batch_sizes):
    scores = []
    for size in ('1', '4'):
        out = tmp_path / f'scores{size}.json'
        assert run_cli(evaluate.main, ['--image_data_dir', str(voc / 'JPEGImages'), '--ground_truth_dir',
                                       str(voc / 'SegmentationClass'), '--image_list', str(voc / 'val.txt'),
                                       '--model_dir', str(voc / 'model'), '--eval_crop_size', *map(str, CROP),
                                       '--batch_size', size, '--output_json', str(out)]) == 0
        scores.append(json.loads(out.read_text()))
    assert batch_sizes == [1] * 6 + [3, 1, 2]
    assert scores[0]['miou'] == pytest.approx(scores[1]['miou'], abs=1e-3)


@pytest.mark.parametrize('flags, message', [
    (['--batch_size', '0'], '--batch_size 0: give 1 or more images per run'),
    (['--batch_size', '2', '--frozen_graph', 'graph.pb'], 'graph.pb: --batch_size needs a checkpoint'),
])
def test_a_bad_batch_size_is_a_one_line_error(voc, tmp_path, capsys, flags, message):
    assert run_inference(voc, tmp_path / 'out', *flags) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / 'out').exists()


def test_the_next_batch_runs_while_the_caller_handles_the_last():
    """read_ahead's worker computes item n+1 while the caller still holds item n, takes a generator as it goes and
    drops what was not started when the caller stops."""
    started, consumed = [], []

    def load(item):
        started.append((item, list(consumed)))
        time.sleep(0.01)
        return item * 10

    def items():
        for item in range(100):
            consumed.append(item)
            yield item

    results = read_ahead(load, items(), depth=1)
    assert next(results) == (0, 0)
    time.sleep(0.05)
    assert [item for item, _ in started] == [0, 1]  # item 1 ran while the caller held item 0
    assert next(results) == (1, 10)
    results.close()
    assert len(consumed) <= 3 and len(started) <= 3
