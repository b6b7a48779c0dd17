"""Probability files: uint8 in steps of 1/255 that sum to exactly 255 per pixel, read back as float32 summing to 1;
the float16 files written before still read; foreign files that are not probabilities are refused."""
import numpy as np
import pytest

from utils.common.errors import UserError
from utils.postprocess.probabilities import (
    PROBABILITY_KEY,
    PROBABILITY_STEPS,
    quantize,
    read_probabilities,
    save_probabilities,
)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(np.float32)


@pytest.fixture
def prob():
    """Softmax maps from confident (one-hot-like) to flat pixels, as trained models give at borders."""
    rng = np.random.default_rng(0)
    return softmax(rng.normal(size=(30, 40, 21)) * np.linspace(0.1, 20, 40)[None, :, None])


def test_stored_steps_sum_to_255_and_stay_within_one_step(prob, tmp_path):
    path = str(tmp_path / 'p.npz')
    save_probabilities(path, prob)
    with np.load(path) as data:
        stored = data[PROBABILITY_KEY]
    assert PROBABILITY_STEPS == 255 and stored.dtype == np.uint8
    assert (stored.sum(axis=2, dtype=np.int64) == 255).all()
    assert np.abs(stored - prob * 255).max() < 1
    # plain rounding would move sums (the reason for largest-remainder rounding)
    assert (np.rint(prob * 255).sum(axis=2) != 255).any()


def test_maps_that_do_not_sum_to_one_are_scaled_to_sum_to_the_steps(prob):
    # doubling and halving are exact in float32, so the scaled maps are the same numbers
    np.testing.assert_array_equal(quantize(2 * prob), quantize(prob))
    np.testing.assert_array_equal(quantize(prob / 2), quantize(prob))


def test_float64_maps_are_stepped_as_the_float32_maps_they_round_to():
    # Two classes a hair apart in float64 are a tie in float32, which goes to the first class: the steps do not
    # depend on the precision the caller averaged in.
    near_tie = np.array([[[0.5 - 1e-9, 0.5 + 1e-9]]])
    assert quantize(near_tie).tolist() == [[[128, 127]]]
    np.testing.assert_array_equal(quantize(near_tie), quantize(near_tie.astype(np.float32)))


def test_reading_gives_float32_probabilities_in_those_steps(prob, tmp_path):
    path = str(tmp_path / 'p.npz')
    save_probabilities(path, prob)
    read = read_probabilities(path, 21)
    assert read.dtype == np.float32 and read.shape == prob.shape
    np.testing.assert_allclose(read.sum(axis=2), 1, atol=1e-5)
    np.testing.assert_array_equal(read, quantize(prob).astype(np.float32) / 255)
    assert np.abs(read - prob).max() < 1 / 255


def test_the_steps_compress_far_smaller_than_float16(prob, tmp_path):
    peaked = softmax(np.random.default_rng(1).normal(size=(100, 120, 21)) * 12)
    save_probabilities(str(tmp_path / 'new.npz'), peaked)
    with open(tmp_path / 'old.npz', 'wb') as handle:
        np.savez_compressed(handle, **{PROBABILITY_KEY: peaked.astype(np.float16)})
    assert (tmp_path / 'new.npz').stat().st_size < 0.5 * (tmp_path / 'old.npz').stat().st_size


def test_float16_files_written_before_still_read(tmp_path):
    # Each class just over half a float16 step above a representable value, so storing rounds every one up by
    # almost half a step: the largest per-pixel sum float16 can make of a float32 softmax (about 1 + 2**-11).
    step = 2.0 ** -10
    top = [2.0 ** -(c + 1) * (1 + 0.51 * step) for c in range(10)]
    prob = np.array(top + [(1 - sum(top)) / 11] * 11, np.float32)
    stored = prob.astype(np.float16)
    assert stored.astype(np.float64).sum() - 1 > 0.9 * 2.0 ** -11
    np.savez_compressed(tmp_path / 'x.npz', **{PROBABILITY_KEY: np.tile(stored, (2, 3, 1))})
    read = read_probabilities(str(tmp_path / 'x.npz'), 21)
    assert read.dtype == np.float16 and read.shape == (2, 3, 21)
    np.testing.assert_array_equal(read[1, 2], stored)


def test_uint8_files_whose_pixels_do_not_sum_to_255_are_refused(tmp_path):
    counts = np.zeros((2, 2, 21), np.uint8)
    counts[..., 0] = 200
    np.savez_compressed(tmp_path / 'x.npz', **{PROBABILITY_KEY: counts})
    with pytest.raises(UserError, match=r'x.npz: per-pixel sums 0.784\.\.0.784, expected 1'):
        read_probabilities(str(tmp_path / 'x.npz'), 21)


def test_a_file_without_the_probabilities_array_names_what_it_holds(tmp_path):
    np.savez_compressed(tmp_path / 'x.npz', logits=np.zeros((2, 2, 21)), mask=np.zeros((2, 2)))
    with pytest.raises(UserError) as err:
        read_probabilities(str(tmp_path / 'x.npz'), 21)
    assert str(err.value) == f'{tmp_path / "x.npz"}: no "probabilities" array (found logits, mask)'


def test_an_empty_npz_file_is_said_to_hold_none(tmp_path):
    np.savez_compressed(tmp_path / 'x.npz')
    with pytest.raises(UserError) as err:
        read_probabilities(str(tmp_path / 'x.npz'), 21)
    assert str(err.value) == f'{tmp_path / "x.npz"}: no "probabilities" array (found none)'


def test_complex_values_are_refused_by_type(tmp_path):
    prob = np.full((2, 2, 3), 1 / 3, dtype=np.complex64)
    np.savez_compressed(tmp_path / 'x.npz', probabilities=prob)
    with pytest.raises(UserError) as err:
        read_probabilities(str(tmp_path / 'x.npz'), 3)
    assert str(err.value) == f'{tmp_path / "x.npz"}: probabilities are of type complex64, expected real numbers'


def test_float16_sums_are_added_in_float32_so_a_sum_just_past_the_tolerance_is_refused(tmp_path):
    # 0.5 + 0.5 + 0.0101 sums to about 1.0101 exactly; added in float16 it would round to 1.00977, within 0.01.
    prob = np.tile(np.array([0.5, 0.5, 0.0101], np.float16), (2, 2, 1))
    np.savez_compressed(tmp_path / 'x.npz', probabilities=prob)
    with pytest.raises(UserError) as err:
        read_probabilities(str(tmp_path / 'x.npz'), 3)
    assert str(err.value) == f'{tmp_path / "x.npz"}: per-pixel sums 1.010..1.010, expected 1 (within 0.01)'
