"""MS-COCO instance annotations as semantic segmentation: read and check an instances file, keep each image's
annotations of the chosen classes, and rasterise one image's label map with pycocotools.

Label rule (torchvision's reference segmentation scripts, so scores compare with its COCO models): a pixel gets
the class of the selected instance covering it, and 255 (void) where two or more selected instances overlap,
whatever their classes; crowd (RLE) instances count like the others.
"""
import collections
import json
import numbers
import os

import numpy as np
from pycocotools import mask as mask_utils

from utils.common.errors import UserError, problem_list
from utils.data.coco_classes import CATEGORIES, category_classes
from utils.data.voc import IGNORE_LABEL

ImageEntry = collections.namedtuple('ImageEntry', 'image_id file_name height width annotations area')
ImageEntry.__doc__ = ('One image of an instances file with its selected annotations, ((annotation id, class value, '
                      'segmentation), ...), and the sum of their `area` values.')
Source = collections.namedtuple('Source', 'split image_dir annotations_file')
Source.__doc__ = 'A split to convert: its name, image folder and instances file.'
_TOP_LEVEL = ('images', 'annotations', 'categories')


def load_instances(path):
    """The parsed instances file; a missing file, malformed JSON or another JSON document is a UserError."""
    if not os.path.isfile(path):
        raise UserError(f'{path}: annotation file not found')
    try:
        with open(path, 'rb') as handle:
            data = json.load(handle)
    except ValueError as err:
        raise UserError(f'{path}: malformed JSON ({err})') from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in _TOP_LEVEL):
        raise UserError(f'{path}: not a COCO instances file (a JSON object with "images", "annotations" and '
                        '"categories" lists)')
    return data


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _image_problem(image):
    """Why an `images` entry cannot be used, or None."""
    if not (isinstance(image, dict) and _is_int(image.get('id')) and isinstance(image.get('file_name'), str)):
        return f'image entry {str(image)[:80]} lacks an integer "id" or a "file_name"'
    if not all(_is_int(image.get(key)) and image[key] > 0 for key in ('height', 'width')):
        return f'image {image["id"]} ({image["file_name"]}): "height" and "width" must be positive integers'
    return None


def _segmentation_problem(segmentation, image):
    """Why a selected annotation's segmentation cannot be rasterised at the image's size, or None (the polygon
    numbers themselves are left to pycocotools, in `check_rasterises`)."""
    if isinstance(segmentation, list):
        return None if all(isinstance(part, list) for part in segmentation) else 'polygons must be lists of numbers'
    if not isinstance(segmentation, dict) or not isinstance(segmentation.get('counts'), (list, str)):
        return 'segmentation is neither polygons nor an RLE with "counts"'
    if segmentation.get('size') != [image['height'], image['width']]:
        return f'RLE size {segmentation.get("size")} differs from the image\'s {[image["height"], image["width"]]}'
    return None


def _annotation_problem(annotation, images, categories, classes):
    """Why an annotation is unusable, or None: an unknown image or category, a malformed selected one."""
    if not isinstance(annotation, dict) or not _is_int(annotation.get('category_id')):
        return f'annotation entry {str(annotation)[:80]} lacks an integer "category_id"'
    name = f'annotation {annotation.get("id")}'
    if annotation.get('image_id') not in images:
        return f'{name}: image id {annotation.get("image_id")} is not in the file\'s image list'
    if annotation['category_id'] not in categories:
        return f'{name}: category id {annotation["category_id"]} is not in the file\'s category list'
    if annotation['category_id'] not in classes:
        return None
    if not isinstance(annotation.get('area'), numbers.Real):
        return f'{name}: "area" must be a number'
    problem = _segmentation_problem(annotation.get('segmentation'), images[annotation['image_id']])
    return f'{name}: {problem}' if problem else None


