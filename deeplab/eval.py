"""Upstream DeepLab's eval.py command line (research/deeplab, absl flags), scored by this suite's evaluate.py.

    python deeplab/eval.py --logtostderr --eval_split="val" --model_variant="xception_65" --atrous_rates=6 \\
        --atrous_rates=12 --atrous_rates=18 --output_stride=16 --decoder_output_stride=4 --eval_crop_size=513 \\
        --eval_crop_size=513 --dataset="pascal_voc_seg" --checkpoint_dir=TRAIN_DIR --eval_logdir=EVAL_DIR \\
        --dataset_dir=TFRECORDS

Each new checkpoint in --checkpoint_dir is scored on the --eval_split shards; the mIoU is printed as upstream
logs it (eval/miou_1.0_overall[...]) and written to --eval_logdir as a TensorBoard summary. As upstream,
--max_number_of_evaluations=0 (the default) keeps waiting for new checkpoints; give 1 for one pass.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import evaluate
from utils.common.errors import run_cli
from utils.upstream import commands as upstream_commands
from utils.upstream import data as upstream_data
from utils.upstream import run as upstream_run
from utils.upstream.flags import parse


def main(argv=None):
    values, given = parse('eval', sys.argv[1:] if argv is None else argv, __doc__)
    upstream_commands.check_flags('eval', values, given)
    upstream_commands.predict_argv(values, 'eval_crop_size', values['checkpoint_dir'])  # checks before waiting
    tag = upstream_run.metric_tag(values['eval_scales'], values['add_flipped_images'])
    os.makedirs(values['eval_logdir'], exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        image_dir, label_dir, image_list, _ = upstream_data.unpack_split(values['dataset_dir'], values['eval_split'],
                                                                         folder)
        for checkpoint in upstream_run.new_checkpoints(values['checkpoint_dir'], values['max_number_of_evaluations'],
                                                       values['eval_interval_secs'], '--max_number_of_evaluations'):
            json_path = os.path.join(folder, 'miou.json')
            evaluate.main(['--image_data_dir', image_dir, '--ground_truth_dir', label_dir, '--image_list', image_list,
                           '--output_json', json_path,
                           *upstream_commands.predict_argv(values, 'eval_crop_size', checkpoint)])
            upstream_run.log_miou(json_path, tag, values['eval_logdir'], checkpoint)
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
