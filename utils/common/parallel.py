"""Process-pool map with a progress bar, used by every batch tool (`--num_workers`)."""
import multiprocessing
import os

from tqdm import tqdm


def default_workers():
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


def imap_progress(fn, items, num_workers=None, desc=None, unit='img'):
    """Yield `fn(item)` for every item (in completion order when parallel) while a tqdm bar advances.

    With one worker everything runs in this process, which keeps tracebacks and profiling simple.
    A worker's exception (a UserError, say) is re-raised here and stops the pool.
    """
    items = list(items)
    workers = min(num_workers or default_workers(), max(1, len(items)))
    bar = tqdm(total=len(items), desc=desc, unit=unit, dynamic_ncols=True, disable=None)
    try:
        if workers <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        chunksize = max(1, min(16, len(items) // (workers * 8)))
        with multiprocessing.get_context('fork').Pool(workers) as pool:
            for result in pool.imap_unordered(fn, items, chunksize=chunksize):
                yield result
                bar.update()
    finally:
        bar.close()
