"""Upstream DeepLab's vis.py command line (research/deeplab, absl flags), segmented by this suite's inference.py.

    python deeplab/vis.py --logtostderr --vis_split="val" --model_variant="xception_65" --atrous_rates=6 \\
        --atrous_rates=12 --atrous_rates=18 --output_stride=16 --decoder_output_stride=4 --vis_crop_size=513 \\
        --vis_crop_size=513 --dataset="pascal_voc_seg" --checkpoint_dir=TRAIN_DIR --vis_logdir=VIS_DIR \\
        --dataset_dir=TFRECORDS --also_save_raw_predictions

Writes what upstream writes: VIS_DIR/segmentation_results/%06d_image.png and %06d_prediction.png (PASCAL
colours), and with --also_save_raw_predictions VIS_DIR/raw_segmentation_results/<image name>.png label maps.
As upstream, --max_number_of_iterations=0 (the default) keeps waiting for new checkpoints; give 1 for one pass.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import inference
from utils.common.errors import run_cli
from utils.upstream import commands as upstream_commands
from utils.upstream import data as upstream_data
from utils.upstream import run as upstream_run
from utils.upstream.flags import parse


def main(argv=None):
    values, given = parse('vis', sys.argv[1:] if argv is None else argv, __doc__)
    upstream_commands.check_flags('vis', values, given)
    upstream_commands.predict_argv(values, 'vis_crop_size', values['checkpoint_dir'])  # checks before waiting
    with tempfile.TemporaryDirectory() as folder:
        image_dir, _, image_list, ids = upstream_data.unpack_split(values['dataset_dir'], values['vis_split'], folder)
        for number, checkpoint in enumerate(upstream_run.new_checkpoints(
                values['checkpoint_dir'], values['max_number_of_iterations'], values['eval_interval_secs'],
                '--max_number_of_iterations')):
            result_dir = os.path.join(folder, f'results_{number}')
            inference.main(['--image_data_dir', image_dir, '--image_list', image_list, '--output_dir', result_dir,
                            *upstream_commands.predict_argv(values, 'vis_crop_size', checkpoint)])
            upstream_run.save_visualisation(values['vis_logdir'], image_dir, result_dir, ids,
                                            values['also_save_raw_predictions'])
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
