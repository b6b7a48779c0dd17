"""Tiny data in the layouts of the official downloads, for the reproduction tests: the VOC 2012 trainval and
test trees, SBD's benchmark_RELEASE with real-format .mat files (written by scipy), and tarballs of them."""
import os
import tarfile

import numpy as np
import scipy.io
from PIL import Image

from utils.data.demo_data import make_sample
from utils.data.voc import label_image


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


def tar_folder(folder, output, compresslevel=0):
    """A tarball of everything inside `folder` (member names relative to it); gzip by the output's name, level 0
    by default (stored blocks: a valid gzip file, written and read fast)."""
    mode = 'w:gz' if output.endswith(('.gz', '.tgz')) else 'w'
    options = {'compresslevel': compresslevel} if mode == 'w:gz' else {}
    with tarfile.open(output, mode, **options) as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname=name)
    return output


def make_model_archives(folder, work):
    """In `folder`: resnet_v2_50_2017_04_14.tar.gz (slim layout: resnet_v2_50.ckpt.*, backbone and ImageNet
    logits) and the two model-zoo tarballs (<name>/model.ckpt.* and <name>/frozen_inference_graph.pb), all from
    one random ResNet-v2-50 DeepLabv3+ (the --quick stand-in for the zoo's Xception-65). `work` is scratch space."""
    import tensorflow as tf

    import deeplab_model
    from utils.runtime.export import frozen_graph_def, write_graph_def
    from utils.runtime.model_config import resolve_model_params
    tf1 = tf.compat.v1
    params = resolve_model_params({'model_variant': 'resnet_v2_50', 'decoder_output_stride': 4})
    slim_dir, zoo_dir = os.path.join(work, 'slim'), os.path.join(work, 'zoo')
    os.makedirs(slim_dir), os.makedirs(zoo_dir)
    with tf.Graph().as_default():
        tf1.set_random_seed(0)
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, None, None, 3]), params, training=False)
        model_vars = tf1.global_variables()
        imagenet_logits = [tf1.get_variable('resnet_v2_50/logits/weights', [1, 1, 2048, 1001]),
                           tf1.get_variable('resnet_v2_50/logits/biases', [1001])]
        backbone = [v for v in model_vars if v.op.name.startswith('resnet_v2_50/')] + imagenet_logits
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver(backbone).save(sess, os.path.join(slim_dir, 'resnet_v2_50.ckpt'), write_meta_graph=False)
            tf1.train.Saver(model_vars).save(sess, os.path.join(zoo_dir, 'model.ckpt'), write_meta_graph=False)
    os.remove(os.path.join(slim_dir, 'checkpoint'))
    os.remove(os.path.join(zoo_dir, 'checkpoint'))
    write_graph_def(frozen_graph_def(os.path.join(zoo_dir, 'model.ckpt'), params, deeplab_model.predict_probabilities,
                                     [129, 129]),
                    os.path.join(zoo_dir, 'frozen_inference_graph.pb'))
    tar_folder(slim_dir, os.path.join(folder, 'resnet_v2_50_2017_04_14.tar.gz'))
    for name, archive in (('deeplabv3_pascal_train_aug', 'deeplabv3_pascal_train_aug_2018_01_04.tar.gz'),
                          ('deeplabv3_pascal_trainval', 'deeplabv3_pascal_trainval_2018_01_04.tar.gz')):
        with tarfile.open(os.path.join(folder, archive), 'w:gz', compresslevel=0) as tar:
            tar.add(zoo_dir, arcname=name)
