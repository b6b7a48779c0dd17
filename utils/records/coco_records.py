"""MS-COCO TFRecords: check every image to convert, then write the shards (and label PNGs) in parallel.

Each split's shards are written in order, each under a temporary name renamed into place once complete, and
dataset.json keeps the settings, so a run that was interrupted goes on with the missing shards when run again.
Workers rasterise one image's masks at a time; the main process holds the annotations, never a mask.
"""
import collections
import io
import math
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from utils.common.errors import UserError, problem_list
from utils.common.files import atomic_path
from utils.common.parallel import imap_progress
from utils.data import coco
from utils.data.coco_classes import NUM_CLASSES
from utils.data.dataset_info import read_dataset_info, write_dataset_info
from utils.records.tfrecords import SPLITS, encode_example, existing_records, image_info, record_paths

PREFIX = 'coco'
IMAGES_PER_SHARD = 1000
# zlib level of the label PNGs: level 1 encoded a 640x480 COCO label map in 2.5 ms against 4.3 ms at Pillow's
# default 6, for 5.6 kB instead of 3.6 kB next to a JPEG of about 130 kB (BENCHMARKS.md, "COCO records").
LABEL_PNG_LEVEL = 1

Task = collections.namedtuple('Task', 'split index path entry record label_path image_format')
Task.__doc__ = ('One image to process: `record` when its shard is still to write, `label_path` when its label PNG '
                'is; `image_format` comes from the check.')


def read_split(source, mode, min_area):
    """The images of one split to convert, in file order; training images whose selected annotations' areas sum
    to no more than `min_area` are left out (None: none is)."""
    entries = coco.index_images(coco.load_instances(source.annotations_file), source.annotations_file, mode)
    if source.split == 'train' and min_area is not None:
        entries = [entry for entry in entries if entry.area > min_area]
    if not entries:
        rule = f' with more than {min_area} pixels of annotations' if source.split == 'train' and min_area else ''
        raise UserError(f'{source.annotations_file}: no images{rule} to convert')
    return entries


def default_shards(num_images):
    """One shard per IMAGES_PER_SHARD images: the unit a resumed run skips or redoes."""
    return max(1, math.ceil(num_images / IMAGES_PER_SHARD))


def split_settings(source, entries, num_shards, min_area):
    """What a split's records depend on, kept in dataset.json to tell a resumable folder from another run's."""
    return {'annotations_file': os.path.basename(source.annotations_file),
            'annotations_bytes': os.path.getsize(source.annotations_file), 'images': len(entries),
            'num_shards': num_shards, 'min_annotated_area': min_area if source.split == 'train' else None}


def plan(data_dir, settings, mode, overwrite):
    """{split: whether its existing shards are kept (resume)} and the data set description to store; a
    UserError when the folder holds VOC records, another class mode or another run's records."""
    voc = [path for split in SPLITS for path in existing_records(data_dir, split)]
    if voc:
        raise UserError(f'{voc[0]}: the folder holds VOC records; give COCO records a --data_dir of their own')
    info = read_dataset_info(data_dir)
    kept = {split: s for split, s in info.get('splits', {}).items() if split not in settings}
    if kept and info.get('classes') != mode:
        raise UserError(f'{data_dir}: holds {", ".join(kept)} records with --classes {info.get("classes")}; '
                        f'convert into another --data_dir for --classes {mode}')
    resume = {}
    for split, new in settings.items():
        present = existing_records(data_dir, split, PREFIX)
        old = info.get('splits', {}).get(split)
        resume[split] = bool(present) and not overwrite
        if resume[split] and (old != new or info.get('classes') != mode):
            raise UserError(f'{present[0]}: made by another conversion (settings {old} with --classes '
                            f'{info.get("classes")}, now {new} with --classes {mode}); pass --overwrite to redo '
                            f'the {split} records')
    description = {'dataset': 'coco', 'classes': mode, 'num_classes': NUM_CLASSES[mode],
                   'splits': dict(kept, **settings)}
    return resume, description


def tasks_of(source, entries, paths, resume, label_dir, overwrite):
    """The images still to process ([Task], records first) and the shards still to write ([(path, count)])."""
    bounds = np.linspace(0, len(entries), len(paths) + 1).astype(int)
    records, labels, shards = [], [], []
    for k, path in enumerate(paths):
        pending = not (resume and os.path.exists(path))
        if pending:
            shards.append((path, int(bounds[k + 1] - bounds[k])))
        for index in range(bounds[k], bounds[k + 1]):
            entry = entries[index]
            label_path = os.path.join(label_dir, coco.label_name(entry.file_name)) if label_dir else None
            if label_path and not overwrite and os.path.exists(label_path):
                label_path = None
            task = Task(source.split, index, os.path.join(source.image_dir, entry.file_name), entry, pending,
                        label_path, None)
            if pending:
                records.append(task)
            elif label_path:
                labels.append(task)
    return records + labels, shards


def check_image(task):
    """(task, [problems], whether the file exists) for one image: the file decodes as JPEG or PNG, has the size
    the annotation file gives, and pycocotools rasterises its annotations. The task comes back with the image
    format."""
    entry = task.entry
    if not os.path.isfile(task.path):
        return task, [f'{task.path}: image not found (image id {entry.image_id})'], False
    info = image_info(task.path)
    if isinstance(info, str):
        return task, [info], True
    image_format, height, width = info
    problems = [f'{task.path} is {width}x{height} but the annotation file says {entry.width}x{entry.height} '
                f'(image id {entry.image_id})'] if (height, width) != (entry.height, entry.width) else []
    problems += [f'{task.path}: {problem}' for problem in coco.check_rasterises(entry)]
    return task._replace(image_format=image_format), problems, True


