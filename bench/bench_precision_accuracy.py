"""bfloat16 (and float16) against float32 on trained weights: the demo's DeepLabv3 and DeepLabv3+ checkpoints,
single scale and 6 scales + flip, on its val images.

For each model and test-time setting: the share of pixels whose label agrees with float32's, the mIoU of each
precision (VOC devkit definition, against the demo's ground truth) and the largest difference of any class
probability at any pixel. Needs a finished `demo.py --output_dir DIR` (its models/ and VOC2012/).

Usage: .venv/bin/python bench/bench_precision_accuracy.py --demo_dir demo_output [--precisions bfloat16 float16]
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from utils.cli.environment import tensorflow_defaults  # noqa: E402

tensorflow_defaults()

import numpy as np  # noqa: E402
from workloads import checkpoint_outputs, write_rows  # noqa: E402

from utils.common.files import read_id_list  # noqa: E402
from utils.data.voc import read_label  # noqa: E402
from utils.postprocess import metrics  # noqa: E402
from utils.runtime.image_feed import read_images  # noqa: E402
from utils.runtime.model_config import saved_model_params  # noqa: E402

SETTINGS = {'single scale': ((1.0,), False), '6 scales + flip': ((0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True)}


def miou(results, truths, num_classes):
    return metrics.mean_iou(sum(metrics.confusion_matrix(t, r[0], num_classes) for r, t in zip(results, truths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--demo_dir', required=True, help='Output folder of a finished demo.py run.')
    parser.add_argument('--precisions', nargs='+', default=['bfloat16'], choices=('bfloat16', 'float16'),
                        help='Compared against float32 (default: bfloat16).')
    parser.add_argument('--crop', type=int, default=81, help='Eval crop the demo trained with (default: 81).')
    parser.add_argument('--json', default=None, help='Also write the rows to this JSON file.')
    args = parser.parse_args(argv)
    data = os.path.join(args.demo_dir, 'VOC2012')
    ids = read_id_list(os.path.join(data, 'ImageSets', 'Segmentation', 'val.txt'))
    images = [image for _, image in read_images(os.path.join(data, 'JPEGImages'), ids)]
    truths = [read_label(os.path.join(data, 'SegmentationClass', i + '.png')) for i in ids]
    rows = []
    print('| model | test time | precision | labels equal to float32 (%) | mIoU float32 | mIoU | '
          'max probability difference |\n| --- | --- | --- | --- | --- | --- | --- |')
    for model in ('deeplabv3', 'deeplabv3plus'):
        model_dir = os.path.join(args.demo_dir, 'models', model)
        num_classes = saved_model_params(model_dir)['num_classes']
        for setting, (scales, flip) in SETTINGS.items():
            reference = checkpoint_outputs(model_dir, images, 'float32', scales, flip, args.crop)
            for precision in args.precisions:
                lowered = checkpoint_outputs(model_dir, images, precision, scales, flip, args.crop)
                equal = sum(int((a[0] == b[0]).sum()) for a, b in zip(reference, lowered))
                total = sum(a[0].size for a in reference)
                row = {'model': model, 'test_time': setting, 'precision': precision,
                       'labels_equal': equal / total, 'miou_float32': miou(reference, truths, num_classes),
                       'miou': miou(lowered, truths, num_classes),
                       'max_probability_difference': max(float(np.abs(a[1] - b[1]).max())
                                                         for a, b in zip(reference, lowered))}
                rows.append(row)
                print(f'| {model} | {setting} | {precision} | {100 * row["labels_equal"]:.3f} | '
                      f'{100 * row["miou_float32"]:.2f} | {100 * row["miou"]:.2f} | '
                      f'{row["max_probability_difference"]:.3f} |', flush=True)
    write_rows(args.json, rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
