"""extract.py: members that would land outside the target are refused; nothing is left half-extracted."""
import hashlib
import io
import os
import tarfile

import pytest

import extract
from utils.common.errors import run_cli


def member(tar, name, data=b'x', kind=tarfile.REGTYPE, link=''):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_archive(path, *bad):
    """A .tar.gz with two good files and a link inside, then the `bad` members (name, kind, link) if any."""
    with tarfile.open(path, 'w:gz') as tar:
        member(tar, 'VOCdevkit/VOC2012/a.txt', b'a')
        member(tar, 'VOCdevkit/VOC2012/sub/b.txt', b'b')
        member(tar, 'VOCdevkit/VOC2012/link_inside', kind=tarfile.SYMTYPE, link='a.txt')
        for name, kind, link in bad:
            member(tar, name, kind=kind, link=link)
    return str(path)


def test_extracts_the_members_into_the_output_folder(tmp_path):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    out = tmp_path / 'data' / 'voc'
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(out)]) == 0
    assert (out / 'VOCdevkit/VOC2012/sub/b.txt').read_bytes() == b'b'
    assert os.readlink(out / 'VOCdevkit/VOC2012/link_inside') == 'a.txt'
    assert os.listdir(tmp_path / 'data') == ['voc']


def test_md5_is_checked_before_anything_is_extracted(tmp_path, capsys):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    out = tmp_path / 'out' / 'voc'
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(out), '--md5', '0' * 32]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f'{archive}: MD5 ' in err and f'expected {"0" * 32}; nothing extracted' in err
    assert not (tmp_path / 'out').exists()
    digest = hashlib.md5(open(archive, 'rb').read()).hexdigest()
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(out), '--md5', digest.upper()]) == 0
    assert (out / 'VOCdevkit/VOC2012/a.txt').read_bytes() == b'a'


def test_an_existing_output_folder_is_a_finished_extraction(tmp_path, capsys):
    out = tmp_path / 'voc'
    out.mkdir()
    assert run_cli(extract.main, ['--archive', str(tmp_path / 'missing.tar'), '--output_dir', str(out)]) == 0
    assert 'already extracted' in capsys.readouterr().out


SYM, FILE = tarfile.SYMTYPE, tarfile.REGTYPE


@pytest.mark.parametrize('bad, reason', [  # the last member is the one refused
    ([('../../etc/evil', FILE, '')], 'path with ..'),
    ([('VOCdevkit/../../evil', FILE, '')], 'path with ..'),
    ([('/tmp/evil', FILE, '')], 'absolute path'),
    ([('VOCdevkit/escape', SYM, '../../outside')], 'link pointing outside'),
    ([('VOCdevkit/abs_link', SYM, '/etc/passwd')], 'link to the absolute path'),
    ([('VOCdevkit/hard', tarfile.LNKTYPE, '../x')], 'link pointing outside'),
    ([('up', SYM, '..')], 'link pointing outside the target (..)'),
    # chains that stay inside when each link is read alone: a/l is the target itself, so a/l/m -> ../.. leaves it
    ([('a/l', SYM, '..'), ('a/l/m', SYM, '../..')], 'link pointing outside the target (../..)'),
    ([('a/l', SYM, '..'), ('a/l/m', SYM, '..')], 'link pointing outside the target (..)'),
    ([('a/l', SYM, '.'), ('a/l/l/up', SYM, '../..')], 'link pointing outside the target (../..)'),
    ([('loop', SYM, 'loop'), ('loop/x', FILE, '')], 'path through links that leave the target or loop'),
], ids=lambda value: value if isinstance(value, str) else '+'.join(m[0] for m in value))
def test_members_escaping_the_target_are_refused_naming_them(tmp_path, capsys, bad, reason):
    archive = make_archive(tmp_path / 'bad.tar.gz', *bad)
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(tmp_path / 'out' / 'voc')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f'refused member {bad[-1][0]!r} ({reason}' in err, err
    assert os.listdir(tmp_path / 'out') == []  # nothing extracted, no staging folder left


def test_a_truncated_archive_leaves_nothing(tmp_path, capsys):
    archive = tmp_path / 'cut.tar.gz'
    big = tmp_path / 'big.tar.gz'
    with tarfile.open(big, 'w:gz') as tar:
        member(tar, 'data.bin', os.urandom(200_000))
    archive.write_bytes(big.read_bytes()[:50_000])
    assert run_cli(extract.main, ['--archive', str(archive), '--output_dir', str(tmp_path / 'out' / 'x')]) == 2
    assert 'unreadable archive' in capsys.readouterr().err
    assert os.listdir(tmp_path / 'out') == []


def test_a_killed_extraction_leaves_nothing_that_stays(tmp_path):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    (tmp_path / 'data' / '.voc.extracting.abc123' / 'half').mkdir(parents=True)  # as a SIGKILL would leave it
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(tmp_path / 'data' / 'voc')]) == 0
    assert os.listdir(tmp_path / 'data') == ['voc']
