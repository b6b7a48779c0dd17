"""The mutation score of each package after `mutmut run` (make mutation; docs/testing.md): killed / (mutants -
equivalent), read from mutmut's result files under mutants/, with the mutants that tests/mutation_equivalents.txt
lists as equivalent (reviewed by hand, one reason each) taken out. A mutant whose tests ran out of time is not
counted as killed (mutmut's own score does): on a busy machine a slow survivor can time out too.

    python tests/mutation_report.py [--survivors]
"""
import argparse
import glob
import json
import os
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EQUIVALENTS = os.path.join(ROOT, 'tests', 'mutation_equivalents.txt')
PACKAGES = ('utils.common', 'utils.cli', 'utils.data', 'utils.postprocess', 'utils.reproduce', 'utils.upstream')
# mutmut's exit codes of a mutant's test run (mutmut/stats.py, status_by_exit_code), in the columns printed here.
STATUS = {1: 'killed', 3: 'killed', 0: 'survived', 36: 'timeout', -24: 'timeout', 24: 'timeout', 152: 'timeout',
          255: 'timeout', 5: 'no tests', 33: 'no tests', None: 'not checked'}
COLUMNS = ('killed', 'timeout', 'survived', 'no tests', 'not checked', 'other')


def read_results(mutants_dir):
    """{mutant id: status} of every .meta file mutmut wrote under `mutants_dir`."""
    results = {}
    for path in sorted(glob.glob(os.path.join(mutants_dir, '**', '*.py.meta'), recursive=True)):
        with open(path, encoding='utf-8') as f:
            for key, code in json.load(f)['exit_code_by_key'].items():
                results[key] = STATUS.get(code, 'other')
    return results


def read_equivalents(path):
    """{mutant id: reason} of the reviewed equivalents file: `id  reason` a line; # starts a comment."""
    equivalents = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, _, reason = line.partition(' ')
            if not reason.strip():
                raise ValueError(f'{path}:{number}: {key} has no reason')
            if key in equivalents:
                raise ValueError(f'{path}:{number}: {key} listed twice')
            equivalents[key] = reason.strip()
    return equivalents


def package_of(mutant):
    """'utils.common.errors.x_run_cli__mutmut_3' -> 'utils.common'."""
    return '.'.join(mutant.split('.')[:2])


def scores(results, equivalents):
    """{package: {status: count} (an equivalent counted as 'equivalent' only), 'mutants' and 'score' (None
    without any mutant)}.
    An equivalent that was killed is an error: the tests tell it apart, so it is not equivalent."""
    killed_equivalents = sorted(k for k in equivalents if results.get(k) == 'killed')
    if killed_equivalents:
        raise ValueError(f'listed as equivalent but killed: {", ".join(killed_equivalents)}')
    table = {}
    for package in sorted({package_of(k) for k in results} | set(PACKAGES)):
        counts = Counter('equivalent' if k in equivalents else status
                         for k, status in results.items() if package_of(k) == package)
        counts['mutants'] = sum(counts.values())
        counted = counts['mutants'] - counts['equivalent']
        table[package] = dict(counts, score=counts['killed'] / counted if counted else None)
    return table


def survivors(results, equivalents):
    """Mutant ids that no test killed and that are not listed as equivalent, sorted."""
    return sorted(k for k, status in results.items() if status != 'killed' and k not in equivalents)


def format_table(table):
    header = ['package', 'mutants', *COLUMNS, 'equivalent', 'score']
    rows = [header]
    for package, row in table.items():
        score = '-' if row['score'] is None else f'{100 * row["score"]:.1f} %'
        rows.append([package, str(row['mutants'])] + [str(row.get(c, 0)) for c in COLUMNS]
                    + [str(row.get('equivalent', 0)), score])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return '\n'.join('  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))) for row in rows)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mutants_dir', default=os.path.join(ROOT, 'mutants'), help='mutmut\'s working folder')
    parser.add_argument('--equivalents', default=EQUIVALENTS, help='the reviewed equivalent mutants')
    parser.add_argument('--survivors', action='store_true', help='also list the surviving mutants')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    results = read_results(args.mutants_dir)
    if not results:
        print(f'error: {args.mutants_dir}: no mutmut results (run `make mutation`)', file=sys.stderr)
        return 2
    equivalents = read_equivalents(args.equivalents)
    try:
        table = scores(results, equivalents)
    except ValueError as error:
        print(f'error: {args.equivalents}: {error}', file=sys.stderr)
        return 2
    print(format_table(table))
    stale = sorted(k for k in equivalents if k not in results)
    if stale:
        print(f'\n{len(stale)} equivalents no longer among the mutants (remove them): {", ".join(stale)}')
    if args.survivors:
        print('\nsurviving:\n' + '\n'.join(survivors(results, equivalents)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
