"""Test set-up: import the project from its root, TensorFlow's environment as the scripts set it; shared model
fixtures."""
import os
import signal
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
sys.path.insert(0, ROOT)

from utils.cli.environment import tensorflow_defaults  # noqa: E402

tensorflow_defaults()


def pytest_itemcollected(item):
    """Refuse a test id that pytest escaped (a backslash, a non-ASCII or unprintable character, each written with a
    backslash): the escaped id names no test on a command line, so `pytest <id>` and mutmut's reruns of the tests
    that reach a mutant could not run it."""
    if '\\' in item.nodeid:
        raise pytest.UsageError(f'{item.nodeid}: give this case an id without backslashes or non-ASCII characters')


class TooSlow(Exception):
    """A test that ran past its time limit (a download, a checksum or a link walk that never ends)."""


@pytest.fixture
def time_limit():
    """The test fails with TooSlow after 10 s instead of hanging (files that may loop use it for every test)."""
    def stop(signum, frame):
        raise TooSlow('still running after 10 s')
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True, scope='session')
def default_sigterm_action():
    """SIGTERM's default action in the test process, so that the workers its pools fork die of it as usual when a
    pool ends. mutmut's fork server leaves its own SIGTERM handler in the runs it forks, and that handler
    SIGKILLs the server's other runs: a worker pool ending in one mutant's run killed the mutants run beside it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def snapshot(root):
    """{path: (bytes, mtime) or 'dir'} of everything under `root`: equal before and after means nothing was
    written, removed or touched (a rewrite with the same bytes moves the mtime)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        state.update({os.path.join(folder, d): 'dir' for d in dirs})
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as handle:
                state[path] = (handle.read(), os.stat(path).st_mtime_ns)
    return state


def write_random_checkpoint(model_dir, params, logit_biases=None):
    """A train.py-like checkpoint (model variables + global_step) with random weights and batch-norm statistics,
    and `logit_biases` (one per class) when given, to favour some classes."""
    import tensorflow as tf

    import deeplab_model
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, None, None, 3]), params, training=False)
        tf1.train.get_or_create_global_step()
        means = [v for v in tf1.global_variables() if v.op.name.endswith('moving_mean')]
        shuffle = [tf1.assign(v, tf1.random_normal(v.shape, stddev=0.1)) for v in means]
        if logit_biases is not None:
            biases = next(v for v in tf1.global_variables() if v.op.name == 'logits/semantic/biases')
            shuffle.append(tf1.assign(biases, logit_biases))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(shuffle)
            tf1.train.Saver().save(sess, os.path.join(model_dir, 'model.ckpt'), global_step=0)


def write_voc_with_model(root, sizes, params):
    """Random JPEG images of `sizes` ({id: (h, w)}) with labels 0..4, a val.txt list, and a random model folder
    with its saved params, under `root`; returns `root`."""
    import numpy as np
    from PIL import Image

    from utils.data.voc import save_label
    from utils.runtime.model_config import save_model_params
    images, labels, model_dir = root / 'JPEGImages', root / 'SegmentationClass', root / 'model'
    images.mkdir(), labels.mkdir(), model_dir.mkdir()
    rng = np.random.RandomState(0)
    for image_id, size in sizes.items():
        Image.fromarray(rng.randint(0, 256, size + (3,)).astype(np.uint8)).save(images / f'{image_id}.jpg')
        save_label(str(labels / f'{image_id}.png'), rng.randint(0, 5, size))
    (root / 'val.txt').write_text('\n'.join(sizes) + '\n')
    write_random_checkpoint(str(model_dir), params)
    save_model_params(str(model_dir), params)
    return root


def write_demo_records(tmp_path_factory, num_train, num_val):
    """Records of a generated VOC-layout data set (create_tf_record.py, one worker); returns their folder."""
    import create_tf_record
    from utils.common.errors import run_cli
    from utils.data.demo_data import make_demo_voc
    demo = make_demo_voc(str(tmp_path_factory.mktemp('voc')), num_train=num_train, num_val=num_val, num_test=0)
    out = str(tmp_path_factory.mktemp('records'))
    assert run_cli(create_tf_record.main, ['--data_dir', out, '--image_data_dir', demo['image_dir'],
                                           '--label_data_dir', demo['aug_label_dir'], '--num_workers', '1']) == 0
    return out


def _uncompressed_rle(mask):
    """A boolean mask as COCO's uncompressed RLE (crowd annotations): run lengths in column-major order, zeros
    first."""
    flat = mask.ravel(order='F').astype(int)
    runs = np.diff(np.r_[0, np.flatnonzero(np.diff(flat)) + 1, flat.size]).tolist()
    return {'size': list(mask.shape), 'counts': ([0] if flat[0] else []) + runs}


