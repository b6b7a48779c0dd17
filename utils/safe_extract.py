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

from utils.errors import UserError


def unsafe_reason(member):
    """Why a tar member could write outside the target folder, or None when it is safe."""
    name = member.name
    if name.startswith('/') or (len(name) > 1 and name[1] == ':'):
        return 'absolute path'
    if '..' in name.replace('\\', '/').split('/'):
        return 'path with ..'
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith('/'):
            return f'link to the absolute path {target}'
        base = posixpath.dirname(name) if member.issym() else ''
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == '..' or resolved.startswith('../'):
            return f'link pointing outside the target ({target})'
    if member.isdev():
        return 'device file'
    return None


def check_members(archive, members):
    """UserError naming the first member that could write outside the target."""
    for member in members:
        reason = unsafe_reason(member)
        if reason:
            raise UserError(f'{archive}: refused member {member.name!r} ({reason}); nothing extracted')


def extract(archive, output_dir):
    """Unpack `archive` (any tar compression) so that `output_dir` holds its members; returns 'present' when
    `output_dir` already exists (a finished extraction, since it only appears by rename) or 'extracted'."""
    if os.path.isdir(output_dir):
        return 'present'
    if not os.path.isfile(archive):
        raise UserError(f'{archive}: archive not found')
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    prefix = f'.{os.path.basename(output_dir)}.extracting.'
    for leftover in glob.glob(os.path.join(glob.escape(parent), glob.escape(prefix) + '*')):
        shutil.rmtree(leftover)  # a killed earlier extraction's temporary folder
    staging = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
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
