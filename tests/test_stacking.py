"""Pixel stacking: the voting rule (ties, weights, void), folder matching, and every bad input."""
import numpy as np
import pytest
from PIL import Image

import pixel_stacking
from utils.common.errors import UserError, run_cli
from utils.data.voc import read_label, save_label
from utils.postprocess.voting import stack_folders, vote


def labels(*rows):
    return [np.array([row], dtype=np.uint8) for row in rows]


def test_majority_wins():
    assert vote(labels([1, 2], [1, 3], [4, 3])).tolist() == [[1, 3]]


def test_tie_goes_to_the_earliest_folder_by_default():
    assert vote(labels([3, 5], [2, 4], [1, 255])).tolist() == [[3, 5]]


def test_tie_break_smallest_reproduces_the_seed_argmax_bincount():
    assert vote(labels([3, 5], [2, 4], [1, 255]), tie_break='smallest').tolist() == [[1, 4]]


def test_tie_is_decided_among_the_tied_labels_only():
    # 7 and 9 tie with two votes each; folder 0's label 4 has one vote and must not win.
    maps = labels([4], [7], [9], [7], [9])
    assert vote(maps).tolist() == [[7]]
    assert vote(maps, tie_break='smallest').tolist() == [[7]]


def test_weights_count_as_votes():
    maps = labels([1], [2], [2])
    assert vote(maps).tolist() == [[2]]
    assert vote(maps, weights=[3, 1, 1]).tolist() == [[1]]
    assert vote(maps, weights=[2, 1, 1]).tolist() == [[1]]  # 2 against 2: earliest folder
    assert vote(maps, weights=[0.1, 0.05, 0.05], tie_break='smallest').tolist() == [[1]]


def test_void_casts_no_vote_and_no_votes_give_void():
    maps = labels([255, 255, 0], [255, 6, 255], [255, 255, 255])
    assert vote(maps).tolist() == [[255, 6, 0]]
    assert vote(maps, tie_break='smallest').tolist() == [[255, 6, 0]]


def test_background_is_a_real_vote():
    assert vote(labels([0], [0], [15])).tolist() == [[0]]


def write(folder, name, values, mode='P'):
    folder.mkdir(exist_ok=True)
    array = np.array(values, dtype=np.uint8)
    if mode == 'P':
        save_label(str(folder / name), array)
    else:
        Image.fromarray(array, mode='L').save(folder / name)


