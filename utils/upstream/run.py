"""What upstream eval.py and vis.py do around a prediction: follow new checkpoints, log mIoU, save PNGs."""
import json
import math
import os
import re
import sys
import time

import numpy as np
from PIL import Image

from utils.common.files import find_file
from utils.data.voc import IMAGE_EXTENSIONS, PALETTE, read_image, read_label

SEGMENTATION_FOLDER = 'segmentation_results'  # upstream vis.py's folders and file names
RAW_SEGMENTATION_FOLDER = 'raw_segmentation_results'
IMAGE_FORMAT = '%06d_image.png'
PREDICTION_FORMAT = '%06d_prediction.png'


def new_checkpoints(checkpoint_dir, max_count, interval_secs, flag):
    """Yield each new latest checkpoint of `checkpoint_dir`, waiting for the next, `max_count` times (0: for ever,
    as upstream, which this says on stderr)."""
    import tensorflow as tf

    if max_count <= 0:
        print(f'{flag}={max_count}: following new checkpoints in {checkpoint_dir} until interrupted, as upstream '
              f'(give {flag}=1 for one pass)', file=sys.stderr)
    done, last = 0, None
    while max_count <= 0 or done < max_count:
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest is None or latest == last:
            time.sleep(interval_secs if last else 1)
            continue
        last, done = latest, done + 1
        yield latest


def metric_tag(scales, flipped):
    """The name upstream eval.py logs the mIoU under, e.g. eval/miou_1.0_overall."""
    return 'eval/miou' + ''.join(f'_{scale}' for scale in scales) + ('_flipped' if flipped else '') + '_overall'


def global_step(checkpoint):
    """The training step in a checkpoint prefix's name (model.ckpt-30000), else 0."""
    match = re.search(r'-(\d+)$', checkpoint)
    return int(match.group(1)) if match else 0


def logged_metrics(scores, tag):
    """(tag, value) of everything upstream eval.py logs, from evaluate.py's --output_json: the mIoU under `tag`
    (eval/miou_1.0_overall) and each class's IoU under eval/miou_1.0_class_<index>, NaN where it is undefined
    (the class in neither the ground truth nor the predictions). The values are this suite's VOC devkit IoUs."""
    prefix = tag[:-len('_overall')]
    classes = [(f'{prefix}_class_{index}', math.nan if iou is None else iou)
               for index, iou in enumerate(scores['per_class_iou'].values())]
    return [(tag, scores['miou']), *classes]


def log_miou(json_path, tag, logdir, checkpoint):
    """Print the mIoU and per-class IoUs of evaluate.py's --output_json as upstream prints them, and write them as
    summaries in `logdir` at the checkpoint's step."""
    import tensorflow as tf

    with open(json_path, encoding='utf-8') as handle:
        metrics = logged_metrics(json.load(handle), tag)
    for name, value in metrics:
        print(f'{name}[{value}]')
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriter(logdir)
        values = [tf.compat.v1.Summary.Value(tag=name, simple_value=value) for name, value in metrics]
        writer.add_summary(tf.compat.v1.Summary(value=values), global_step(checkpoint))
        writer.close()
    return metrics[0][1]


def save_visualisation(logdir, image_dir, result_dir, ids, raw):
    """Upstream vis.py's outputs from inference.py's <id>.png results: numbered image and colour prediction PNGs,
    and with `raw` each label map under its image name."""
    folders = [os.path.join(logdir, name) for name in (SEGMENTATION_FOLDER, RAW_SEGMENTATION_FOLDER)]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    for index, image_id in enumerate(ids):
        labels = read_label(os.path.join(result_dir, image_id + '.png'))
        image = read_image(find_file(image_dir, image_id, IMAGE_EXTENSIONS))
        Image.fromarray(image).save(os.path.join(folders[0], IMAGE_FORMAT % index))
        Image.fromarray(PALETTE[labels]).save(os.path.join(folders[0], PREDICTION_FORMAT % index))
        if raw:
            Image.fromarray(labels.astype(np.uint8)).save(os.path.join(folders[1], image_id + '.png'))
