"""Upstream DeepLab's export_model.py command line (research/deeplab, absl flags), run by this suite's one.

    python deeplab/export_model.py --checkpoint_path=TRAIN_DIR/model.ckpt-30000 \\
        --export_path=frozen_inference_graph.pb --model_variant="xception_65" --atrous_rates=6 --atrous_rates=12 \\
        --atrous_rates=18 --output_stride=16 --decoder_output_stride=4 --num_classes=21 --crop_size=513 \\
        --crop_size=513

Upstream's default output stride here is 8, as in its export_model.py. A flag this suite cannot honour (e.g.
--inference_scales other than 1.0) is refused by name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import export_model
from utils.common.errors import run_cli
from utils.upstream import commands as upstream_commands
from utils.upstream.flags import parse


def main(argv=None):
    values, given = parse('export_model', sys.argv[1:] if argv is None else argv, __doc__)
    upstream_commands.check_flags('export_model', values, given)
    return export_model.main(upstream_commands.export_argv(values))


if __name__ == '__main__':
    sys.exit(run_cli(main))
