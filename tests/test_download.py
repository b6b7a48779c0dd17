"""download.py: checked, resumable HTTP downloads from a local server."""
import contextlib
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading

import pytest
from conftest import ROOT
from http_server import closed_port_url, serve
from tqdm import tqdm

import download
from utils.common.errors import UserError, run_cli
from utils.reproduce import download as downloads
from utils.reproduce.download import ChecksumMismatch, DownloadError, NetworkError, fetch, md5sum, read_checksums

MIB = 1 << 20


pytestmark = pytest.mark.usefixtures('time_limit')  # each test fails after 10 s instead of hanging


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
    assert raised.value.url == f'{url}/model.tar.gz' and str(raised.value).startswith(f'{url}/model.tar.gz: MD5 ')
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
    url = f'{closed_port_url()}/data.tar'
    with pytest.raises(NetworkError) as raised:
        fetch(url, str(tmp_path / 'data.tar'))
    assert str(raised.value) == f'{url}: cannot be reached ([Errno 111] Connection refused)'
    assert raised.value.url == url


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the server's next scripted answer; logs (path, range)."""

    def do_GET(self):
        self.server.log.append((self.path, self.headers.get('Range')))
        self.server.answers.pop(0)(self)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def scripted(*answers):
    """Yield (base URL, request log) of a local server giving `answers` to its requests in turn."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Scripted)
    server.answers, server.log, server.released = list(answers), [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', server.log
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


def reply(body, status=200, length=True, cut=None, stall=False):
    """An answer: `status`, a Content-Length unless `length` is False, the first `cut` bytes of `body` (all of
    it by default), then with `stall` silence (at most 2 s) before the connection closes."""
    def answer(handler):
        handler.send_response(status)
        if length:
            handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:cut])
        if stall:
            handler.server.released.wait(2)
    return answer


def silence(handler):
    """An answer that never comes (the connection closes after at most 2 s)."""
    handler.server.released.wait(2)


@pytest.fixture
def bars(monkeypatch):
    """The progress bars downloads open: `settings` as given and the byte counts of their `steps`."""
    opened = []

    class Recorded(tqdm):
        def __init__(self, **settings):
            super().__init__(**settings)
            self.settings, self.steps = settings, []
            opened.append(self)

        def update(self, n=1):
            assert n > 0, f'a progress step of {n} bytes'
            self.steps.append(n)
            return super().update(n)

    monkeypatch.setattr(downloads, 'tqdm', Recorded)
    return opened


def test_the_progress_bar_counts_the_whole_file_in_steps_of_at_most_one_mib(tmp_path, bars):
    data = os.urandom(2 * MIB + 5)
    (tmp_path / 'big.tar').write_bytes(data)
    with serve(tmp_path) as (url, log):
        assert fetch(f'{url}/big.tar', str(tmp_path / 'dl' / 'big.tar'), md5(tmp_path / 'big.tar')) == 'fetched'
    [bar] = bars
    assert bar.settings == {'total': 2 * MIB + 5, 'initial': 0, 'unit': 'B', 'unit_scale': True, 'desc': 'big.tar',
                            'disable': None}
    assert sum(bar.steps) == 2 * MIB + 5 and max(bar.steps) <= MIB and len(bar.steps) >= 3


def test_a_resumed_download_s_progress_bar_starts_at_the_bytes_already_there(served, tmp_path, bars):
    root, url, log = served
    data = (root / 'data.tar').read_bytes()
    (tmp_path / 'data.tar.part').write_bytes(data[:123_456])
    assert fetch(f'{url}/data.tar', str(tmp_path / 'data.tar'), md5(root / 'data.tar')) == 'fetched'
    [bar] = bars
    assert bar.settings['total'] == 200_000 and bar.settings['initial'] == 123_456
    assert sum(bar.steps) == 200_000 - 123_456


def test_a_server_ignoring_range_restarts_the_file_from_its_start(tmp_path, bars):
    data = os.urandom(50_000)
    out = tmp_path / 'data.tar'
    (tmp_path / 'data.tar.part').write_bytes(data[:1000])
    with scripted(reply(data)) as (url, log):
        assert fetch(f'{url}/data.tar', str(out), hashlib.md5(data).hexdigest()) == 'fetched'
    assert log == [('/data.tar', 'bytes=1000-')] and out.read_bytes() == data
    [bar] = bars
    assert bar.settings['total'] == 50_000 and bar.settings['initial'] == 0 and sum(bar.steps) == 50_000


def test_without_a_content_length_the_progress_bar_has_no_total(tmp_path, bars):
    data = os.urandom(50_000)
    with scripted(reply(data, length=False)) as (url, log):
        assert fetch(f'{url}/data.tar', str(tmp_path / 'data.tar'), hashlib.md5(data).hexdigest()) == 'fetched'
    [bar] = bars
    assert bar.settings['total'] is None and sum(bar.steps) == 50_000


def test_a_transfer_broken_off_keeps_what_arrived_and_the_next_run_asks_for_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads, 'TIMEOUT', 0.3)
    data = os.urandom(MIB + 1000)
    out = tmp_path / 'data.tar'
    with scripted(reply(data, cut=MIB + 10, stall=True), reply(data[MIB:], status=206)) as (url, log):
        with pytest.raises(NetworkError) as raised:
            fetch(f'{url}/data.tar', str(out), hashlib.md5(data).hexdigest())
        assert str(raised.value) == f'{url}/data.tar: transfer broken off (timed out); run again to resume'
        assert raised.value.url == f'{url}/data.tar'
        assert raised.value.reason == 'transfer broken off (timed out); run again to resume'
        assert (tmp_path / 'data.tar.part').read_bytes() == data[:MIB]
        assert fetch(f'{url}/data.tar', str(out), hashlib.md5(data).hexdigest()) == 'fetched'
    assert log == [('/data.tar', None), ('/data.tar', f'bytes={MIB}-')] and out.read_bytes() == data


def test_a_server_that_never_answers_is_a_network_error_after_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads, 'TIMEOUT', 0.3)
    with scripted(silence) as (url, log):
        with pytest.raises(NetworkError) as raised:
            fetch(f'{url}/data.tar', str(tmp_path / 'data.tar'))
    assert str(raised.value) == f'{url}/data.tar: cannot be reached (timed out)'
    assert os.listdir(tmp_path) == []


def test_a_transfer_cut_short_by_the_server_is_fetched_again_from_the_start(tmp_path, capsys):
    data = os.urandom(50_000)
    out = tmp_path / 'data.tar'
    digest = hashlib.md5(data).hexdigest()
    with scripted(reply(data, cut=20_000), reply(data)) as (url, log):
        assert fetch(f'{url}/data.tar', str(out), digest) == 'fetched'
    assert log == [('/data.tar', None), ('/data.tar', None)] and out.read_bytes() == data
    problem = f'MD5 {hashlib.md5(data[:20_000]).hexdigest()}, expected {digest}'
    assert capsys.readouterr().out == (f'{url}/data.tar: download is corrupt ({problem}); '
                                       f'fetching it again from the start\n')


def test_each_corrupt_download_is_reported_with_its_own_problem_and_the_second_is_an_error(tmp_path, capsys):
    out = tmp_path / 'data.tar'
    with scripted(reply(b'first'), reply(b'second')) as (url, log):
        with pytest.raises(DownloadError) as raised:
            fetch(f'{url}/data.tar', str(out), '0' * 32)
    assert len(log) == 2 and os.listdir(tmp_path) == []
    assert capsys.readouterr().out == (f'{url}/data.tar: download is corrupt (MD5 8b04d5e3775d298e78455efc5ca404d5, '
                                       f'expected {"0" * 32}); fetching it again from the start\n')
    assert str(raised.value) == (f'{url}/data.tar: download is corrupt twice (MD5 a9f0e61a137d86aa9db53465e0801612, '
                                 f'expected {"0" * 32}); nothing kept at {out}')
    assert raised.value.url == f'{url}/data.tar'


def test_an_archive_without_members_is_no_download(tmp_path, capsys):
    with tarfile.open(tmp_path / 'empty.tar', 'w'):
        pass
    out = tmp_path / 'dl' / 'empty.tar'
    with serve(tmp_path) as (url, log):
        with pytest.raises(DownloadError) as raised:
            fetch(f'{url}/empty.tar', str(out))
    assert str(raised.value) == f'{url}/empty.tar: download is corrupt twice (archive is empty); nothing kept at {out}'
    assert capsys.readouterr().out == (f'{url}/empty.tar: download is corrupt (archive is empty); fetching it again '
                                       f'from the start\n')


def test_md5sum_reads_files_of_any_size_to_their_end(tmp_path):
    (tmp_path / 'empty').write_bytes(b'')
    (tmp_path / 'big').write_bytes(b'a' * (MIB + 1))
    assert md5sum(tmp_path / 'empty') == 'd41d8cd98f00b204e9800998ecf8427e'
    assert md5sum(tmp_path / 'big') == hashlib.md5(b'a' * (MIB + 1)).hexdigest()


def test_checksum_lists_give_lower_case_md5s_by_file_name_text_or_binary_mode(tmp_path):
    path = tmp_path / 'MD5SUMS'
    path.write_text('6CD6E144F989B92B3379BAC3B3DE84FD  VOCtrainval_11-May-2012.tar\n\n'
                    '82b4d87ceb2ed10f6038a1cba92111cb *downloads/benchmark.tgz\n'
                    '0123456789abcdef0123456789abcdef *Xception_65.tar.gz\n', encoding='utf-8')
    assert read_checksums(str(path)) == {'VOCtrainval_11-May-2012.tar': '6cd6e144f989b92b3379bac3b3de84fd',
                                         'benchmark.tgz': '82b4d87ceb2ed10f6038a1cba92111cb',
                                         'Xception_65.tar.gz': '0123456789abcdef0123456789abcdef'}


def test_a_checksum_list_is_read_as_utf8_whatever_the_locale(tmp_path):
    path = tmp_path / 'MD5SUMS'
    path.write_text('0123456789abcdef0123456789abcdef  donn\u00e9es.tar\n', encoding='utf-8')
    code = f'from utils.reproduce.download import read_checksums; print(ascii(read_checksums({str(path)!r})))'
    env = dict(os.environ, LC_ALL='C', PYTHONUTF8='0', PYTHONIOENCODING='ascii')
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.stdout == "{'donn\\xe9es.tar': '0123456789abcdef0123456789abcdef'}\n", done.stderr


def test_a_checksum_list_with_a_line_of_another_form_is_refused_naming_the_first(tmp_path):
    path = tmp_path / 'MD5SUMS'
    path.write_text(f'abc  file.tar\n{"0" * 32} two words.tar\n', encoding='utf-8')
    with pytest.raises(UserError) as raised:
        read_checksums(str(path))
    assert str(raised.value) == f"{path}: not an md5sum list (line 'abc file.tar')"
    path.write_text('0123456789abcdef0123456789abcdef two words.tar\n', encoding='utf-8')
    with pytest.raises(UserError) as raised:
        read_checksums(str(path))
    assert str(raised.value) == f"{path}: not an md5sum list (line '0123456789abcdef0123456789abcdef two words.tar')"


def test_a_missing_checksum_list_is_refused_with_the_reason(tmp_path):
    with pytest.raises(UserError) as raised:
        read_checksums(str(tmp_path / 'MD5SUMS'))
    assert str(raised.value) == f'{tmp_path}/MD5SUMS: unreadable checksum list (No such file or directory)'
