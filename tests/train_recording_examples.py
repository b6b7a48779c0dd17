"""train.py that also appends each example its input pipeline parses, as `<record file> <position>`, to
EXAMPLES_DIR/<task>.examples (task from TF_CONFIG): how the tests count what each worker of a cluster read.

Usage: python tests/train_recording_examples.py EXAMPLES_DIR TRAIN_ARGS...
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf

import preprocessing
import train
from utils.common.errors import run_cli


def _recording(check_labels, examples_dir):
    """`check_labels` (called once per parsed example, with its record file and position) that also logs them."""
    task = json.loads(os.environ['TF_CONFIG'])['task']
    path_out = os.path.join(examples_dir, f"{task['type']}{task.get('index', 0)}.examples")

    def write(path, position):
        with open(path_out, 'a', encoding='utf-8') as out:
            out.write(f'{path.numpy().decode()} {int(position)}\n')
        return 0

    def recording(label, num_classes, path, index):
        written = tf.py_function(write, [path, index], tf.int32)
        with tf.control_dependencies([written]):
            return check_labels(label, num_classes, path, index)
    return recording


if __name__ == '__main__':
    preprocessing.check_labels = _recording(preprocessing.check_labels, sys.argv[1])
    sys.exit(run_cli(train.main, sys.argv[2:]))
