"""Safe archive extraction: members that would land outside the target are refused before anything is written,
and the archive is unpacked into a temporary folder that is renamed into place only when complete."""
import glob
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib

from tqdm import tqdm

from utils.common.errors import UserError
from utils.common.files import UMASK
from utils.reproduce.download import md5sum

MAX_LINK_DEPTH = 40  # links followed within one path, as the kernel's own limit


def _follow(path, links, depth=0):
    """Where `path` (relative to the target) lands once the archive's earlier symlinks along it are followed, as
    a normalised path under the target ('.' for the target itself); None when it leaves the target or loops."""
    current = '.'
    for part in path.split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            if current == '.':
                return None
            current = posixpath.dirname(current) or '.'
            continue
        current = posixpath.normpath(posixpath.join(current, part))
        if current in links:
            if depth >= MAX_LINK_DEPTH or links[current].startswith('/'):
                return None
            current = _follow(posixpath.join(posixpath.dirname(current), links[current]), links, depth + 1)
            if current is None:
                return None
    return current


def unsafe_reason(member, links=None):
    """Why a tar member could write outside the target folder, or None when it is safe. `links` maps where the
    archive's earlier symlinks land to their targets, so a chain of links in the target is followed."""
    links = {} if links is None else links
    name = member.name
    if name.startswith('/') or (len(name) > 1 and name[1] == ':'):
        return 'absolute path'
    if '..' in name.replace('\\', '/').split('/'):
        return 'path with ..'
    if _follow(posixpath.dirname(name), links) is None:
        return 'path through links that leave the target or loop'
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith('/'):
            return f'link to the absolute path {target}'
        base = posixpath.dirname(name) if member.issym() else ''
        if _follow(posixpath.join(base, target), links) is None:
            return f'link pointing outside the target ({target})'
    if member.isdev():
        return 'device file'
    return None


def check_members(archive, members):
    """UserError naming the first member that could write outside the target, symlinks followed in order."""
    links = {}
    for member in members:
        reason = unsafe_reason(member, links)
        if reason:
            raise UserError(f'{archive}: refused member {member.name!r} ({reason}); nothing extracted')
        if member.issym():
            parent = _follow(posixpath.dirname(member.name), links)
            links[posixpath.normpath(posixpath.join(parent, posixpath.basename(member.name)))] = member.linkname


def extract(archive, output_dir, md5=None):
    """Unpack `archive` (any tar compression, checked against `md5` when given) so that `output_dir` holds its
    members; returns 'present' when `output_dir` already exists (a finished extraction, since it only appears by
    rename) or 'extracted'."""
    if os.path.isdir(output_dir):
        return 'present'
    if not os.path.isfile(archive):
        raise UserError(f'{archive}: archive not found')
    actual = md5sum(archive) if md5 is not None else None
    if actual is not None and actual != md5.lower():
        raise UserError(f'{archive}: MD5 {actual}, expected {md5.lower()}; nothing extracted')
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    prefix = f'.{os.path.basename(output_dir)}.extracting.'
    for leftover in glob.glob(os.path.join(glob.escape(parent), glob.escape(prefix) + '*')):
        shutil.rmtree(leftover)  # a killed earlier extraction's temporary folder
    staging = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        os.chmod(staging, 0o777 & ~UMASK)  # mkdtemp makes an owner-only folder; the target gets the usual mode
        with tarfile.open(archive, 'r:*') as tar:
            members = tar.getmembers()
            check_members(archive, members)
            for member in tqdm(members, desc=os.path.basename(archive), unit='file', disable=None):
                tar.extract(member, staging, filter='tar')
        os.replace(staging, output_dir)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise UserError(f'{archive}: unreadable archive ({err.__class__.__name__}: {err})') from None
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    return 'extracted'