def _category_ids(data, path, mode):
    """The category ids of the file; in modes that number every category, only official COCO ones."""
    ids, problems = set(), []
    for category in data['categories']:
        if not (isinstance(category, dict) and _is_int(category.get('id'))):
            problems.append(f'category entry {str(category)[:80]} lacks an integer "id"')
        elif mode != 'voc' and category['id'] not in CATEGORIES:
            problems.append(f'category {category["id"]} ({category.get("name")}) is not an MS-COCO category; '
                            f'--classes {mode} numbers the 80 official ones (--classes voc takes any file)')
        else:
            ids.add(category['id'])
    if problems:
        raise UserError(problem_list(f'{path}: {len(problems)} bad categories, nothing written:', problems))
    return ids


def index_images(data, path, mode):
    """[ImageEntry] of every image of a parsed instances file, in file order, with its annotations of the
    classes of `mode` (utils.data.coco_classes.CLASS_MODES). Every problem of the file is named in one UserError."""
    categories = _category_ids(data, path, mode)
    classes = category_classes(mode)
    problems = [problem for problem in map(_image_problem, data['images']) if problem]
    if problems:
        raise UserError(problem_list(f'{path}: {len(problems)} bad image entries, nothing written:', problems))
    images = {image['id']: image for image in data['images']}
    ids = collections.Counter(image['id'] for image in data['images'])
    stems = collections.Counter(label_name(image['file_name']) for image in data['images'])
    problems = [f'image id {ident} is listed {count} times' for ident, count in ids.items() if count > 1]
    problems += [f'{count} images would share the label file {stem}' for stem, count in stems.items() if count > 1]
    selected = collections.defaultdict(list)
    for annotation in data['annotations']:
        problem = _annotation_problem(annotation, images, categories, classes)
        if problem:
            problems.append(problem)
        elif annotation['category_id'] in classes:
            selected[annotation['image_id']].append(annotation)
    if problems:
        raise UserError(problem_list(f'{path}: {len(problems)} problems, nothing written:', problems))
    return [_entry(image, selected[image['id']], classes) for image in data['images']]


def _entry(image, annotations, classes):
    """The ImageEntry of an `images` item and its selected annotations."""
    return ImageEntry(image['id'], image['file_name'], image['height'], image['width'],
                      tuple((a.get('id'), classes[a['category_id']], a['segmentation']) for a in annotations),
                      sum(a['area'] for a in annotations))


def label_name(file_name):
    """The label PNG name of an image: its base name with .png (000000000139.jpg -> 000000000139.png)."""
    return os.path.splitext(os.path.basename(file_name))[0] + '.png'


def to_rle(segmentation, height, width):
    """One RLE of an annotation's mask, as pycocotools' COCO.annToRLE makes it: polygon parts merged,
    uncompressed RLE encoded, compressed RLE as it is; None for an empty polygon list (no pixels)."""
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width)) if segmentation else None
    if isinstance(segmentation['counts'], list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def check_rasterises(entry):
    """Problems (one string each) of the entry's annotations that pycocotools refuses to rasterise."""
    problems = []
    for annotation_id, _, segmentation in entry.annotations:
        try:
            to_rle(segmentation, entry.height, entry.width)
        except Exception as err:  # pycocotools raises bare Exception, TypeError or IndexError on bad polygons
            problems.append(f'annotation {annotation_id}: pycocotools cannot rasterise its segmentation ({err})')
    return problems


def label_map(entry):
    """The uint8 [height, width] label map of an image entry under the label rule of this module."""
    rles, classes = [], []
    for _, value, segmentation in entry.annotations:
        rle = to_rle(segmentation, entry.height, entry.width)
        if rle is not None:
            rles.append(rle)
            classes.append(value)
    if not rles:
        return np.zeros((entry.height, entry.width), np.uint8)
    masks = mask_utils.decode(rles)  # [H, W, N] of 0/1: this image's instances only, never the whole file's
    label = (masks * np.asarray(classes, np.uint8)).max(axis=2)
    # The smallest type that holds the count: exact for any number of instances, and faster than numpy's int64
    label[masks.sum(axis=2, dtype=np.min_scalar_type(len(rles))) > 1] = IGNORE_LABEL
    return label
