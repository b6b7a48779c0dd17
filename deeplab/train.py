"""Upstream DeepLab's train.py command line (research/deeplab, absl flags), run by this suite's train.py.

    python deeplab/train.py --logtostderr --training_number_of_steps=30000 --train_split="train" \\
        --model_variant="xception_65" --atrous_rates=6 --atrous_rates=12 --atrous_rates=18 --output_stride=16 \\
        --decoder_output_stride=4 --train_crop_size=513 --train_crop_size=513 --train_batch_size=1 \\
        --dataset="pascal_voc_seg" --tf_initial_checkpoint=CKPT --train_logdir=TRAIN_DIR --dataset_dir=TFRECORDS

--dataset_dir is a folder of build_voc2012_data.py's <split>-NNNNN-of-NNNNN.tfrecord shards. A flag this suite
cannot honour is refused by name.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import train
from utils.common.errors import run_cli
from utils.upstream import commands as upstream_commands
from utils.upstream import data as upstream_data
from utils.upstream.flags import parse


def main(argv=None):
    values, given = parse('train', sys.argv[1:] if argv is None else argv, __doc__)
    upstream_commands.check_flags('train', values, given)
    upstream_commands.check_last_layers(values)
    with tempfile.TemporaryDirectory() as folder:
        argv = upstream_commands.train_argv(values, folder)
        upstream_data.link_as_training_split(values['dataset_dir'], values['train_split'], folder)
        return train.main(argv)


if __name__ == '__main__':
    sys.exit(run_cli(main))
