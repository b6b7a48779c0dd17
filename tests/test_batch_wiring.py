"""Every batch tool of the post-processing stage hands its worker count to the worker pool and names its progress bar
by what it does (the words a user sees under tqdm): a flag like --num_workers is only worth its help line if it
arrives."""
import numpy as np
import pytest
from PIL import Image

from utils.common import parallel
from utils.data.voc import save_label
from utils.postprocess import crf, scoring, soft_voting, submission, voting
from utils.postprocess.probabilities import save_probabilities

IDS = ('a', 'b')


@pytest.fixture
def folders(tmp_path):
    """Images, two label folders, ground truth and a probability folder for the ids a and b."""
    paths = {name: tmp_path / name for name in ('images', 'one', 'two', 'gt', 'probs')}
    for path in paths.values():
        path.mkdir()
    label = np.zeros((6, 8), dtype=np.uint8)
    label[2:5, 3:7] = 15
    probabilities = np.eye(21, dtype=np.float32)[label]
    for ident in IDS:
        Image.fromarray(np.full((6, 8, 3), 120, dtype=np.uint8)).save(paths['images'] / f'{ident}.jpg')
        for name in ('one', 'two', 'gt'):
            save_label(str(paths[name] / f'{ident}.png'), label)
        save_probabilities(str(paths['probs'] / f'{ident}.npz'), probabilities)
    return {name: str(path) for name, path in paths.items()}


def calls_of(monkeypatch, module):
    """The (num_workers, desc) of every pool `module` starts; the work itself runs in this process."""
    calls = []

    def recording(function, items, num_workers=None, desc=None, **kwargs):
        calls.append((num_workers, desc))
        return parallel.imap_progress(function, items, 1, desc=desc, **kwargs)

    monkeypatch.setattr(module, 'imap_progress', recording)
    return calls


BATCHES = {
    'scoring': (scoring, lambda f, out, n: scoring.score_folders([f['one'], f['two']], f['gt'], IDS, 21, n)),
    'checking': (submission, lambda f, out, n: submission.make_submission(f['one'], str(out / 'a.tar.gz'),
                                                                          f['images'], num_workers=n)),
    'densecrf': (crf, lambda f, out, n: crf.refine_folder(f['images'], str(out), label_dir=f['one'], num_workers=n)),
    'tuning': (crf, lambda f, out, n: crf.tune(f['images'], f['gt'], label_dir=f['one'],
                                               grid={'bilateral_sxy': (80,)}, num_workers=n)),
    'fusing': (soft_voting, lambda f, out, n: soft_voting.fuse_folders([f['probs'], f['probs']], str(out),
                                                                       num_workers=n)),
    'stacking': (voting, lambda f, out, n: voting.stack_folders([f['one'], f['two']], str(out), num_workers=n)),
}


@pytest.mark.parametrize('desc', sorted(BATCHES))
def test_the_worker_count_reaches_the_pool_and_the_bar_says_what_runs(desc, folders, tmp_path, monkeypatch):
    module, batch = BATCHES[desc]
    calls = calls_of(monkeypatch, module)
    batch(folders, tmp_path / 'out', 3)
    assert calls == [(3, desc)]
