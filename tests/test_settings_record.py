"""The settings record an output folder keeps (utils.common.files.resume_settings), at the level of the function the
tools share: the refusal's one line shows each change as old -> new in the user's own terms, an unreadable record is
named as one, and a run that fails leaves no folder it made. tests/test_rerun_flags.py drives it through the tools."""
import json

import pytest

from utils.common.errors import UserError
from utils.common.files import SETTINGS_RECORD, resume_settings

REFUSAL_END = '; pass --overwrite to redo them all with these, or choose another output folder'


def finished_run(folder, settings):
    """A run with `settings` that wrote one result into `folder`."""
    with resume_settings(str(folder), settings, overwrite=False) as record:
        record()
        (folder / 'x1.png').write_bytes(b'result')


def refusal(folder, settings):
    """The message of the refusal to resume `folder` with `settings`."""
    with pytest.raises(UserError) as err:
        with resume_settings(str(folder), settings, overwrite=False):
            pass
    return str(err.value)


def test_the_refusal_shows_each_change_old_to_new_strings_bare_the_rest_as_json_and_an_absent_one_as_none(tmp_path):
    finished_run(tmp_path, {'mode': 'vote', 'scales': [1.0], 'flip': False, 'gone': 2, 'unset': None})
    message = refusal(tmp_path, {'mode': 'soft', 'scales': [0.5, 1.0], 'flip': True, 'added': 3, 'unset': None})
    # the new settings' order first, then those only the record holds; an unchanged one is not named
    assert message == (f'{tmp_path}: holds results made with other settings (mode vote -> soft; '
                       'scales [1.0] -> [0.5, 1.0]; flip false -> true; added (none) -> 3; gone 2 -> (none))'
                       + REFUSAL_END)


def test_a_record_without_a_settings_object_shows_every_setting_as_new(tmp_path):
    finished_run(tmp_path, {'mode': 'vote'})
    (tmp_path / SETTINGS_RECORD).write_text(json.dumps({'settings': ['mode', 'vote']}))
    assert refusal(tmp_path, {'mode': 'vote'}) == (
        f'{tmp_path}: holds results made with other settings (mode (none) -> vote)' + REFUSAL_END)


def test_an_unreadable_record_is_named_as_the_settings_record_and_overwrite_replaces_it(tmp_path):
    finished_run(tmp_path, {'mode': 'vote'})
    path = tmp_path / SETTINGS_RECORD
    path.write_text('{"settings": ')
    with pytest.raises(UserError, match='^' + str(path).replace('.', r'\.') + r': unreadable settings record \('):
        with resume_settings(str(tmp_path), {'mode': 'vote'}, overwrite=False):
            pass
    with resume_settings(str(tmp_path), {'mode': 'soft'}, overwrite=True) as record:
        record()
    assert json.loads(path.read_text())['settings'] == {'mode': 'soft'}


def test_a_run_that_fails_before_its_first_result_removes_the_folders_it_made_and_keeps_its_own_error(tmp_path):
    target = tmp_path / 'made' / 'for' / 'the run'
    with pytest.raises(RuntimeError, match='^the run failed$'):
        with resume_settings(str(target), {'mode': 'vote'}, overwrite=False) as record:
            record()
            assert (target / SETTINGS_RECORD).is_file()
            raise RuntimeError('the run failed')
    assert list(tmp_path.iterdir()) == []
