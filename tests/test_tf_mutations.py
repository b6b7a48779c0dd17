"""make mutation-tf's runner (tests/tf_mutations.py): entries are well formed, a fragment applies only where it
occurs once, the file is put back, pytest's exit codes become caught / missed / error, and the table's score is
caught / mutations run."""
import os

from conftest import ROOT
from tf_mutations import MUTATIONS, Mutation, mutated, outcome, score_table, selected, try_mutation


def test_every_entry_names_a_file_a_change_a_one_line_bug_and_existing_tests():
    assert len({(m.file, m.old) for m in MUTATIONS}) == len(MUTATIONS)
    for mutation in MUTATIONS:
        assert os.path.isfile(os.path.join(ROOT, mutation.file)), mutation.file
        assert mutation.old != mutation.new and mutation.bug and '\n' not in mutation.bug, mutation.bug
        assert mutation.tests and isinstance(mutation.tests, tuple), mutation.bug
        for test in mutation.tests:
            path, name = test.split('::')
            with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
                assert f'\ndef {name.split("[")[0]}(' in handle.read(), test


def test_a_fragment_applies_only_where_it_occurs_exactly_once():
    mutation = Mutation('x.py', 'a = 1', 'a = 2', 'a changed', ('tests/test_x.py::test_a',))
    assert mutated('a = 1\nb = 1\n', mutation) == 'a = 2\nb = 1\n'
    assert mutated('b = 1\n', mutation) is None
    assert mutated('a = 1\na = 1\n', mutation) is None


def test_exit_codes_are_caught_missed_or_an_error():
    assert [outcome(code) for code in (1, 2, 0, 4, 5, None)] == ['caught', 'caught', 'missed', 'error', 'error',
                                                                  'error']


def test_a_stale_entry_is_not_run_and_a_run_one_puts_the_file_back(tmp_path):
    (tmp_path / 'x.py').write_text('a = 1\n')
    (tmp_path / 'test_x.py').write_text('import x\n\n\ndef test_a():\n    assert x.a == 1\n')
    stale = Mutation('x.py', 'a = 3', 'a = 2', 'a changed', ('test_x.py::test_a',))
    assert try_mutation(str(tmp_path), stale, 60)[0] == 'stale'
    assert try_mutation(str(tmp_path), stale._replace(old='a = 1'), 60)[0] == 'caught'
    assert try_mutation(str(tmp_path), stale._replace(old='a = 1', new='a = 1  # same'), 60)[0] == 'missed'
    assert (tmp_path / 'x.py').read_text() == 'a = 1\n'


def test_the_table_scores_each_file_over_the_mutations_run():
    first, second = (Mutation(name, 'a', 'b', 'bug', ('t::t',)) for name in ('one.py', 'two.py'))
    lines = score_table([(first, 'caught'), (first, 'missed'), (first, 'stale'), (second, 'caught')]).splitlines()
    assert lines[0].split() == ['file', 'mutations', 'caught', 'missed', 'other', 'score']
    assert lines[1].split() == ['one.py', '3', '1', '1', '1', '50.0', '%']
    assert lines[2].split() == ['two.py', '1', '1', '0', '0', '100.0', '%']
    assert lines[3].split() == ['total', '4', '2', '1', '1', '66.7', '%']


def test_only_selects_by_file_or_bug():
    assert selected(None) == list(MUTATIONS)
    assert selected(['nets/xception.py']) == [m for m in MUTATIONS if m.file == 'nets/xception.py']
    assert selected(['nets/xception.py', 'utils/runtime/predict.py']) == [
        m for m in MUTATIONS if m.file in ('nets/xception.py', 'utils/runtime/predict.py')]
    assert selected(['no such mutation']) == []
