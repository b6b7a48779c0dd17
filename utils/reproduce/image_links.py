"""One folder of links to every image a run predicts (its val and test images come from two VOC trees), so
each model runs once over both."""
import os

from utils.common.errors import UserError
from utils.common.files import find_file
from utils.data.voc import IMAGE_EXTENSIONS


def link_images(ids_by_folder, output_dir):
    """Link `output_dir/<id>.<ext>` to the image of every id of {image folder: ids}; returns how many were new.
    Every image is looked up before any link is made."""
    sources, missing = {}, []
    for folder, ids in ids_by_folder.items():
        for ident in ids:
            path = find_file(folder, ident, IMAGE_EXTENSIONS)
            if path is None:
                missing.append(os.path.join(folder, ident + '.jpg'))
            sources[ident] = path
    if missing:
        more = ' ...' if len(missing) > 3 else ''
        raise UserError(f'{len(missing)} images not found ({", ".join(missing[:3])}{more})')
    os.makedirs(output_dir, exist_ok=True)
    made = 0
    for ident, path in sources.items():
        link = os.path.join(output_dir, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
            made += 1
    return made
