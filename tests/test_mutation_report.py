"""make mutation's report: each package's score is killed / (mutants - reviewed equivalents), a timeout is not a
kill, an equivalent needs a reason and must not be killed, and the repository's equivalents file reads."""
import json
import os

import pytest
from conftest import ROOT
from mutation_report import main, read_equivalents, read_results, scores, survivors


def write_meta(mutants_dir, path, codes):
    meta = mutants_dir / (path + '.meta')
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({'exit_code_by_key': codes, 'hash_by_function_name': {}, 'durations_by_key': {},
                                'estimated_durations_by_key': {}}))


@pytest.fixture
def results_dir(tmp_path):
    # Exit codes as mutmut 3.8 writes them (mutmut/stats.py): 1 killed, 0 survived, 36 timeout, 33 no tests.
    write_meta(tmp_path, 'utils/common/files.py', {'utils.common.files.x_a__mutmut_1': 1,
                                                    'utils.common.files.x_a__mutmut_2': 0,
                                                    'utils.common.files.x_a__mutmut_3': 36,
                                                    'utils.common.files.x_a__mutmut_4': 0})
    write_meta(tmp_path, 'utils/data/voc.py', {'utils.data.voc.x_b__mutmut_1': 33,
                                               'utils.data.voc.xǁLayoutǁc__mutmut_1': 1})
    return tmp_path


def test_results_are_read_per_mutant_from_every_meta_file(results_dir):
    assert read_results(str(results_dir)) == {
        'utils.common.files.x_a__mutmut_1': 'killed', 'utils.common.files.x_a__mutmut_2': 'survived',
        'utils.common.files.x_a__mutmut_3': 'timeout', 'utils.common.files.x_a__mutmut_4': 'survived',
        'utils.data.voc.x_b__mutmut_1': 'no tests', 'utils.data.voc.xǁLayoutǁc__mutmut_1': 'killed'}


def test_the_score_leaves_out_equivalents_and_does_not_count_timeouts_as_killed(results_dir):
    results = read_results(str(results_dir))
    table = scores(results, {'utils.common.files.x_a__mutmut_4': 'same value'})
    assert table['utils.common']['score'] == 1 / 3  # 1 killed of 4 mutants less 1 equivalent
    common = table['utils.common']
    assert (common['mutants'], common['equivalent'], common['survived']) == (4, 1, 1)
    assert table['utils.data']['score'] == 1 / 2  # a mutant no test reaches counts against the package
    assert table['utils.cli']['score'] is None  # no mutant at all
    assert survivors(results, {'utils.common.files.x_a__mutmut_4': 'same value'}) == [
        'utils.common.files.x_a__mutmut_2', 'utils.common.files.x_a__mutmut_3', 'utils.data.voc.x_b__mutmut_1']


def test_a_killed_equivalent_is_refused(results_dir):
    with pytest.raises(ValueError, match='x_a__mutmut_1'):
        scores(read_results(str(results_dir)), {'utils.common.files.x_a__mutmut_1': 'not really'})


def test_an_equivalent_needs_a_reason_and_one_line(tmp_path):
    path = tmp_path / 'equivalents.txt'
    path.write_text('# a comment\n\nutils.a.b.x_f__mutmut_1  the same value either way\n')
    assert read_equivalents(str(path)) == {'utils.a.b.x_f__mutmut_1': 'the same value either way'}
    path.write_text('utils.a.b.x_f__mutmut_1\n')
    with pytest.raises(ValueError, match='no reason'):
        read_equivalents(str(path))
    path.write_text('utils.a.b.x_f__mutmut_1 one\nutils.a.b.x_f__mutmut_1 two\n')
    with pytest.raises(ValueError, match='twice'):
        read_equivalents(str(path))


def test_the_report_prints_each_package_and_its_score(results_dir, tmp_path, capsys):
    equivalents = tmp_path / 'equivalents.txt'
    equivalents.write_text('utils.common.files.x_a__mutmut_4 same value\nutils.gone.x_g__mutmut_1 old\n')
    assert main(['--mutants_dir', str(results_dir), '--equivalents', str(equivalents), '--survivors']) == 0
    out = capsys.readouterr().out
    common = next(line for line in out.splitlines() if line.startswith('utils.common '))
    assert common.split() == ['utils.common', '4', '1', '1', '1', '0', '0', '0', '1', '33.3', '%']
    assert 'no longer among the mutants (remove them): utils.gone.x_g__mutmut_1' in out
    assert out.rstrip().endswith('x_a__mutmut_2\nutils.common.files.x_a__mutmut_3\nutils.data.voc.x_b__mutmut_1')


def test_without_results_the_report_says_to_run_make_mutation(tmp_path, capsys):
    assert main(['--mutants_dir', str(tmp_path)]) == 2
    assert 'make mutation' in capsys.readouterr().err


def test_the_repository_s_equivalents_file_reads():
    read_equivalents(os.path.join(ROOT, 'tests', 'mutation_equivalents.txt'))
