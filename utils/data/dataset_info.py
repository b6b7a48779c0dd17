"""dataset.json: what a records (or label) folder holds, written by create_coco_tf_record.py, so train.py and
evaluate.py take the class count, and with it the class names, from the data instead of a flag.

A folder without it holds PASCAL VOC data (create_tf_record.py), 21 classes unless --num_classes says otherwise.
"""
import json
import os

from utils.common.errors import UserError
from utils.common.files import atomic_path, read_json_object

DATASET_FILE = 'dataset.json'


def read_dataset_info(folder):
    """The description stored in `folder` ({} when there is none); an unreadable one is a UserError."""
    path = os.path.join(folder, DATASET_FILE)
    if not os.path.isfile(path):
        return {}
    info = read_json_object(path, 'data set description')
    if not isinstance(info.get('num_classes'), int):
        raise UserError(f'{path}: not a data set description (a JSON object with "num_classes")')
    return info


def write_dataset_info(folder, info):
    """Store `info` (a JSON object with at least "num_classes") in `folder`, atomically."""
    with atomic_path(os.path.join(folder, DATASET_FILE)) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(info, handle, indent=2, sort_keys=True)


def dataset_num_classes(folder):
    """The class count the folder's data set description gives, or None (no description, e.g. VOC records)."""
    return read_dataset_info(folder).get('num_classes') if folder and os.path.isdir(folder) else None
