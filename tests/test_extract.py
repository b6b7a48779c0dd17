"""extract.py: members that would land outside the target are refused; nothing is left half-extracted."""
import hashlib
import io
import os
import re
import stat
import tarfile

import pytest

import extract
from utils.common.errors import UserError, run_cli
from utils.reproduce import safe_extract
from utils.reproduce.safe_extract import check_members, unsafe_reason

pytestmark = pytest.mark.usefixtures('time_limit')  # each test fails after 10 s instead of hanging


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
# A case's id spells a backslash out: pytest escapes it in the id, which then names no test on a command line.


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
    ([('./up', SYM, '..')], 'link pointing outside the target (..)'),  # names as `tar -C folder .` writes them
    ([('..\\evil', FILE, '')], 'path with ..'),
    ([('C:', FILE, '')], 'absolute path'),
    ([('dev/null', tarfile.CHRTYPE, '')], 'device file'),
    ([('dev/sda', tarfile.BLKTYPE, '')], 'device file'),
], ids=lambda value: value if isinstance(value, str) else '+'.join(m[0] for m in value).replace('\\', '(backslash)'))
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


def test_extract_returns_extracted_then_present(tmp_path):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    assert safe_extract.extract(archive, str(tmp_path / 'voc')) == 'extracted'
    assert safe_extract.extract(archive, str(tmp_path / 'voc')) == 'present'


def test_a_refused_member_is_one_line_naming_the_archive_the_member_and_the_reason(tmp_path):
    archive = make_archive(tmp_path / 'bad.tar.gz', ('VOCdevkit/escape', SYM, '../../outside'))
    with pytest.raises(UserError) as raised:
        safe_extract.extract(archive, str(tmp_path / 'voc'))
    assert str(raised.value) == (f"{tmp_path}/bad.tar.gz: refused member 'VOCdevkit/escape' (link pointing outside "
                                 f"the target (../../outside)); nothing extracted")


def test_a_missing_archive_is_refused(tmp_path):
    with pytest.raises(UserError) as raised:
        safe_extract.extract(str(tmp_path / 'missing.tar'), str(tmp_path / 'voc'))
    assert str(raised.value) == f'{tmp_path}/missing.tar: archive not found'


def test_an_md5_mismatch_names_both_md5s_in_lower_case(tmp_path):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    digest = hashlib.md5(open(archive, 'rb').read()).hexdigest()
    with pytest.raises(UserError) as raised:
        safe_extract.extract(archive, str(tmp_path / 'voc'), 'ABCDEF0123456789ABCDEF0123456789')
    assert str(raised.value) == (f'{archive}: MD5 {digest}, expected abcdef0123456789abcdef0123456789; '
                                 f'nothing extracted')


def test_members_are_written_into_a_hidden_folder_beside_the_target_then_renamed(tmp_path, monkeypatch):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    settings, beside = [], []

    def progress(members, **given):
        settings.append(given)
        for one in members:
            beside.append(os.listdir(tmp_path / 'data'))
            yield one

    monkeypatch.setattr(safe_extract, 'tqdm', progress)
    assert safe_extract.extract(archive, str(tmp_path / 'data' / 'voc')) == 'extracted'
    assert settings == [{'desc': 'ok.tar.gz', 'unit': 'file', 'disable': None}]
    assert len(beside) == 3 and all(names == beside[0] for names in beside)
    assert len(beside[0]) == 1 and re.fullmatch(r'\.voc\.extracting\.\w+', beside[0][0]), beside
    assert os.listdir(tmp_path / 'data') == ['voc']


def test_setuid_and_group_or_other_write_bits_are_dropped(tmp_path):
    archive = tmp_path / 'modes.tar'
    with tarfile.open(archive, 'w') as tar:
        info = tarfile.TarInfo('tool')
        info.size, info.mode = 2, 0o6777
        tar.addfile(info, io.BytesIO(b'#!'))
    safe_extract.extract(str(archive), str(tmp_path / 'out'))
    assert stat.S_IMODE(os.stat(tmp_path / 'out' / 'tool').st_mode) == 0o755


def test_one_letter_names_and_nested_names_are_safe_without_earlier_links():
    assert unsafe_reason(tarfile.TarInfo('a')) is None
    assert unsafe_reason(tarfile.TarInfo('a/b/c')) is None


def test_a_path_through_a_link_to_an_absolute_target_is_refused():
    reason = unsafe_reason(tarfile.TarInfo('a/passwd'), {'a': '/etc'})
    assert reason == 'path through links that leave the target or loop'


def chain(length):
    """A folder `d`, links l1 -> l2 -> ... -> l<length> -> d, and the file l1/x reached through all of them."""
    members = [tarfile.TarInfo('d')]
    members[0].type = tarfile.DIRTYPE
    for i in range(1, length + 1):
        link = tarfile.TarInfo(f'l{i}')
        link.type, link.linkname = SYM, f'l{i + 1}' if i < length else 'd'
        members.append(link)
    members.append(tarfile.TarInfo('l1/x'))
    return members


def test_a_path_through_forty_links_is_followed_as_the_kernel_does(tmp_path):
    check_members('chain.tar', chain(40))
    archive = tmp_path / 'chain.tar'
    with tarfile.open(archive, 'w') as tar:
        for one in chain(40):
            tar.addfile(one, io.BytesIO(b'') if one.isfile() else None)
    safe_extract.extract(str(archive), str(tmp_path / 'out'))
    assert os.path.isfile(tmp_path / 'out' / 'd' / 'x')


def test_a_path_through_forty_one_links_is_refused():
    with pytest.raises(UserError) as raised:
        check_members('chain.tar', chain(41))
    assert str(raised.value) == ("chain.tar: refused member 'l1/x' (path through links that leave the target or "
                                 "loop); nothing extracted")


def test_a_link_named_after_the_target_itself_is_not_followed(tmp_path):
    """tar cannot turn the target into a link, so a member `.` that is one leaves the paths beside it where they
    are, even when following it would take more links than a path may go through."""
    chained = [(f'l{i}', SYM, f'l{i + 1}' if i < 40 else 'd') for i in range(1, 41)]  # 40 links: followed
    archive = make_archive(tmp_path / 'dot.tar.gz', *chained, ('.', SYM, 'l1'), ('x', FILE, ''), ('./y', FILE, ''))
    assert run_cli(extract.main, ['--archive', archive, '--output_dir', str(tmp_path / 'voc')]) == 0
    assert (tmp_path / 'voc' / 'x').read_bytes() == b'x' and (tmp_path / 'voc' / 'y').read_bytes() == b'x'
    assert os.readlink(tmp_path / 'voc' / 'l40') == 'd'


def test_the_output_folder_gets_the_mode_of_any_folder_the_user_makes(tmp_path):
    archive = make_archive(tmp_path / 'ok.tar.gz')
    safe_extract.extract(archive, str(tmp_path / 'voc'))
    (tmp_path / 'made').mkdir()
    assert stat.S_IMODE(os.stat(tmp_path / 'voc').st_mode) == stat.S_IMODE(os.stat(tmp_path / 'made').st_mode)