@pytest.fixture
def folders(tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    write(a, 'img1.png', [[1, 2], [3, 0]])
    write(b, "b'img1'.png", [[1, 5], [4, 0]], mode='L')
    write(c, 'img1.png', [[6, 5], [5, 255]])
    for folder in (a, b, c):
        write(folder, 'img2.png', [[0, 0, 0]])
    return a, b, c


def test_stack_folders_matches_vis_py_names_and_writes_palette_pngs(folders, tmp_path):
    out = tmp_path / 'out'
    summary = stack_folders([str(f) for f in folders], str(out), num_workers=1)
    assert (summary.written, summary.skipped, summary.missing) == (2, 0, {})
    with Image.open(out / 'img1.png') as img:
        assert img.mode == 'P'
    assert read_label(str(out / 'img1.png')).tolist() == [[1, 5], [3, 0]]
    assert read_label(str(out / 'img2.png')).tolist() == [[0, 0, 0]]


def test_existing_outputs_are_kept_unless_overwrite(folders, tmp_path):
    out = tmp_path / 'out'
    write(out, 'img1.png', [[9, 9], [9, 9]])
    summary = stack_folders([str(f) for f in folders], str(out), num_workers=1)
    assert (summary.written, summary.skipped) == (1, 1)
    assert read_label(str(out / 'img1.png')).tolist() == [[9, 9], [9, 9]]
    stack_folders([str(f) for f in folders], str(out), num_workers=1, overwrite=True)
    assert read_label(str(out / 'img1.png')).tolist() == [[1, 5], [3, 0]]


def test_parallel_workers_give_the_same_result(folders, tmp_path):
    stack_folders([str(f) for f in folders], str(tmp_path / 'one'), num_workers=1)
    stack_folders([str(f) for f in folders], str(tmp_path / 'two'), num_workers=2)
    for name in ('img1.png', 'img2.png'):
        assert np.array_equal(read_label(str(tmp_path / 'one' / name)), read_label(str(tmp_path / 'two' / name)))


def test_missing_names_are_all_listed(folders, tmp_path):
    a, b, c = folders
    (b / 'img2.png').unlink()
    (c / 'img1.png').unlink()
    with pytest.raises(UserError, match=r'b: 1 missing results \(img2\).*c: 1 missing results \(img1\)'):
        stack_folders([str(f) for f in folders], str(tmp_path / 'out'), num_workers=1)
    assert not (tmp_path / 'out').exists()


def test_allow_missing_lets_present_folders_vote(folders, tmp_path):
    a, b, c = folders
    (c / 'img1.png').unlink()
    summary = stack_folders([str(f) for f in folders], str(tmp_path / 'out'), allow_missing=True, num_workers=1)
    assert summary.missing == {str(c): ['img1']}
    assert read_label(str(tmp_path / 'out' / 'img1.png')).tolist() == [[1, 2], [3, 0]]


def run(argv, capsys):
    code = run_cli(pixel_stacking.main, argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_cli_seed_form_votes_val_first(folders, tmp_path, capsys):
    a, b, c = folders
    out = tmp_path / 'out'
    argv = ['--path_val', str(c), '--path_aug', str(b), '--path_ori', str(a), '--path_stacking', str(out),
            '--num_workers', '1']
    assert run(argv, capsys)[0] == 0
    assert read_label(str(out / 'img1.png')).tolist() == [[1, 5], [5, 0]]  # 5/4/3 tie: --path_val's 5


def test_cli_inputs_weights_and_tie_break(folders, tmp_path, capsys):
    out = tmp_path / 'out'
    argv = ['--inputs', *map(str, folders), '--weights', '1', '1', '3', '--output_dir', str(out), '--tie_break',
            'smallest', '--num_workers', '1']
    assert run(argv, capsys)[0] == 0
    assert read_label(str(out / 'img1.png')).tolist() == [[6, 5], [5, 0]]


def test_cli_size_mismatch_names_the_image_and_sizes(folders, tmp_path, capsys):
    a, b, c = folders
    write(c, 'img1.png', [[1, 2, 3]])
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(tmp_path / 'out')], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert 'img1' in err and 'differ in size' in err and '3x1' in err and '2x2' in err
    assert not (tmp_path / 'out' / 'img1.png').exists()


def test_cli_bad_label_value_names_the_file(folders, tmp_path, capsys):
    a, b, c = folders
    write(b, "b'img1'.png", [[1, 30], [4, 0]], mode='L')
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(tmp_path / 'out'), '--num_workers', '1'],
                    capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "b'img1'.png" in err and '[30]' in err


def test_cli_missing_folder(tmp_path, capsys, folders):
    code, err = run(['--inputs', str(folders[0]), str(tmp_path / 'nope'), '--output_dir', str(tmp_path / 'o')],
                    capsys)
    assert code == 2 and err == f'error: {tmp_path / "nope"}: input folder not found'


def test_cli_unreadable_png_names_the_file(folders, tmp_path, capsys):
    (folders[1] / 'img2.png').write_bytes(b'not a png')
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(tmp_path / 'out'), '--num_workers', '1'],
                    capsys)
    assert code == 2 and len(err.splitlines()) == 1 and 'img2.png: unreadable label' in err


@pytest.mark.parametrize('extra, message', [
    (['--weights', '1', '2'], '2 weights given for 3 input folders'),
    (['--weights', '1', '0', '1'], 'weights must be positive'),
    (['--path_val', 'x'], 'either --prediction_dir or --path_val'),
])
def test_cli_bad_options(folders, tmp_path, capsys, extra, message):
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(tmp_path / 'out'), *extra], capsys)
    assert code == 2 and message in err


def test_cli_output_folder_must_not_be_an_input(folders, capsys):
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(folders[0])], capsys)
    assert code == 2 and 'also an input folder' in err


def test_cli_empty_list_file(folders, tmp_path, capsys):
    (tmp_path / 'list.txt').write_text('\n')
    code, err = run(['--inputs', *map(str, folders), '--output_dir', str(tmp_path / 'out'), '--image_list',
                     str(tmp_path / 'list.txt')], capsys)
    assert code == 2 and 'list.txt: list file is empty' in err


def test_a_tie_goes_to_the_label_whose_first_vote_comes_first():
    assert vote(labels([3], [5], [5], [3])).tolist() == [[3]]
    assert vote(labels([5], [3], [3], [5]), tie_break='smallest').tolist() == [[3]]


def test_fractional_weights_are_counted_as_they_are():
    maps = labels([1], [2], [2])
    assert vote(maps, weights=[0.6, 0.3, 0.4]).tolist() == [[2]]
    assert vote(maps, weights=[0.8, 0.3, 0.4]).tolist() == [[1]]


