"""Images of a list of ids, found by id and read in a background thread while the model runs on the last."""
import collections
import concurrent.futures
import os

from utils.common.errors import UserError
from utils.common.files import find_file
from utils.data.voc import IMAGE_EXTENSIONS, read_image

READ_AHEAD = 4


def image_path(image_dir, image_id):
    """The image file of `image_id` in `image_dir` (.jpg, .png, ...), or a UserError naming what is missing."""
    path = find_file(image_dir, image_id, IMAGE_EXTENSIONS)
    if path is None:
        raise UserError(f'{os.path.join(image_dir, image_id)}.jpg: image not found')
    return path


def read_ahead(load, items, depth=READ_AHEAD):
    """Yield (item, load(item)) in order while up to `depth` later items load in a background thread. `items` is
    taken as it goes (a generator works); items not yet started are dropped when the caller stops early."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pending = collections.deque()
    try:
        for item in items:
            pending.append((item, pool.submit(load, item)))
            if len(pending) > depth:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_images(image_dir, ids):
    """Yield (image_id, RGB image) for every id of `image_dir`, reading ahead."""
    return read_ahead(lambda image_id: read_image(image_path(image_dir, image_id)), ids)
