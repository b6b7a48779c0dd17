"""Images of a list of ids, found by id and read in a background thread while the model runs on the last."""
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
    """Yield (item, load(item)) in order while up to `depth` later items load in a background thread."""
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        futures = [pool.submit(load, item) for item in items[:depth]]
        for index, item in enumerate(items):
            result = futures[index].result()
            if index + depth < len(items):
                futures.append(pool.submit(load, items[index + depth]))
            yield item, result


def read_images(image_dir, ids):
    """Yield (image_id, RGB image) for every id of `image_dir`, reading ahead."""
    return read_ahead(lambda image_id: read_image(image_path(image_dir, image_id)), ids)