def check_images(tasks, sources, num_workers):
    """Every task after `check_image`, in order; one UserError naming every bad image (one line for a split
    none of whose images is found: a wrong folder) before anything is written."""
    checked, problems, missing = {}, {}, set()
    for task, found, exists in imap_progress(check_image, tasks, num_workers, desc='checking'):
        checked[task.split, task.index] = task
        problems[task.split, task.index] = found
        if not exists:
            missing.add((task.split, task.index))
    listed = []
    for split, source in sources.items():
        keys = [(t.split, t.index) for t in tasks if t.split == split]
        if len(keys) > 1 and missing.issuperset(keys):
            listed.append(f'{source.image_dir}: none of the {len(keys)} {split} images is there (first: '
                          f'{checked[keys[0]].entry.file_name}); is it the folder of {source.annotations_file}?')
        else:
            listed += [problem for key in keys for problem in problems[key]]
    if listed:
        raise UserError(problem_list(f'{len(listed)} problems with the images, nothing written:', listed))
    return [checked[t.split, t.index] for t in tasks]


def png_bytes(label):
    """A label map as the bytes of an 8-bit grayscale PNG, as the VOC records store labels."""
    buffer = io.BytesIO()
    Image.fromarray(label, mode='L').save(buffer, format='PNG', compress_level=LABEL_PNG_LEVEL)
    return buffer.getvalue()


def encode_image(task):
    """(index, serialized example or None, label PNG bytes or None) for one image, its label map rasterised
    here, in the worker; the label bytes come back when the task has a `label_path`."""
    label = png_bytes(coco.label_map(task.entry))
    example = None
    if task.record:
        with open(task.path, 'rb') as handle:
            image = handle.read()
        entry = task.entry
        example = encode_example(image, task.image_format, entry.height, entry.width, label, entry.file_name)
    return task.index, example, label if task.label_path else None


def save_labels(results, label_paths):
    """Write the label PNGs that `results` carry to `label_paths` ({index: path}) and pass (index, example) on.
    Written here, not in the workers, so that a stopped run leaves no temporary file in the label folder."""
    for index, example, label in results:
        if label is not None:
            with atomic_path(label_paths[index]) as tmp:
                with open(tmp, 'wb') as handle:
                    handle.write(label)
        yield index, example


def in_order(results, order):
    """The examples of `results` ((index, example or None), any order) in the order of the indices `order`."""
    waiting, position = {}, 0
    for index, example in results:
        if example is None:
            continue
        waiting[index] = example
        while position < len(order) and order[position] in waiting:
            yield waiting.pop(order[position])
            position += 1


def write_shards(examples, shards):
    """Write the example stream into `shards` ([(path, count)]), each whole or not at all, then drain the stream
    (label-only tasks come after the records)."""
    examples = iter(examples)
    for path, count in shards:
        with atomic_path(path) as tmp:
            with tf.io.TFRecordWriter(tmp) as writer:
                for _ in range(count):
                    writer.write(next(examples))
    if next(examples, None) is not None:
        raise RuntimeError('more examples than the shards hold')


def write_label_folder(label_dir, description, entries_by_split):
    """dataset.json (so evaluate.py knows the classes) and a <split>.txt id list beside the label PNGs."""
    write_dataset_info(label_dir, {key: description[key] for key in ('dataset', 'classes', 'num_classes')})
    for split, entries in entries_by_split.items():
        with atomic_path(os.path.join(label_dir, f'{split}.txt')) as tmp:
            with open(tmp, 'w', encoding='utf-8') as handle:
                handle.writelines(os.path.splitext(coco.label_name(e.file_name))[0] + '\n' for e in entries)


def convert(sources, data_dir, mode, min_area=None, num_shards=None, label_dir=None, num_workers=None,
            overwrite=False):
    """Convert the splits of `sources` ({split: Source}) into COCO records in `data_dir`.

    Everything is checked before anything is written; existing shards of the same settings are kept unless
    `overwrite`. Returns {split: (images, shard paths, shards written now)}.
    """
    entries = {split: read_split(source, mode, min_area) for split, source in sources.items()}
    shard_counts = {split: num_shards or default_shards(len(e)) for split, e in entries.items()}
    for split, count in shard_counts.items():
        if count > len(entries[split]):
            raise UserError(f'--num_shards {count} is more than the {len(entries[split])} {split} images')
    settings = {split: split_settings(sources[split], entries[split], shard_counts[split], min_area)
                for split in sources}
    resume, description = plan(data_dir, settings, mode, overwrite)
    labelled = read_dataset_info(label_dir).get('classes', mode) if label_dir and os.path.isdir(label_dir) else mode
    if labelled != mode and not overwrite:
        raise UserError(f'{label_dir}: holds labels made with --classes {labelled}; pass --overwrite to replace them')
    paths = {split: record_paths(data_dir, split, shard_counts[split], PREFIX) for split in sources}
    work = {split: tasks_of(sources[split], entries[split], paths[split], resume[split], label_dir, overwrite)
            for split in sources}
    checked = check_images([t for tasks, _ in work.values() for t in tasks], sources, num_workers)
    for split in sources:
        for path in existing_records(data_dir, split, PREFIX) if not resume[split] else []:
            os.remove(path)
    write_dataset_info(data_dir, description)
    for split, (tasks, shards) in work.items():
        mine = [t for t in checked if t.split == split]
        order = [t.index for t in mine if t.record]
        results = imap_progress(encode_image, mine, num_workers, desc=f'writing {split}')
        labelled = save_labels(results, {t.index: t.label_path for t in mine if t.label_path})
        write_shards(in_order(labelled, order), shards)
    if label_dir:
        write_label_folder(label_dir, description, entries)
    return {split: (len(entries[split]), paths[split], len(work[split][1])) for split in sources}
