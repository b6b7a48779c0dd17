"""Throughput of stacking, DenseCRF and scoring on 500x375 images with 21 classes, against baselines run here.

    .venv/bin/python bench/bench_postprocessing.py [--images 48] [--crf_images 6]

Baselines, measured in the same run on the same synthetic data:
- stacking: a naive per-pixel Python voter, and the I/O floor (decode the input PNGs, encode the output);
- DenseCRF (probabilities, DeepLab defaults, 10 iterations): one worker against all workers, and the bare
  pydensecrf call on in-memory arrays;
- scoring: decoding the ground-truth and prediction PNGs alone.
"""
import argparse
import collections
import os
import sys
import tempfile
import time

import numpy as np
import pydensecrf.densecrf as dcrf
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.common.parallel import default_workers
from utils.data.voc import NUM_CLASSES, read_image, read_label, save_label
from utils.postprocess import crf
from utils.postprocess.scoring import score_folders
from utils.postprocess.voting import stack_folders

HEIGHT, WIDTH = 375, 500
FOLDERS = ('model_a', 'model_b', 'model_c')


def blobs(rng, base=None, count=6):
    """A label map of background with `count` filled ellipses of random classes (on top of `base`)."""
    label = np.zeros((HEIGHT, WIDTH), np.uint8) if base is None else base.copy()
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    for _ in range(count):
        cy, cx = rng.integers(0, HEIGHT), rng.integers(0, WIDTH)
        ry, rx = rng.integers(15, 120, size=2)
        label[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = rng.integers(1, NUM_CLASSES)
    return label


def make_data(root, count, crf_count):
    """Ground truth, three noisy models' results, RGB images and probability files."""
    rng = np.random.default_rng(0)
    for name in ('gt', 'images', 'probs') + FOLDERS:
        os.makedirs(os.path.join(root, name))
    ids = [f'img_{i:04d}' for i in range(count)]
    for ident in ids:
        gt = blobs(rng)
        gt[np.abs(np.diff(gt, axis=0, prepend=0)) > 0] = 255  # void outlines, as VOC draws them
        save_label(os.path.join(root, 'gt', ident + '.png'), gt)
        for folder in FOLDERS:
            save_label(os.path.join(root, folder, ident + '.png'), blobs(rng, np.where(gt == 255, 0, gt), 2))
        colours = rng.integers(0, 256, size=(256, 3)).astype(np.uint8)
        image = np.clip(colours[gt].astype(np.int16) + rng.integers(-20, 20, size=(HEIGHT, WIDTH, 3)), 0, 255)
        Image.fromarray(image.astype(np.uint8)).save(os.path.join(root, 'images', ident + '.jpg'), quality=90)
    for ident in ids[:crf_count]:
        label = read_label(os.path.join(root, FOLDERS[0], ident + '.png'))
        logits = rng.normal(size=(HEIGHT, WIDTH, NUM_CLASSES)).astype(np.float32)
        logits[np.arange(HEIGHT)[:, None], np.arange(WIDTH)[None], label] += 3
        prob = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
        np.savez_compressed(os.path.join(root, 'probs', ident + '.npz'), probabilities=prob.astype(np.float16))
    return ids


def race(repeats, fns):
    """{name: smallest wall time} of `repeats` rounds calling every fn() in turn, so that load from other
    processes hits all contenders alike."""
    best = {name: float('inf') for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def naive_vote(labels):
    """The original project's way: a Python loop over pixels, counting votes per pixel."""
    height, width = labels[0].shape
    out = np.empty((height, width), np.uint8)
    for y in range(height):
        for x in range(width):
            votes = collections.Counter(int(label[y, x]) for label in labels if label[y, x] != 255)
            out[y, x] = min(v for v, n in votes.items() if n == max(votes.values())) if votes else 255
    return out


def bench_stacking(root, ids, workers):
    """Per-image seconds of stacking (1 and all workers), the I/O floor and the naive voter."""
    inputs = [os.path.join(root, f) for f in FOLDERS]
    out = os.path.join(root, 'stacked')

    stack_folders(inputs, out, ids, num_workers=1)
    stacked = {ident: read_label(os.path.join(out, ident + '.png')) for ident in ids}

    def io_floor():
        """Decode the three inputs and encode the very same output, without voting."""
        for ident in ids:
            for folder in inputs:
                read_label(os.path.join(folder, ident + '.png'))
            save_label(os.path.join(root, 'floor', ident + '.png'), stacked[ident])

    labels = [read_label(os.path.join(d, ids[0] + '.png')) for d in inputs]
    times = race(5, {
        'stacking, 1 worker': lambda: stack_folders(inputs, out, ids, num_workers=1, overwrite=True),
        f'stacking, {workers} workers': lambda: stack_folders(inputs, out, ids, num_workers=workers, overwrite=True),
        'I/O floor (decode 3 inputs + encode output)': io_floor})
    times = {name: seconds / len(ids) for name, seconds in times.items()}
    times.update(race(1, {'naive per-pixel Python voter (vote only)': lambda: naive_vote(labels)}))
    return times


def bare_crf(image, unary, params):
    """pydensecrf called directly on ready arrays: the floor of any CRF tool."""
    d = dcrf.DenseCRF2D(image.shape[1], image.shape[0], unary.shape[0])
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=params.gauss_sxy, compat=params.gauss_compat)
    d.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb, rgbim=image,
                           compat=params.bilateral_compat)
    return d.inference(params.iterations)


