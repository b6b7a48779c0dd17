"""Resumable HTTP downloads: Range requests onto a .part file, a progress bar, and a check before the rename.

A file is checked by its published MD5 when there is one, else by its content (the archive opens and every
member header reads). A present file is checked, not fetched again; a file that fails the check is fetched
again once from scratch, unless it is a whole, readable archive whose MD5 differs: fetching it again would
give the same bytes, so it is kept as OUTPUT.part for a decision.
"""
import hashlib
import os
import socket
import tarfile
import urllib.error
import urllib.request
import zlib

from tqdm import tqdm

from utils.common.errors import UserError

CHUNK = 1 << 20
TIMEOUT = 60


class DownloadError(UserError):
    """A file that could not be fetched and checked: its URL and why."""

    def __init__(self, url, reason):
        super().__init__(f'{url}: {reason}')
        self.url, self.reason = url, reason


class NetworkError(DownloadError):
    """The server could not be reached or does not have the file: it has to be fetched by hand."""


class ChecksumMismatch(DownloadError):
    """A whole, readable archive with another MD5 than expected (a mirror's own build): kept as `part`."""

    def __init__(self, url, reason, part):
        super().__init__(url, reason)
        self.part = part


def read_checksums(path):
    """{file name: MD5} from an md5sum-style list (`<md5>  <file name>` per line)."""
    try:
        with open(path, encoding='utf-8') as handle:
            rows = [line.split() for line in handle if line.strip()]
    except OSError as err:
        raise UserError(f'{path}: unreadable checksum list ({err.strerror})') from None
    bad = [' '.join(row) for row in rows if len(row) != 2 or len(row[0]) != 32]
    if bad:
        raise UserError(f'{path}: not an md5sum list (line {bad[0]!r})')
    return {os.path.basename(name.lstrip('*')): md5.lower() for md5, name in rows}


def md5sum(path):
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def archive_problem(path):
    """None when `path` is a readable tar archive (any compression) to its end, else what is wrong. Reading the
    compressed stream to its end makes gzip, bzip2 and xz check their CRC of the whole content."""
    try:
        with tarfile.open(path, 'r:*') as tar:
            if not tar.getmembers():
                return 'archive is empty'
            while tar.fileobj.read(CHUNK):
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        return f'not a readable archive ({err.__class__.__name__}: {err})'
    return None


def file_problem(path, md5=None):
    """None when `path` passes its check (published MD5, else the archive reads), else what is wrong."""
    if md5 is not None:
        actual = md5sum(path)
        return None if actual == md5 else f'MD5 {actual}, expected {md5}'
    return archive_problem(path)


def _request(url, start):
    """Open `url`, asking for bytes from `start` on; NetworkError when the server cannot be reached."""
    request = urllib.request.Request(url, headers={'Range': f'bytes={start}-'} if start else {})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 416:  # the .part already holds everything
            return None
        raise NetworkError(url, f'HTTP {err.code} {err.reason}') from None
    except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
        raise NetworkError(url, f'cannot be reached ({getattr(err, "reason", err)})') from None


def _transfer(url, part):
    """Append the rest of `url` to `part`: resumes with a Range request, restarts when the server ignores it."""
    start = os.path.getsize(part) if os.path.exists(part) else 0
    response = _request(url, start)
    if response is None:
        return
    with response:
        resumed = start and response.status == 206
        length = response.headers.get('Content-Length')
        total = (int(length) + (start if resumed else 0)) if length else None
        with open(part, 'ab' if resumed else 'wb') as handle, tqdm(
                total=total, initial=start if resumed else 0, unit='B', unit_scale=True,
                desc=os.path.basename(url), disable=None) as bar:
            try:
                for block in iter(lambda: response.read(CHUNK), b''):
                    handle.write(block)
                    bar.update(len(block))
            except (socket.timeout, ConnectionError) as err:
                raise NetworkError(url, f'transfer broken off ({err}); run again to resume') from None


def fetch(url, output, md5=None):
    """Make `output` a checked copy of `url`; returns 'present' (already there and checked) or 'fetched'.

    A present file that fails its check is removed and fetched again; a fresh download that fails it is
    fetched once more from scratch, then it is an error. A fresh download that reads to its end but has another
    MD5 is not fetched again (ChecksumMismatch, kept as OUTPUT.part: a run with its MD5 accepts it untransferred).
    """
    if os.path.isfile(output):
        problem = file_problem(output, md5)
        if problem is None:
            return 'present'
        tqdm.write(f'{output}: {problem}; fetching it again')
        os.remove(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    part = output + '.part'
    for attempt in range(2):
        _transfer(url, part)
        problem = file_problem(part, md5)
        if problem is None:
            os.replace(part, output)
            return 'fetched'
        if md5 is not None and archive_problem(part) is None:
            raise ChecksumMismatch(url, f'{problem}, yet the archive is whole and reads to its end (the server\'s '
                                        f'own build?); kept as {part}, not fetched again', part)
        os.remove(part)
        if attempt == 0:
            tqdm.write(f'{url}: download is corrupt ({problem}); fetching it again from the start')
    raise DownloadError(url, f'download is corrupt twice ({problem}); nothing kept at {output}')
