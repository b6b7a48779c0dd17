"""Reproduce the README tables from the official downloads to the PASCAL-server tarballs, in one resumable run.

    python reproduce.py --work_dir repro --voc_test_tar ~/Downloads/VOC2012test.tar
    python reproduce.py --work_dir repro_quick --quick          # the same chain in minutes, to check a set-up
    python reproduce.py --work_dir repro --dry_run > repro.sh   # every stage as plain commands instead

Stages: download, extract, labels, records, train, evaluate, zoo, stack, crf, package, report. A finished stage
is recorded in WORK_DIR/.reproduce with the commands it ran, and skipped when the command runs again; an
interrupted one starts again cleanly (training resumes from its last checkpoint, batch tools keep finished
images; if a stage it needs was redone meanwhile, what it made is removed first). A finished stage whose
settings differ from this command's (--quick, --mirror, --num_gpus, ...) is refused before anything runs,
naming what changed; --redo makes a stage anew, and the stages after it are then redone when they run. Training
is seeded and op-deterministic, so a rerun gives the same numbers. Everything goes under --work_dir;
WORK_DIR/RESULTS.md is the end.
"""
import os
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import add_precision_flag, parser_for
from utils.common.errors import UserError, run_cli
from utils.reproduce.download import read_checksums
from utils.reproduce.plan import STAGE_NAMES, Layout, build_plan
from utils.reproduce.run import print_done_note, run_plan, shell_script

tensorflow_defaults()  # before TensorFlow's first import, which reads them once

ROOT = os.path.dirname(os.path.abspath(__file__))


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--work_dir', required=True, help='Folder for everything the run downloads and makes.')
    parser.add_argument('--mirror', default=None, metavar='URL',
                        help='Fetch every archive by its file name from this base URL (e.g. a lab file server) '
                             'instead of the official sites.')
    parser.add_argument('--checksums', default=None, metavar='FILE',
                        help='md5sum-style list (<md5>  <file name>) replacing the published MD5s and adding ones for '
                             'the other archives, for a mirror serving archives of its own.')
    parser.add_argument('--voc_test_tar', default=None,
                        help='VOC2012test.tar, downloaded by hand (the server needs a login) '
                             '(default: WORK_DIR/downloads/VOC2012test.tar).')
    parser.add_argument('--segmentation_class_aug', default=None,
                        help='A ready-made SegmentationClassAug folder: used instead of converting SBD '
                             '(benchmark.tgz is then not downloaded).')
    parser.add_argument('--num_gpus', type=int, default=None,
                        help='GPUs for training, passed to train.py (default: train.py\'s own default).')
    parser.add_argument('--quick', action='store_true',
                        help='ResNet-v2-50, a few images, two training steps, small crops: checks a set-up end '
                             'to end in minutes before the multi-day run.')
    parser.add_argument('--stages', nargs='+', choices=STAGE_NAMES, default=list(STAGE_NAMES), metavar='STAGE',
                        help=f'Run only these stages ({", ".join(STAGE_NAMES)}; default: all).')
    parser.add_argument('--redo', action='store_true',
                        help='Redo the chosen stages even if they finished: remove what each made, then run it anew '
                             '(train: retrains from the ImageNet checkpoint, step 0; download: checks every present '
                             'file against its MD5 again and fetches only those that fail). Finished stages after a '
                             'redone one are then out of date and redone when they run (in this run if chosen).')
    add_precision_flag(parser)
    parser.add_argument('--dry_run', action='store_true',
                        help='Print the chosen stages as a bash script of plain commands instead of running them.')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_gpus is not None and args.num_gpus < 1:
        raise UserError(f'--num_gpus must be at least 1, got {args.num_gpus}')
    layout = Layout(args.work_dir, args.voc_test_tar, args.segmentation_class_aug)
    checksums = read_checksums(args.checksums) if args.checksums else None
    plan = build_plan(layout, args.quick, args.mirror, args.num_gpus, checksums, args.precision)
    if args.dry_run:
        sys.stdout.write(shell_script(plan, layout, args.stages, ROOT, sys.executable))
        return 0
    run_plan(plan, layout, args.stages, args.redo)
    print_done_note(plan, args.stages, layout)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
