"""Unpack a tar archive safely: nothing outside --output_dir, nothing half-extracted.

    python extract.py --archive downloads/benchmark.tgz --output_dir data/sbd

Members with an absolute path, a `..` or a link pointing outside the target are refused (exit 2, member
named) before anything is written. The archive is unpacked into a temporary folder renamed to --output_dir at
the end, so an existing --output_dir is a finished extraction and is left as it is. With --md5 the archive is
checked against it first (for a file fetched by hand, such as VOC2012test.tar).
"""
import sys

from utils.cli.flags import parser_for
from utils.common.errors import run_cli
from utils.reproduce.safe_extract import extract


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--archive', required=True, help='The .tar, .tgz or .tar.gz file.')
    parser.add_argument('--output_dir', required=True, help='Folder that will hold the archive\'s members.')
    parser.add_argument('--md5', default=None, help='MD5 the archive must have (default: not checked).')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    status = extract(args.archive, args.output_dir, args.md5)
    print(f'{args.output_dir}: {"already extracted" if status == "present" else f"extracted from {args.archive}"}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
