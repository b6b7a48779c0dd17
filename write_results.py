"""Write RESULTS.md of a reproduction run (reproduce.py's last stage) from the scores in its work folder.

    python write_results.py --work_dir WORK_DIR
"""
import os
import sys

from utils.cli.flags import add_precision_flag, parser_for
from utils.common.errors import run_cli
from utils.common.files import atomic_path, require_dir
from utils.reproduce.report import results_markdown


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--work_dir', required=True, help='The work folder of reproduce.py.')
    parser.add_argument('--quick', action='store_true', help='The run was a --quick one (said in the text).')
    add_precision_flag(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    require_dir(args.work_dir, 'work folder')
    output = os.path.join(args.work_dir, 'RESULTS.md')
    with atomic_path(output) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(results_markdown(args.work_dir, args.quick, args.precision))
    print(f'{output} written')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
