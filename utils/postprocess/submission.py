"""The PASCAL VOC evaluation-server package: results/VOC2012/Segmentation/<comp>_test_cls/<id>.png in a tarball."""
import io
import tarfile
import time

import numpy as np

from utils.common.errors import UserError
from utils.common.files import atomic_path, find_file, read_id_list, require_dir
from utils.common.parallel import imap_progress
from utils.data.voc import IMAGE_EXTENSIONS, NUM_CLASSES, image_size, label_image, read_label
from utils.postprocess.scoring import missing_message, result_files

COMPETITIONS = ('comp5', 'comp6')
VOC2012_TEST_IMAGES = 1456


def archive_folder(comp):
    """Folder of the results inside the tarball, as the server expects it."""
    return f'results/VOC2012/Segmentation/{comp}_test_cls'


def _encoded(task):
    """Worker: one result checked (values 0..20, size of its image) and re-encoded as a VOC-palette PNG."""
    ident, path, image_path = task
    label = read_label(path)
    bad = [int(v) for v in np.unique(label) if v >= NUM_CLASSES]
    if bad:
        raise UserError(f'{path}: values {bad[:5]} outside 0..{NUM_CLASSES - 1} (the server accepts class ids only)')
    height, width = image_size(image_path)
    if (height, width) != label.shape:
        raise UserError(f'{path}: result is {label.shape[1]}x{label.shape[0]} but image {image_path} is '
                        f'{width}x{height}')
    buffer = io.BytesIO()
    label_image(label).save(buffer, format='PNG')
    return ident, buffer.getvalue()


def make_submission(results_dir, output, image_dir, comp='comp6', image_list=None, num_workers=None):
    """Pack the results of `image_list` (default: every PNG in `results_dir`) into the `output` .tar.gz.

    Refuses (UserError, nothing written) when a listed image has no result or no test image in `image_dir`, a
    value is not a class id, or a result does not have its image's size (the server rejects such a package).
    Returns the number of results packed.
    """
    if comp not in COMPETITIONS:
        raise UserError(f'competition must be one of {", ".join(COMPETITIONS)}, not {comp!r}')
    index = result_files(results_dir)
    ids = sorted(index) if image_list is None else read_id_list(image_list)
    if not ids:
        raise UserError(f'{results_dir}: no result PNGs')
    require_dir(image_dir, 'test image folder')
    images = {i: find_file(image_dir, i, IMAGE_EXTENSIONS) for i in ids}
    missing = {results_dir: [i for i in ids if i not in index], image_dir: [i for i in ids if images[i] is None]}
    missing = {d: m for d, m in missing.items() if m}
    if missing:
        raise UserError(missing_message(missing, 'files'))
    tasks = [(i, index[i], images[i]) for i in ids]
    encoded = dict(imap_progress(_encoded, tasks, num_workers, desc='checking'))
    folder = archive_folder(comp)
    with atomic_path(output) as tmp:
        with tarfile.open(tmp, 'w:gz') as tar:
            for ident in ids:
                data = encoded[ident]
                info = tarfile.TarInfo(f'{folder}/{ident}.png')
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
    return len(ids)
