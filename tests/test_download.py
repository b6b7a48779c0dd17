"""download.py: checked, resumable HTTP downloads from a local server."""
import hashlib
import io
import os
import tarfile

import pytest
from http_server import closed_port_url, serve

import download
from utils.common.errors import run_cli
from utils.reproduce.download import ChecksumMismatch, NetworkError, fetch


def write_tar(path, files):
    """A .tar.gz holding {name: bytes}."""
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def served(tmp_path):
    root = tmp_path / 'server'
    root.mkdir()
    write_tar(root / 'model.tar.gz', {'model/weights.bin': os.urandom(300_000)})
    (root / 'data.tar').write_bytes(os.urandom(200_000))
    with serve(root) as (url, log):
        yield root, url, log


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fetches_and_checks_the_published_md5(served, tmp_path):
    root, url, log = served
    out = tmp_path / 'dl' / 'data.tar'
    argv = ['--url', f'{url}/data.tar', '--output', str(out), '--md5', md5(root / 'data.tar')]
    assert run_cli(download.main, argv) == 0
    assert out.read_bytes() == (root / 'data.tar').read_bytes()
    assert not os.path.exists(str(out) + '.part')


def test_a_present_file_is_checked_not_fetched_again(served, tmp_path):
    root, url, log = served
    out = tmp_path / 'model.tar.gz'
    assert fetch(f'{url}/model.tar.gz', str(out)) == 'fetched'
    assert fetch(f'{url}/model.tar.gz', str(out)) == 'present'
    assert len(log) == 1


def test_a_corrupted_download_is_detected_and_fetched_again(served, tmp_path):
    root, url, log = served
    out = tmp_path / 'model.tar.gz'
    data = (root / 'model.tar.gz').read_bytes()
    out.write_bytes(data[:1000] + b'x' * 5000 + data[6000:])  # content check: the archive no longer reads
    assert fetch(f'{url}/model.tar.gz', str(out)) == 'fetched'
    assert out.read_bytes() == data
    wrong = tmp_path / 'data.tar'
    wrong.write_bytes(b'not it')  # MD5 check
    assert fetch(f'{url}/data.tar', str(wrong), md5(root / 'data.tar')) == 'fetched'
    assert wrong.read_bytes() == (root / 'data.tar').read_bytes()


def test_a_present_readable_archive_with_another_md5_is_fetched_again(served, tmp_path):
    """The MD5 decides, not only whether the archive reads: a whole archive of other bytes is replaced."""
    root, url, log = served
    out = tmp_path / 'model.tar.gz'
    write_tar(out, {'model/weights.bin': b'an older build'})
    assert fetch(f'{url}/model.tar.gz', str(out), md5(root / 'model.tar.gz')) == 'fetched'
    assert out.read_bytes() == (root / 'model.tar.gz').read_bytes() and len(log) == 1
    assert fetch(f'{url}/model.tar.gz', str(out), md5(root / 'model.tar.gz')) == 'present' and len(log) == 1


def test_a_whole_archive_with_another_md5_is_kept_and_not_fetched_twice(served, tmp_path):
    root, url, log = served
    out = tmp_path / 'model.tar.gz'
    with pytest.raises(ChecksumMismatch, match='reads to its end') as raised:
        fetch(f'{url}/model.tar.gz', str(out), '0' * 32)
    assert log == [('/model.tar.gz', None)] and not out.exists()
    assert raised.value.part == f'{out}.part' and f'kept as {out}.part' in str(raised.value)
    assert fetch(f'{url}/model.tar.gz', str(out), md5(root / 'model.tar.gz')) == 'fetched'  # its MD5 given now
    assert out.read_bytes() == (root / 'model.tar.gz').read_bytes()
    size = (root / 'model.tar.gz').stat().st_size
    assert log[1:] == [('/model.tar.gz', f'bytes={size}-')]  # asked for the rest only: nothing transferred again


def test_a_missing_file_is_a_network_error_with_its_reason(served, tmp_path):
    root, url, log = served
    with pytest.raises(NetworkError) as raised:
        fetch(f'{url}/absent.tar', str(tmp_path / 'absent.tar'))
    assert raised.value.url == f'{url}/absent.tar' and raised.value.reason == 'HTTP 404 Not Found'


def test_a_broken_off_transfer_resumes_with_a_range_request(served, tmp_path):
    root, url, log = served
    out = tmp_path / 'data.tar'
    data = (root / 'data.tar').read_bytes()
    (tmp_path / 'data.tar.part').write_bytes(data[:123_456])
    assert fetch(f'{url}/data.tar', str(out), md5(root / 'data.tar')) == 'fetched'
    assert out.read_bytes() == data
    assert log == [('/data.tar', 'bytes=123456-')]


def test_a_download_corrupt_twice_is_an_error_keeping_nothing(served, tmp_path, capsys):
    root, url, log = served
    out = tmp_path / 'data.tar'
    assert run_cli(download.main, ['--url', f'{url}/data.tar', '--output', str(out), '--md5', '0' * 32]) == 2
    assert 'corrupt twice' in capsys.readouterr().err
    assert os.listdir(tmp_path) == ['server']


def test_an_unreachable_server_is_a_network_error(tmp_path):
    with pytest.raises(NetworkError, match='cannot be reached'):
        fetch(f'{closed_port_url()}/data.tar', str(tmp_path / 'data.tar'))
