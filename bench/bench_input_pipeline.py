"""Input pipeline throughput (images/s): the training pipeline against its sequential, unprefetched self.

Writes synthetic VOC-sized records (500x375 JPEGs with grayscale labels) to a temporary folder, then
times full epochs of preprocessing.input_fn both ways in the same run, alternating, and prints the ratio.
Usage: .venv/bin/python bench/bench_input_pipeline.py [--num_images 160] [--epochs 3] [--repeats 3]
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import tensorflow as tf
from PIL import Image

from preprocessing import input_fn
from utils.common.parallel import default_workers
from utils.data.demo_data import make_sample
from utils.records.tfrecords import write_records

VOC_SIZE = (500, 375)


def write_voc_sized_pairs(folder, count, seed=0):
    """`count` synthetic 500x375 JPEG/PNG pairs (demo scenes scaled up, plus pixel noise); returns the pairs."""
    pairs = []
    for k in range(count):
        rng = np.random.default_rng([seed, k])
        image, label = make_sample(rng)
        image = np.asarray(Image.fromarray(image).resize(VOC_SIZE, Image.BILINEAR), dtype=np.float64)
        image = np.clip(image + rng.normal(0, 6, size=image.shape), 0, 255).astype(np.uint8)
        ident = f'bench_{k:05d}'
        image_path, label_path = os.path.join(folder, ident + '.jpg'), os.path.join(folder, ident + '.png')
        Image.fromarray(image).save(image_path, quality=90)
        Image.fromarray(label, mode='L').resize(VOC_SIZE, Image.NEAREST).save(label_path)
        pairs.append((ident, image_path, label_path))
    return pairs


def images_per_second(make_dataset, batch_size):
    """Images per second over the whole dataset, the first batch (start-up, shuffle buffer fill) excluded."""
    iterator = iter(make_dataset())
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in iterator:
        count += batch_size
    return count / (time.perf_counter() - start)


def single_threaded(dataset):
    """The same dataset restricted to one thread, without autotuning."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return dataset.with_options(options)


def main():
    """Build the records, time both pipelines alternately, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--num_images', type=int, default=160, help='Synthetic 500x375 images (default: 160).')
    parser.add_argument('--batch_size', type=int, default=4, help='Batch size (default: 4).')
    parser.add_argument('--crop_size', type=int, default=513, help='Training crop side (default: 513).')
    parser.add_argument('--num_shards', type=int, default=4, help='Record shards (default: 4).')
    parser.add_argument('--epochs', type=int, default=3, help='Epochs per timed run (default: 3).')
    parser.add_argument('--repeats', type=int, default=3, help='Timed runs per pipeline (default: 3).')
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        pairs = write_voc_sized_pairs(tmp, args.num_images)
        records = os.path.join(tmp, 'records')
        write_records(records, {'train': pairs}, num_shards=args.num_shards)
        crop = (args.crop_size, args.crop_size)

        def parallel():
            return input_fn(records, True, args.batch_size, args.epochs, crop_size=crop, seed=0)

        def sequential():
            return single_threaded(input_fn(records, True, args.batch_size, args.epochs, crop_size=crop, seed=0,
                                            num_parallel_calls=None, prefetch=None))

        rates = {'sequential': [], 'parallel': []}
        for _ in range(args.repeats):
            rates['sequential'].append(images_per_second(sequential, args.batch_size))
            rates['parallel'].append(images_per_second(parallel, args.batch_size))

    best = {name: max(values) for name, values in rates.items()}
    print(f'{args.num_images} synthetic {VOC_SIZE[0]}x{VOC_SIZE[1]} JPEGs, crop {args.crop_size}, '
          f'batch {args.batch_size}, {default_workers()} cores, best of {args.repeats} runs of {args.epochs} epochs, '
          f'load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after')
    for name, values in rates.items():
        print(f'{name:>10}: {best[name]:7.1f} images/s  (runs: {", ".join(f"{v:.1f}" for v in values)})')
    print(f'     ratio: {best["parallel"] / best["sequential"]:.2f}x')


if __name__ == '__main__':
    main()
