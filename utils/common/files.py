"""File helpers shared by every script: list files, id matching, atomic writes, output skipping and the record of
the settings that made an output folder's results."""
import contextlib
import json
import os
import re
import sys
import tempfile

from utils.common.errors import UserError

UMASK = os.umask(0)
os.umask(UMASK)
_BYTES_WRAPPED = re.compile(r"^b'(.*)'$|^b\"(.*)\"$")
_TEMPORARY = re.compile(r'^\..+\.tmp(\.[^.]*)?$')  # atomic_path's names: .<base>.<random>.tmp<ext>
SETTINGS_RECORD = '.settings.json'  # hidden in an output folder: the settings its results were made with


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
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes owner-only files; results should get the usual mode
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


def is_bookkeeping(name):
    """Whether a file name is the tools' own and never a result: a temporary (is_temporary) or a settings record (its
    .json never matches the listings' result extensions)."""
    return is_temporary(name) or os.path.basename(name) == SETTINGS_RECORD


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


def _holds_results(folder):
    """Whether anything but the tools' bookkeeping is in `folder` or below it."""
    return any(not is_bookkeeping(name) for _, _, names in os.walk(folder) for name in names)


def _shown(value):
    """A setting as the refusal shows it: strings bare, None as '(none)', the rest as JSON."""
    if value is None:
        return '(none)'
    return value if isinstance(value, str) else json.dumps(value)


def _changes(old, new):
    """'name old -> new' for every setting that differs, '; '-separated (a missing one shown as '(none)')."""
    names = [*new, *(name for name in old if name not in new)]
    return '; '.join(f'{name} {_shown(old.get(name))} -> {_shown(new.get(name))}'
                     for name in names if old.get(name) != new.get(name))


def _write_json(path, value):
    """Write `value` as JSON to `path`, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(value, handle, indent=1)


def _read_record(path, overwrite):
    """The settings record at `path`, or None: absent, or unreadable when `overwrite` replaces it anyway."""
    if not os.path.isfile(path):
        return None
    try:
        return read_json_object(path, 'settings record')
    except UserError:
        if overwrite:
            return None
        raise


def _settings_of(recorded):
    """The settings a record holds ({} for a record that holds none)."""
    settings = recorded.get('settings')
    return settings if isinstance(settings, dict) else {}


def _missing_folders(folder):
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing, folder = [], os.path.abspath(folder)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _bytes_of(path):
    """The content of `path`, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, 'rb') as handle:
        return handle.read()


@contextlib.contextmanager
def resume_settings(folder, settings, overwrite):
    """Refuse (UserError naming the changes) to resume into `folder`'s results of other `settings` (only what decides
    the outputs) unless `overwrite`; yields the function that records them there, to call before the first output."""
    settings = json.loads(json.dumps(settings))  # as the record reads back: tuples as lists
    path = os.path.join(folder, SETTINGS_RECORD)
    recorded = _read_record(path, overwrite)
    held = _holds_results(folder)
    same = recorded is not None and recorded.get('settings') == settings
    if held and not overwrite:
        if recorded is None:  # an older version's folder: resumed as before, but not silently
            print(f'note: {folder}: holds results without a record of their settings (made by an older version): '
                  'kept and taken as made with these settings', file=sys.stderr)
        elif not same:
            raise UserError(f'{folder}: holds results made with other settings ('
                            f'{_changes(_settings_of(recorded), settings)}); pass --overwrite to redo them all '
                            'with these, or choose another output folder')
        elif recorded.get('unfinished_overwrite'):
            raise UserError(f'{folder}: an --overwrite run with these settings did not finish, so results of the '
                            'earlier settings may remain; pass --overwrite to redo them all')
    marked = same and bool(recorded.get('unfinished_overwrite'))
    # over results of other (or unknown) settings, an --overwrite run is recorded as unfinished until it ends
    unfinished = overwrite and held and (marked or not same)
    before, made = _bytes_of(path), _missing_folders(folder)
    written = []

    def record():
        if not written and (marked or not same):
            _write_json(path, dict(settings=settings, **({'unfinished_overwrite': True} if unfinished else {})))
            written.append(path)
    try:
        yield record
    except BaseException:
        if written and not _holds_results(folder):  # a failed run that made nothing leaves the folder as it was
            if before is None:
                os.remove(path)
                with contextlib.suppress(OSError):  # the folders the record made, when nothing else is in them
                    for created in made:
                        os.rmdir(created)
            else:
                with atomic_path(path) as tmp, open(tmp, 'wb') as handle:
                    handle.write(before)
        raise
    if written and unfinished:
        _write_json(path, {'settings': settings})