def test_fractional_weights_that_add_up_to_the_same_total_tie():
    maps = labels([2], [4], [4])
    assert vote(maps, weights=[0.3, 0.1, 0.2]).tolist() == [[2]]
    assert vote(labels([4], [2], [2]), weights=[0.3, 0.1, 0.2], tie_break='smallest').tolist() == [[2]]
    assert vote(labels([1], [2]), weights=[0.5, 0.5000000004]).tolist() == [[1]]


def test_only_the_ratio_of_the_weights_counts():
    maps = labels([1], [2], [2])
    for scale in (1e-12, 1e-6, 1, 1e6):
        assert vote(maps, weights=[0.3 * scale, 0.2 * scale, 0.2 * scale]).tolist() == [[2]]
        assert vote(maps, weights=[0.4 * scale, 0.2 * scale, 0.2 * scale]).tolist() == [[1]]


def test_votes_summing_past_the_int16_range_are_counted_without_wrapping():
    maps = labels([1], [2], [2])
    assert vote(maps, weights=[30000, 16383, 16384]).tolist() == [[2]]
    assert vote(maps, weights=[30000, 16384, 16384]).tolist() == [[2]]
    assert vote(maps, weights=[32767, 16384, 16384]).tolist() == [[2]]


def test_the_vote_is_a_uint8_label_map_whatever_integers_it_is_given():
    result = vote([[[1, 2]], [[1, 3]], [[4, 3]]])
    assert result.dtype == np.uint8 and result.tolist() == [[1, 3]]


def test_an_unknown_tie_break_is_a_value_error():
    with pytest.raises(ValueError) as err:
        vote(labels([1], [2]), tie_break='middle')
    assert str(err.value) == "tie_break must be one of ('first', 'smallest'), not 'middle'"


def test_stack_folders_breaks_ties_as_asked(tmp_path):
    for name, value in (('x', 7), ('y', 2)):
        write(tmp_path / name, 'img.png', [[value]])
    inputs = [str(tmp_path / 'x'), str(tmp_path / 'y')]
    stack_folders(inputs, str(tmp_path / 'first'), num_workers=1)
    stack_folders(inputs, str(tmp_path / 'smallest'), tie_break='smallest', num_workers=1)
    assert read_label(str(tmp_path / 'first' / 'img.png')).tolist() == [[7]]
    assert read_label(str(tmp_path / 'smallest' / 'img.png')).tolist() == [[2]]


@pytest.mark.parametrize('inputs, options, message', [
    (0, {}, 'no input folders given'),
    (3, {'tie_break': 'middle'}, "tie break must be one of first, smallest, not 'middle'"),
])
def test_stack_folders_refuses_options_it_cannot_work_with(folders, tmp_path, inputs, options, message):
    with pytest.raises(UserError) as err:
        stack_folders([str(f) for f in folders[:inputs]], str(tmp_path / 'out'), **options)
    assert str(err.value) == message


def test_folders_without_any_result_are_all_named(tmp_path):
    empty = [tmp_path / 'a', tmp_path / 'b']
    for folder in empty:
        folder.mkdir()
    with pytest.raises(UserError) as err:
        stack_folders([str(f) for f in empty], str(tmp_path / 'out'), num_workers=1)
    assert str(err.value) == f'no label PNGs in {empty[0]}, {empty[1]}'


def test_missing_names_point_to_allow_missing(folders, tmp_path):
    (folders[1] / 'img2.png').unlink()
    with pytest.raises(UserError) as err:
        stack_folders([str(f) for f in folders], str(tmp_path / 'out'), num_workers=1)
    assert str(err.value) == f'{folders[1]}: 1 missing results (img2) (--allow_missing lets the present folders vote)'


def test_listed_images_in_no_folder_are_named_even_with_allow_missing(folders, tmp_path):
    with pytest.raises(UserError) as err:
        stack_folders([str(f) for f in folders], str(tmp_path / 'out'), ids=['img1', 'gone', 'lost'],
                      allow_missing=True, num_workers=1)
    assert str(err.value) == '2 images are in no input folder (gone, lost)'
    assert not (tmp_path / 'out').exists()


def test_maps_of_different_sizes_are_named_with_their_sizes(folders, tmp_path):
    a, b, c = folders
    write(c, 'img1.png', [[1, 2, 3]])
    with pytest.raises(UserError) as err:
        stack_folders([str(f) for f in folders], str(tmp_path / 'out'), ids=['img1'], num_workers=1)
    vis_name = b / "b'img1'.png"
    assert str(err.value) == (f'img1: label maps differ in size ({a / "img1.png"} is 2x2, {vis_name} is 2x2, '
                              f'{c / "img1.png"} is 3x1)')
