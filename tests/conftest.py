"""Test set-up: import the project from its root, keep TensorFlow quiet; shared model fixtures."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def write_random_checkpoint(model_dir, params):
    """A train.py-like checkpoint (model variables + global_step) with random weights and batch-norm statistics."""
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
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(shuffle)
            tf1.train.Saver().save(sess, os.path.join(model_dir, 'model.ckpt'), global_step=0)


def write_voc_with_model(root, sizes, params):
    """Random JPEG images of `sizes` ({id: (h, w)}) with labels 0..4, a val.txt list, and a random model folder
    with its saved params, under `root`; returns `root`."""
    import numpy as np
    from PIL import Image

    from utils.flags import save_model_params
    from utils.voc import save_label
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
    from utils.demo_data import make_demo_voc
    from utils.errors import run_cli
    demo = make_demo_voc(str(tmp_path_factory.mktemp('voc')), num_train=num_train, num_val=num_val, num_test=0)
    out = str(tmp_path_factory.mktemp('records'))
    assert run_cli(create_tf_record.main, ['--data_dir', out, '--image_data_dir', demo['image_dir'],
                                           '--label_data_dir', demo['aug_label_dir'], '--num_workers', '1']) == 0
    return out
