"""The PASCAL evaluation-server tarball: layout, palette PNGs, and refusals."""
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import make_submission
from utils.common.errors import UserError, run_cli
from utils.data.voc import PALETTE, save_label
from utils.postprocess import submission

FOLDER = 'results/VOC2012/Segmentation/comp6_test_cls'


@pytest.fixture
def results(tmp_path):
    """Two results, a list of them, and a test image folder of their sizes (2x2 and 3x1)."""
    folder, images = tmp_path / 'results', tmp_path / 'images'
    folder.mkdir(), images.mkdir()
    save_label(str(folder / '2008_000001.png'), np.array([[0, 15], [20, 0]], np.uint8))
    Image.fromarray(np.array([[1, 2, 3]], np.uint8), mode='L').save(folder / "b'2008_000002'.png")
    Image.new('RGB', (2, 2)).save(images / '2008_000001.jpg')
    Image.new('RGB', (3, 1)).save(images / '2008_000002.jpg')
    (tmp_path / 'test.txt').write_text('2008_000001\n2008_000002\n')
    return folder, tmp_path / 'test.txt'


def run(argv, capsys, images=True):
    """make_submission.py's exit code, stdout and stderr; the fixture's test images are given unless not `images`."""
    if images:
        argv = [*argv, '--image_data_dir', str(Path(argv[argv.index('--output') + 1]).parent / 'images')]
    code = run_cli(make_submission.main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_results_of_their_test_images_size_are_packed_as_palette_pngs(results, tmp_path, capsys):
    folder, listing = results
    out = tmp_path / 'sub.tar.gz'
    code, stdout, _ = run(['--results_dir', str(folder), '--output', str(out), '--image_list', str(listing),
                           '--num_workers', '1'], capsys)
    assert code == 0 and '2 results packed' in stdout
    with tarfile.open(out) as tar:
        assert tar.getnames() == [f'{FOLDER}/2008_000001.png', f'{FOLDER}/2008_000002.png']
        with Image.open(io.BytesIO(tar.extractfile(f'{FOLDER}/2008_000002.png').read())) as img:
            assert img.mode == 'P'
            assert np.asarray(img).tolist() == [[1, 2, 3]]
            assert img.getpalette()[3:6] == PALETTE[1].tolist()


def test_comp5_folder(results, tmp_path, capsys):
    folder, _ = results
    out = tmp_path / 'sub.tar.gz'
    assert run(['--results_dir', str(folder), '--output', str(out), '--comp', 'comp5'], capsys)[0] == 0
    with tarfile.open(out) as tar:
        assert all(n.startswith('results/VOC2012/Segmentation/comp5_test_cls/') for n in tar.getnames())


def test_refuses_when_a_listed_image_has_no_result(results, tmp_path, capsys):
    folder, listing = results
    listing.write_text('2008_000001\n2008_000002\n2008_000003\n')
    Image.new('RGB', (1, 1)).save(tmp_path / 'images' / '2008_000003.jpg')
    out = tmp_path / 'sub.tar.gz'
    code, _, err = run(['--results_dir', str(folder), '--output', str(out), '--image_list', str(listing)], capsys)
    assert code == 2 and err == f'error: {folder}: 1 missing files (2008_000003)'
    assert not out.exists()


@pytest.mark.parametrize('value', [21, 255])
def test_refuses_values_outside_class_ids(results, tmp_path, capsys, value):
    folder, _ = results
    save_label(str(folder / '2008_000001.png'), np.array([[0, value]], np.uint8))
    out = tmp_path / 'sub.tar.gz'
    code, _, err = run(['--results_dir', str(folder), '--output', str(out), '--num_workers', '1'], capsys)
    assert code == 2 and str(folder / '2008_000001.png') in err and f'[{value}]' in err
    assert not out.exists() and not list(tmp_path.glob('.sub*'))


def test_refuses_a_result_of_the_wrong_size(results, tmp_path, capsys):
    folder, _ = results
    Image.new('RGB', (4, 1)).save(tmp_path / 'images' / '2008_000002.jpg')
    code, _, err = run(['--results_dir', str(folder), '--output', str(tmp_path / 's.tar.gz'), '--num_workers', '1'],
                       capsys)
    assert code == 2 and "b'2008_000002'.png: result is 3x1" in err and '4x1' in err
    assert not (tmp_path / 's.tar.gz').exists()


def test_refuses_to_pack_without_the_test_images_as_sizes_cannot_be_checked(results, tmp_path, capsys):
    folder, listing = results
    for ident in ('2008_000001', '2008_000002'):
        save_label(str(folder / f'{ident}.png'), np.zeros((10, 10), np.uint8))  # the test images are 2x2 and 3x1
    (folder / "b'2008_000002'.png").unlink()
    out = tmp_path / 'sub.tar.gz'
    code, _, err = run(['--results_dir', str(folder), '--output', str(out), '--image_list', str(listing)], capsys,
                       images=False)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f'error: {folder}: ') and 'cannot check' in err and '--image_data_dir' in err
    assert not out.exists() and not list(tmp_path.glob('.sub*'))


