"""Tiny data in the layouts of the official downloads, for the reproduction tests: the VOC 2012 trainval and
test trees, SBD's benchmark_RELEASE with real-format .mat files (written by scipy), and tarballs of them."""
import os
import tarfile

import numpy as np
import scipy.io
from PIL import Image

from utils.demo_data import make_sample
from utils.voc import label_image


def write_sbd_mat(path, label):
    """An SBD cls/*.mat file: the struct GTcls with Segmentation (the class map), Boundaries and
    CategoriesPresent, as the SBD release stores them."""
    classes = np.unique(label[(label > 0) & (label < 255)]).astype(np.uint8)
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = np.zeros(label.shape, dtype=bool)
    scipy.io.savemat(path, {'GTcls': {'Segmentation': label.astype(np.uint8), 'Boundaries': boundaries,
                                      'CategoriesPresent': classes}})


def _sample(k):
    return make_sample(np.random.default_rng([7, k]))


def write_list(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(''.join(f'{i}\n' for i in ids))


def make_voc_and_sbd(root, voc_train, voc_val, sbd_train, sbd_val, test=()):
    """Write VOCdevkit/VOC2012 (trainval), benchmark_RELEASE/dataset (SBD) and, when `test` is given, a test
    VOCdevkit under root/voc_trainval, root/sbd and root/voc_test. Every id gets an image in the trainval
    JPEGImages (SBD's images are VOC trainval images); VOC ids get palette labels with the void band, SBD ids
    .mat labels without it. Returns {id: label} of every label written ({'voc': ..., 'sbd': ...})."""
    voc = os.path.join(root, 'voc_trainval', 'VOCdevkit', 'VOC2012')
    sbd = os.path.join(root, 'sbd', 'benchmark_RELEASE', 'dataset')
    for folder in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(os.path.join(voc, folder), exist_ok=True)
    for folder in ('cls', 'img'):
        os.makedirs(os.path.join(sbd, folder), exist_ok=True)
    ids = sorted(set(voc_train) | set(voc_val) | set(sbd_train) | set(sbd_val))
    labels = {'voc': {}, 'sbd': {}}
    for k, ident in enumerate(ids):
        image, label = _sample(k)
        Image.fromarray(image).save(os.path.join(voc, 'JPEGImages', ident + '.jpg'), quality=90)
        if ident in voc_train or ident in voc_val:
            label_image(label).save(os.path.join(voc, 'SegmentationClass', ident + '.png'))
            labels['voc'][ident] = label
        if ident in sbd_train or ident in sbd_val:
            sbd_label = np.where(label == 255, 0, label).astype(np.uint8)
            write_sbd_mat(os.path.join(sbd, 'cls', ident + '.mat'), sbd_label)
            Image.fromarray(image).save(os.path.join(sbd, 'img', ident + '.jpg'), quality=90)
            labels['sbd'][ident] = sbd_label
    lists = os.path.join(voc, 'ImageSets', 'Segmentation')
    write_list(os.path.join(lists, 'train.txt'), voc_train)
    write_list(os.path.join(lists, 'val.txt'), voc_val)
    write_list(os.path.join(lists, 'trainval.txt'), list(voc_train) + list(voc_val))
    write_list(os.path.join(sbd, 'train.txt'), sbd_train)
    write_list(os.path.join(sbd, 'val.txt'), sbd_val)
    if test:
        test_root = os.path.join(root, 'voc_test', 'VOCdevkit', 'VOC2012')
        os.makedirs(os.path.join(test_root, 'JPEGImages'))
        for k, ident in enumerate(test):
            Image.fromarray(_sample(1000 + k)[0]).save(os.path.join(test_root, 'JPEGImages', ident + '.jpg'))
        write_list(os.path.join(test_root, 'ImageSets', 'Segmentation', 'test.txt'), test)
    return labels


def tar_folder(folder, output, compresslevel=1):
    """A tarball of everything inside `folder` (member names relative to it); gzip by the output's name."""
    mode = 'w:gz' if output.endswith(('.gz', '.tgz')) else 'w'
    options = {'compresslevel': compresslevel} if mode == 'w:gz' else {}
    with tarfile.open(output, mode, **options) as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname=name)
    return output
