"""The augmented training set: SegmentationClassAug (VOC labels where VOC has them, SBD's elsewhere, all as
grayscale index PNGs) and the standard train_aug list, (VOC train + SBD train + SBD val) - VOC val."""
import os

from PIL import Image

from utils.common.errors import UserError
from utils.common.files import atomic_path, list_ids, pending, read_id_list, require_dir
from utils.common.parallel import imap_progress
from utils.data.sbd import read_sbd_label
from utils.data.voc import LABEL_EXTENSIONS, check_label_values, read_label

TRAIN_AUG_SIZE = 10582  # the standard list on the real VOC 2012 + SBD release


def train_aug_ids(voc_train, voc_val, sbd_train, sbd_val):
    """(VOC train + SBD train + SBD val) - VOC val, without repeats, sorted."""
    return sorted((set(voc_train) | set(sbd_train) | set(sbd_val)) - set(voc_val))


def save_index_png(path, label):
    """A grayscale PNG of class indices, as SegmentationClassAug holds them (written atomically)."""
    with atomic_path(path) as tmp:
        Image.fromarray(label, mode='L').save(tmp, format='PNG')


def _convert_one(task):
    """Worker: one source label (VOC palette PNG or SBD .mat) to an index PNG; values other than the 21 classes
    and VOC's void 255 are a UserError naming the source, as a .mat file's are."""
    source, output = task
    if source.endswith('.mat'):
        label = read_sbd_label(source)
    else:
        label = read_label(source)
        check_label_values(label, source)
    save_index_png(output, label)
    return output


def label_sources(voc_label_dir, sbd_cls_dir, ids):
    """{id: source file}: the VOC SegmentationClass PNG when there is one, else SBD's cls/<id>.mat. The VOC
    annotation is preferred: it is the benchmark's own and marks object borders as void."""
    voc = set(list_ids(voc_label_dir, LABEL_EXTENSIONS))
    sources, missing = {}, []
    for ident in ids:
        if ident in voc:
            sources[ident] = os.path.join(voc_label_dir, ident + '.png')
        elif sbd_cls_dir and os.path.isfile(os.path.join(sbd_cls_dir, ident + '.mat')):
            sources[ident] = os.path.join(sbd_cls_dir, ident + '.mat')
        else:
            missing.append(ident)
    if missing:
        where = f'{voc_label_dir} or {sbd_cls_dir}' if sbd_cls_dir else voc_label_dir
        raise UserError(f'{len(missing)} labels found neither in {where} ({", ".join(missing[:5])}'
                        f'{" ..." if len(missing) > 5 else ""})')
    return sources


def build_label_folder(sources, output_dir, num_workers=None):
    """Write every source as `output_dir/<id>.png` (existing ones kept); returns how many were written."""
    def output_for(ident):
        return os.path.join(output_dir, ident + '.png')

    todo = pending(sorted(sources), output_for, False)
    for _ in imap_progress(_convert_one, [(sources[i], output_for(i)) for i in todo], num_workers, desc='labels'):
        pass
    return len(todo)


def split_lists(voc_root, sbd_root):
    """{name: ids} of VOC's train/val and SBD's train/val list files."""
    voc_lists = os.path.join(require_dir(voc_root, 'VOC2012 folder'), 'ImageSets', 'Segmentation')
    lists = {f'voc_{s}': read_id_list(os.path.join(voc_lists, f'{s}.txt')) for s in ('train', 'val')}
    if sbd_root:
        require_dir(sbd_root, 'SBD dataset folder')
        lists.update({f'sbd_{s}': read_id_list(os.path.join(sbd_root, f'{s}.txt')) for s in ('train', 'val')})
    return lists


def ready_made_ids(aug_dir, voc_val):
    """train_aug from a ready-made SegmentationClassAug folder: every label in it that is not VOC val."""
    return sorted(set(list_ids(require_dir(aug_dir, 'SegmentationClassAug folder'), LABEL_EXTENSIONS))
                  - set(voc_val))


def count_note(ids):
    """A warning when the list is not the standard 10,582 images, else None."""
    if len(ids) == TRAIN_AUG_SIZE:
        return None
    return (f'train_aug has {len(ids)} images, not the standard {TRAIN_AUG_SIZE} of the real VOC 2012 + SBD '
            'data (expected with other data or subsets)')



def run_lists(train_aug, val, test, num_train=None, num_val=None, num_test=None):
    """{list name: ids} this run works on: the first N of train_aug, val and test (all by default), and val
    split into a half that tunes the CRF (even positions) and a half that checks it (odd positions)."""
    val = val[:num_val]
    lists = {'train': train_aug[:num_train], 'val': val, 'val_tune': val[0::2], 'val_check': val[1::2]}
    if test is not None:
        lists['test'] = test[:num_test]
        lists['val_test'] = val + lists['test']
    empty = [name for name, ids in lists.items() if not ids]
    if empty:
        raise UserError(f'the {", ".join(empty)} list would be empty; give more images')
    return lists


def write_list(path, ids):
    """A list file, one id per line, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{i}\n' for i in ids))
