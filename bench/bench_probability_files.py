"""Saved probability files: size per image and what the encoding changes downstream, on trained models' outputs.

The demo's three probability sources (DeepLabv3, DeepLabv3+, DeepLabv3 at scales 0.75/1/1.25 + flip) are computed
in float32 on the demo's val images and on generated images of VOC's typical 500x375 (the demo's shapes, drawn
at that size), then stored as float16 (the files written before) and as uint8 in steps of 1/255 (what
inference.py writes now). For each encoding: compressed bytes per image, seconds to write and read one, and the
pixels whose label differs from the one computed from float32 probabilities, for each source's argmax, the
DenseCRF on the TTA probabilities (DeepLab's defaults) and the soft ensemble (mean) of the three.
Needs a finished `demo.py --output_dir DIR` (its models/ and VOC2012/).

Usage: .venv/bin/python bench/bench_probability_files.py --demo_dir demo_output [--num_voc_size 10]
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from utils.cli.environment import tensorflow_defaults  # noqa: E402

tensorflow_defaults()

import numpy as np  # noqa: E402
from workloads import checkpoint_outputs, write_rows  # noqa: E402

from utils.common.files import read_id_list  # noqa: E402
from utils.data.demo_data import make_demo_voc  # noqa: E402
from utils.postprocess import crf  # noqa: E402
from utils.postprocess.probabilities import PROBABILITY_KEY, read_probabilities, save_probabilities  # noqa: E402
from utils.postprocess.soft_voting import average  # noqa: E402
from utils.runtime.image_feed import read_images  # noqa: E402

SOURCES = (('deeplabv3', (1.0,), False), ('deeplabv3plus', (1.0,), False),
           ('deeplabv3', (0.75, 1.0, 1.25), True))
NUM_CLASSES = 21
VOC_SIZE = (375, 500)


def save_float16(path, probabilities):
    """The encoding inference.py used before: compressed float16."""
    with open(path, 'wb') as handle:
        np.savez_compressed(handle, **{PROBABILITY_KEY: probabilities.astype(np.float16)})


ENCODINGS = {'float16 (before)': save_float16, 'uint8 in 1/255 (now)': save_probabilities}


def float32_probabilities(demo_dir, images, crop):
    """[[probabilities per image] per source] in float32."""
    return [[probabilities for _, probabilities in checkpoint_outputs(
        os.path.join(demo_dir, 'models', model), images, 'float32', scales, flip, crop)]
        for model, scales, flip in SOURCES]


def downstream_labels(images, sources):
    """{output: [labels per image]}: each source's argmax, the CRF on the TTA source, the soft ensemble."""
    labels = {f'argmax {k}': [p.argmax(axis=2) for p in probs] for k, probs in enumerate(sources)}
    labels['DenseCRF on TTA'] = [crf.refine(image, prob, crf.PROBABILITY_DEFAULTS)
                                 for image, prob in zip(images, sources[2])]
    labels['soft ensemble'] = [average([s[i] for s in sources], [1, 1, 1]).argmax(axis=2)
                               for i in range(len(images))]
    return labels


def measure(name, images, reference, folder):
    """Rows of one image set: per encoding, sizes, times and changed labels against float32."""
    truth = downstream_labels(images, reference)
    rows = []
    for encoding, save in ENCODINGS.items():
        decoded, sizes, write_s, read_s = [], [], [], []
        for k, probs in enumerate(reference):
            decoded.append([])
            for i, prob in enumerate(probs):
                path = os.path.join(folder, f'{k}_{i}.npz')
                started = time.perf_counter()
                save(path, prob)
                write_s.append(time.perf_counter() - started)
                sizes.append(os.path.getsize(path))
                started = time.perf_counter()
                decoded[-1].append(read_probabilities(path, NUM_CLASSES))
                read_s.append(time.perf_counter() - started)
        changed = {output: sum(int((a != b).sum()) for a, b in zip(truth[output], labels))
                   for output, labels in downstream_labels(images, decoded).items()}
        pixels = sum(p.shape[0] * p.shape[1] for p in reference[0])
        rows.append({'images': name, 'encoding': encoding, 'count': len(images),
                     'mean_bytes': float(np.mean(sizes)), 'max_bytes': int(max(sizes)),
                     'bytes_per_pixel': float(np.sum(sizes)) / (pixels * len(reference)),
                     'write_s': float(np.median(write_s)), 'read_s': float(np.median(read_s)),
                     'max_abs_error': max(float(np.abs(d - r).max()) for ds, rs in zip(decoded, reference)
                                          for d, r in zip(ds, rs)),
                     'changed_pixels': changed, 'pixels': pixels})
    return rows


def print_rows(rows):
    print('| images | encoding | KB per image (mean / max) | bytes per pixel | write / read (ms) | max error | '
          'labels changed (of all pixels): argmax v3, v3+, TTA; CRF; soft ensemble |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for row in rows:
        changed = '; '.join(f'{n}' for n in row['changed_pixels'].values())
        print(f'| {row["images"]} ({row["count"]}) | {row["encoding"]} | {row["mean_bytes"] / 1e3:.1f} / '
              f'{row["max_bytes"] / 1e3:.1f} | {row["bytes_per_pixel"]:.3f} | {1e3 * row["write_s"]:.0f} / '
              f'{1e3 * row["read_s"]:.0f} | {row["max_abs_error"]:.4f} | {changed} (of {row["pixels"]}) |',
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--demo_dir', required=True, help='Output folder of a finished demo.py run.')
    parser.add_argument('--crop', type=int, default=81, help='Eval crop the demo trained with (default: 81).')
    parser.add_argument('--num_voc_size', type=int, default=10, help='Generated 500x375 images (default: 10).')
    parser.add_argument('--json', default=None, help='Also write the rows to this JSON file.')
    args = parser.parse_args(argv)
    data = os.path.join(args.demo_dir, 'VOC2012')
    ids = read_id_list(os.path.join(data, 'ImageSets', 'Segmentation', 'val.txt'))
    sets = {'demo val': [image for _, image in read_images(os.path.join(data, 'JPEGImages'), ids)]}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.num_voc_size:
            voc = make_demo_voc(os.path.join(scratch, 'voc_size'), num_train=0, num_val=args.num_voc_size,
                                num_test=0, seed=11, image_size=VOC_SIZE)
            sets['500x375'] = [image for _, image in read_images(voc['image_dir'], read_id_list(voc['val_list']))]
        for name, images in sets.items():
            rows += measure(name, images, float32_probabilities(args.demo_dir, images, args.crop), scratch)
    print_rows(rows)
    write_rows(args.json, rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
