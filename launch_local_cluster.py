"""Try multi-worker training on this machine: train.py as a chief, --num_workers - 1 workers and an evaluator,
each its own process with a TF_CONFIG on 127.0.0.1 ports the system picks.

    python launch_local_cluster.py --num_workers 2 --log_dir cluster_logs -- \\
        --model_dir MODEL_DIR --data_dir DATA_DIR --batch_size 16 --max_iter 30000

Everything after -- goes to every train.py. Each task logs to LOG_DIR/<task>.log. When a task fails or dies,
the others are stopped and its last log line is reported; running the same command again resumes from the
latest checkpoint in MODEL_DIR.
"""
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import parser_for
from utils.common.errors import UserError, run_cli

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--num_workers', type=int, default=2,
                        help='Training processes: the chief and num_workers - 1 workers (default: %(default)s).')
    parser.add_argument('--log_dir', default='cluster_logs',
                        help='Folder of the tasks\' logs, one file per task (default: %(default)s).')
    parser.add_argument('train_args', nargs='*', metavar='-- TRAIN_ARGS',
                        help='Arguments of train.py, after --.')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_workers < 1:
        raise UserError(f'--num_workers {args.num_workers}: at least one worker (the chief)')
    from utils.runtime.cluster import LocalCluster
    cluster = LocalCluster(args.train_args, args.num_workers, args.log_dir)
    for (kind, index), process in cluster.start().items():
        print(f'{kind} {index}: pid {process.pid}, log {cluster.log_path((kind, index))}', flush=True)
    try:
        failure = cluster.wait()
    except KeyboardInterrupt:
        cluster.stop()
        raise
    if failure:
        task, code = failure
        raise UserError('{} {} ended with exit code {} (the other tasks were stopped): {}'.format(
            *task, code, cluster.last_line(task)))
    print('all tasks finished; evaluator: ' + cluster.last_line(('evaluator', 0)))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
