"""Network building blocks written with tf.compat.v1 ops under slim-compatible variable names."""
