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