def test_refuses_a_missing_results_folder(tmp_path, capsys):
    code, _, err = run(['--results_dir', str(tmp_path / 'none'), '--output', str(tmp_path / 's.tar.gz')], capsys)
    assert code == 2 and err == f'error: {tmp_path / "none"}: result folder not found'


def test_a_result_of_another_size_than_its_image_is_refused(tmp_path):
    (tmp_path / 'images').mkdir()
    Image.new('RGB', (7, 5)).save(tmp_path / 'images' / '2008_000001.jpg')
    save_label(str(tmp_path / 'results' / '2008_000001.png'), np.zeros((5, 6), np.uint8))
    with pytest.raises(UserError, match='result is 6x5 but image .*2008_000001.jpg is 7x5'):
        submission.make_submission(str(tmp_path / 'results'), str(tmp_path / 'out.tar.gz'),
                        image_dir=str(tmp_path / 'images'), num_workers=1)
    assert not (tmp_path / 'out.tar.gz').exists()


def test_a_result_with_many_bad_values_names_the_first_five_and_the_class_range(tmp_path):
    (tmp_path / 'images').mkdir()
    Image.new('RGB', (8, 1)).save(tmp_path / 'images' / '2008_000001.jpg')
    result = tmp_path / 'results' / '2008_000001.png'
    save_label(str(result), np.array([[0, 20, 21, 22, 23, 24, 25, 255]], np.uint8))
    with pytest.raises(UserError) as err:
        submission.make_submission(str(tmp_path / 'results'), str(tmp_path / 'out.tar.gz'),
                                   image_dir=str(tmp_path / 'images'), num_workers=1)
    assert str(err.value) == (f'{result}: values [21, 22, 23, 24, 25] outside 0..20 '
                              '(the server accepts class ids only)')


def test_refuses_another_competition_and_a_missing_image_folder_in_one_line(results, tmp_path):
    folder, _ = results
    with pytest.raises(UserError) as err:
        submission.make_submission(str(folder), str(tmp_path / 'out.tar.gz'), str(tmp_path / 'images'), comp='comp7')
    assert str(err.value) == "competition must be one of comp5, comp6, not 'comp7'"
    with pytest.raises(UserError) as err:
        submission.make_submission(str(folder), str(tmp_path / 'out.tar.gz'), str(tmp_path / 'none'))
    assert str(err.value) == f'{tmp_path / "none"}: test image folder not found'


def test_packed_results_are_readable_by_everyone(results, tmp_path):
    folder, _ = results
    submission.make_submission(str(folder), str(tmp_path / 'out.tar.gz'), str(tmp_path / 'images'), num_workers=1)
    with tarfile.open(tmp_path / 'out.tar.gz') as tar:
        assert [member.mode for member in tar.getmembers()] == [0o644, 0o644]