def _block(shape, rows, cols):
    """A boolean mask of `shape` that is True in the rectangle of rows [r0, r1) and columns [c0, c1)."""
    mask = np.zeros(shape, bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


# image id -> (file name, (height, width), [(category id, segmentation kind, geometry)]); kinds: 'poly' (one or
# more [x0, y0, x1, y1] boxes drawn as polygons, several parts), 'crowd' (uncompressed RLE of a block of
# (rows, cols)), 'rle' (compressed RLE of a block).
COCO_TRAIN = {
    1: ('000000000001.jpg', (60, 80), [
        (1, 'poly', [(5, 5, 30, 40), (40, 45, 55, 58)]),   # person in two parts
        (18, 'poly', [(20, 20, 50, 50)]),                   # dog over the person: different classes overlap
        (3, 'poly', [(55, 5, 75, 25)]), (3, 'poly', [(65, 15, 79, 35)]),  # two cars overlap: same class
        (8, 'poly', [(0, 45, 30, 59)]),                     # truck (not VOC) over the dog
        (1, 'crowd', ((30, 45), (60, 80))),                 # a crowd of persons over the second car
    ]),
    2: ('000000000002.jpg', (60, 80), []),                  # no annotations
    3: ('000000000003.jpg', (60, 80), [
        (16, 'poly', [(10, 10, 20, 20)]),                   # a small bird: under the area threshold with VOC classes
        (22, 'poly', [(30, 10, 79, 50)]),                   # a large elephant (not VOC)
    ]),
    4: ('000000000004.png', (60, 80), [
        (17, 'rle', ((0, 40), (0, 50))),                    # cat as compressed RLE, PNG image
        (72, 'poly', [(40, 30, 79, 59)]),                   # tv over the cat
    ]),
    5: ('000000000005.jpg', (50, 70), [(19, 'poly', [(5, 5, 60, 45)])]),  # horse, another image size
}
COCO_VAL = {
    11: ('000000000011.jpg', (60, 80), [(1, 'poly', [(5, 5, 40, 55)]), (44, 'poly', [(45, 10, 55, 50)]),
                                       (63, 'poly', [(50, 30, 79, 59)])]),
    12: ('000000000012.jpg', (60, 80), []),
    13: ('000000000013.jpg', (60, 80), [(16, 'poly', [(10, 10, 20, 20)])]),
}


def _coco_annotation(ann_id, image_id, size, category, kind, geometry):
    """One COCO annotation of a COCO_TRAIN-style description, its `area` measured by pycocotools."""
    from pycocotools import mask as mask_utils
    if kind == 'poly':
        segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1] for x0, y0, x1, y1 in geometry]
        area = mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(segmentation, *size)))
    else:
        mask = _block(size, *geometry)
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        segmentation = _uncompressed_rle(mask) if kind == 'crowd' else dict(rle, counts=rle['counts'].decode())
        area = mask.sum()
    return {'id': ann_id, 'image_id': image_id, 'category_id': category, 'segmentation': segmentation,
            'area': float(area), 'iscrowd': int(kind == 'crowd'), 'bbox': [0, 0, 1, 1]}


def write_coco_split(image_dir, annotations_file, images):
    """A COCO-format instances file (all 80 categories) and random images for `images` (as COCO_TRAIN)."""
    import json

    from PIL import Image

    from utils.data.coco_classes import CATEGORIES
    rng = np.random.RandomState(len(images))
    os.makedirs(image_dir, exist_ok=True)
    data = {'images': [], 'annotations': [],
            'categories': [{'id': i, 'name': name, 'supercategory': ''} for i, name in CATEGORIES.items()]}
    for image_id, (file_name, size, annotations) in images.items():
        Image.fromarray(rng.randint(0, 256, size + (3,)).astype(np.uint8)).save(os.path.join(image_dir, file_name))
        data['images'].append({'id': image_id, 'file_name': file_name, 'height': size[0], 'width': size[1]})
        for k, annotation in enumerate(annotations):
            data['annotations'].append(_coco_annotation(100 * image_id + k, image_id, size, *annotation))
    with open(annotations_file, 'w', encoding='utf-8') as handle:
        json.dump(data, handle)
    return annotations_file


def write_coco(root):
    """The official layout under `root` (train2017/, val2017/, annotations/instances_*.json) with COCO_TRAIN and
    COCO_VAL; returns the converter's split flags."""
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    flags = []
    for split, images in (('train', COCO_TRAIN), ('val', COCO_VAL)):
        image_dir = os.path.join(root, f'{split}2017')
        annotations = os.path.join(root, 'annotations', f'instances_{split}2017.json')
        write_coco_split(image_dir, annotations, images)
        flags += [f'--{split}_image_dir', image_dir, f'--{split}_annotations_file', annotations]
    return flags
