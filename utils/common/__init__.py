"""What every stage shares and nothing else: the one-line user error (errors), files and id lists written
atomically (files), and the worker pool behind every --num_workers (parallel). No TensorFlow."""