def bench_crf(root, ids, workers):
    """Per-image seconds of the CRF tool (1 and all workers) and of the bare pydensecrf call."""
    ids = ids[:len(os.listdir(os.path.join(root, 'probs')))]
    images, probs = os.path.join(root, 'images'), os.path.join(root, 'probs')
    out = os.path.join(root, 'crf')
    arrays = [(read_image(os.path.join(images, i + '.jpg')).copy(),
               crf.probability_unary(crf.read_probabilities(os.path.join(probs, i + '.npz'), NUM_CLASSES)))
              for i in ids]
    times = race(2, {
        'densecrf, 1 worker': lambda: crf.refine_folder(images, out, ids, prob_dir=probs, num_workers=1,
                                                        overwrite=True),
        f'densecrf, {workers} workers': lambda: crf.refine_folder(images, out, ids, prob_dir=probs,
                                                                  num_workers=workers, overwrite=True)})
    times = {name: seconds / len(ids) for name, seconds in times.items()}
    # Tool against bare call image by image, alternating, so both meet the same load from other processes.
    pairs = [race(3, {'tool': lambda i=i: crf.refine_folder(images, out, [i], prob_dir=probs, num_workers=1,
                                                            overwrite=True),
                      'bare': lambda a=a: bare_crf(*a, crf.PROBABILITY_DEFAULTS)})
             for i, a in zip(ids, arrays)]
    times['densecrf, 1 worker, image by image'] = sum(p['tool'] for p in pairs) / len(ids)
    times['bare pydensecrf call (in-memory unary)'] = sum(p['bare'] for p in pairs) / len(ids)
    return times


def bench_scoring(root, ids, workers):
    """Per-image seconds of scoring one folder (1 and all workers) and of decoding its PNGs alone."""
    gt, pred = os.path.join(root, 'gt'), os.path.join(root, FOLDERS[0])

    def decode():
        for ident in ids:
            read_label(os.path.join(gt, ident + '.png'))
            read_label(os.path.join(pred, ident + '.png'))

    times = race(5, {'scoring, 1 worker': lambda: score_folders([pred], gt, ids, NUM_CLASSES, 1),
                     f'scoring, {workers} workers': lambda: score_folders([pred], gt, ids, NUM_CLASSES, workers),
                     'decode gt + prediction alone': decode})
    return {name: seconds / len(ids) for name, seconds in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=48, help='Images for stacking and scoring (default: 48).')
    parser.add_argument('--crf_images', type=int, default=6, help='Images for the CRF (default: 6).')
    args = parser.parse_args()
    workers = default_workers()
    with tempfile.TemporaryDirectory() as root:
        ids = make_data(root, args.images, args.crf_images)
        results = {'stacking': bench_stacking(root, ids, workers), 'densecrf': bench_crf(root, ids, workers),
                   'scoring': bench_scoring(root, ids, workers)}
    print(f'{args.images} images of {WIDTH}x{HEIGHT}, 21 classes ({args.crf_images} for the CRF), {workers} cores, '
          f'load average {os.getloadavg()[0]:.1f} at the end')
    for section, rows in results.items():
        print(f'\n{section}: ms per image')
        for name, seconds in rows.items():
            print(f'  {name:45s} {1000 * seconds:10.1f}')
    s, c, k = results['stacking'], results['densecrf'], results['scoring']
    floor = s['I/O floor (decode 3 inputs + encode output)']
    print('\nratios')
    print(f'  stacking (1 worker) / I/O floor:              {s["stacking, 1 worker"] / floor:.2f}  (goal <= 1.5)')
    naive = s['naive per-pixel Python voter (vote only)']
    print(f'  naive voter / stacking (1 worker):            {naive / s["stacking, 1 worker"]:.0f}x')
    print(f'  densecrf 1 worker / {workers} workers (speed-up):     '
          f'{c["densecrf, 1 worker"] / c[f"densecrf, {workers} workers"]:.2f}  (goal >= 1.7 with 2)')
    print(f'  densecrf (1 worker, image by image) / bare:   '
          f'{c["densecrf, 1 worker, image by image"] / c["bare pydensecrf call (in-memory unary)"]:.3f}'
          '  (goal <= 1.10)')
    print(f'  scoring (1 worker) / decode alone:            '
          f'{k["scoring, 1 worker"] / k["decode gt + prediction alone"]:.2f}  (goal <= 1.3)')


if __name__ == '__main__':
    main()
