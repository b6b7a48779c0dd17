"""Fetch one file over HTTP, resumably, and check it (published MD5, else the archive reads to its end).

    python download.py --url http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar \\
        --output downloads/VOCtrainval_11-May-2012.tar --md5 6cd6e144f989b92b3379bac3b3de84fd

A present file is checked, not fetched again; one that fails the check is fetched again. A broken-off
transfer continues where it stopped (OUTPUT.part, HTTP Range) when run again. A whole, readable archive whose
MD5 differs from --md5 (a mirror's own build) is kept as OUTPUT.part and not fetched twice: run again with its
MD5 to accept it without another transfer.
"""
import sys

from utils.cli.flags import parser_for
from utils.common.errors import run_cli
from utils.reproduce.download import fetch


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--url', required=True, help='Address of the file.')
    parser.add_argument('--output', required=True, help='Where to keep it.')
    parser.add_argument('--md5', default=None, help='Published MD5 to check (default: check the archive reads).')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    status = fetch(args.url, args.output, args.md5)
    print(f'{args.output}: {status}, {"MD5" if args.md5 else "content"} checked')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
