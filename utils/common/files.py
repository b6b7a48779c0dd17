"""File helpers shared by every script: list files, id matching, atomic writes, output skipping."""
import contextlib
import json
import os
import re
import tempfile

from utils.common.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)
_BYTES_WRAPPED = re.compile(r"^b'(.*)'$|^b\"(.*)\"$")
_TEMPORARY = re.compile(r'^\..+\.tmp(\.[^.]*)?$')  # atomic_path's names: .<base>.<random>.tmp<ext>


def image_id(entry):
    """Normalise a list entry or file name to a bare image id.

    `2007_000032`, `2007_000032.jpg`, `/JPEGImages/2007_000032.jpg` and the `b'2007_000032'.png`
    names that DeepLab's vis.py writes under Python 3 all give `2007_000032`.
    """
    name = os.path.basename(entry.strip())
    stem, ext = os.path.splitext(name)
    if ext.lower() in ('.jpg', '.jpeg', '.png', '.npz', '.npy', '.bmp'):
        name = stem
    match = _BYTES_WRAPPED.match(name)
    if match:
        name = match.group(1) if match.group(1) is not None else match.group(2)
    return name


def read_id_list(path):
    """Read a VOC-style list file: one entry per line, first token used, blank lines skipped."""
    if not os.path.isfile(path):
        raise UserError(f'{path}: list file not found')
    with open(path, encoding='utf-8') as handle:
        ids = [image_id(line.split()[0]) for line in handle if line.strip()]
    if not ids:
        raise UserError(f'{path}: list file is empty')
    return ids


def read_json_object(path, what):
    """The JSON object stored at `path`; unreadable, malformed or not an object is a UserError naming `what`."""
    try:
        with open(path, encoding='utf-8') as handle:
            value = json.load(handle)
    except (OSError, ValueError) as err:
        raise UserError(f'{path}: unreadable {what} ({err})') from None
    if not isinstance(value, dict):
        raise UserError(f'{path}: not a {what} (expected a JSON object)')
    return value


def require_dir(path, what='folder'):
    """Fail with one line when an input folder is missing."""
    if not os.path.isdir(path):
        raise UserError(f'{path}: {what} not found')
    return path


def find_file(folder, ident, extensions):
    """Return the path of `ident` with the first existing extension in `folder`, or None."""
    for ext in extensions:
        path = os.path.join(folder, ident + ext)
        if os.path.isfile(path):
            return path
    return None


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix=f'.tmp{ext}', dir=folder)  # see _TEMPORARY
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; results should get the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def is_temporary(name):
    """Whether a file name is one of atomic_path's temporaries: a write under way, or what a killed run left
    behind. Never a result, so the tools that list a folder skip it."""
    return bool(_TEMPORARY.match(os.path.basename(name)))


def pending(ids, output_for, overwrite):
    """The ids whose output does not exist yet (all of them with `overwrite`), for resumable batch tools."""
    if overwrite:
        return list(ids)
    return [i for i in ids if not os.path.exists(output_for(i))]


def list_ids(folder, extensions):
    """Sorted ids of the files in `folder` with one of `extensions` (temporaries left by a killed run skipped), for
    runs without a list file."""
    return sorted(image_id(name) for name in os.listdir(folder)
                  if name.endswith(tuple(extensions)) and not is_temporary(name))
