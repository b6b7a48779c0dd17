"""create_coco_tf_record.py: the three class modes, label maps equal to pycocotools' annToMask under the overlap
rule, the training filter, records every tool reads, label PNGs for evaluate.py, resuming, and bad input."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import COCO_TRAIN, COCO_VAL, ROOT, write_coco
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import create_coco_tf_record
import evaluate
from preprocessing import parse_record
from utils.common.errors import UserError, run_cli
from utils.data.coco import ImageEntry, check_rasterises, index_images, label_map, load_instances
from utils.data.coco_classes import CATEGORIES, NUM_CLASSES, VOC_CATEGORY_IDS, category_classes
from utils.data.dataset_info import dataset_num_classes, read_dataset_info, write_dataset_info
from utils.data.voc import CLASS_NAMES, read_label
from utils.records.tfrecords import decode_example, find_records

MODES = ('voc', 'all', 'coco_ids')
# torchvision's references/segmentation/coco_utils.py CAT_LIST, the independent reference: index = VOC class
# (0 background), value = COCO category id.
TORCHVISION_CAT_LIST = [0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72]


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    """The generated COCO layout, shared read-only; returns (root, split flags)."""
    root = str(tmp_path_factory.mktemp('coco'))
    return root, write_coco(root)


@pytest.fixture(scope='module')
def converted(coco, tmp_path_factory):
    """Records and label PNGs of every class mode: {mode: (records folder, label folder)}."""
    out = {}
    for mode in MODES:
        folder = tmp_path_factory.mktemp(mode)
        records, labels = str(folder / 'records'), str(folder / 'labels')
        assert convert(coco[1], records, '--classes', mode, '--label_output_dir', labels, workers=2) == 0
        out[mode] = records, labels
    return out


@pytest.fixture
def own_coco(tmp_path):
    """A generated COCO layout that a test may damage; returns (root, split flags)."""
    root = str(tmp_path / 'coco')
    return root, write_coco(root)


def convert(flags, data_dir, *extra, workers=1):
    """Run create_coco_tf_record.main; returns the exit code."""
    return run_cli(create_coco_tf_record.main, [*flags, '--data_dir', str(data_dir), '--num_workers', str(workers),
                                                *extra])


def records_of(data_dir, split):
    """Every serialized example of a split, in order."""
    return [r.numpy() for path in find_records(data_dir, split) for r in tf.data.TFRecordDataset(path)]


def stored(data_dir, split):
    """{file name: (image, label)} decoded from a split's records with the training pipeline's parser."""
    out = {}
    for serialized in records_of(data_dir, split):
        image, label = parse_record(serialized)
        name = tf.train.Example.FromString(serialized).features.feature['image/filename'].bytes_list.value[0]
        out[name.decode()] = image.numpy(), label.numpy()[..., 0]
    return out


def expected_label(annotation_file, image_id, mode):
    """The label map by pycocotools' own annToMask and the rule, written independently of utils.data.coco: each
    selected instance paints its class, a pixel painted twice or more becomes 255."""
    api = COCO(annotation_file)
    classes = category_classes(mode)
    info = api.imgs[image_id]
    label = np.zeros((info['height'], info['width']), np.uint8)
    painted = np.zeros(label.shape, int)
    for annotation in api.loadAnns(api.getAnnIds(imgIds=image_id, iscrowd=None)):
        if annotation['category_id'] in classes:
            mask = api.annToMask(annotation).astype(bool)
            label[mask] = classes[annotation['category_id']]
            painted += mask
    label[painted > 1] = 255
    return label


def test_voc_classes_are_the_coco_categories_in_voc_order():
    assert category_classes('voc') == {category: k + 1 for k, category in enumerate(VOC_CATEGORY_IDS)}
    assert category_classes('voc')[5] == CLASS_NAMES.index('aeroplane')
    assert category_classes('voc')[72] == CLASS_NAMES.index('tvmonitor')
    assert category_classes('all')[90] == 80 and category_classes('coco_ids')[90] == 90
    assert NUM_CLASSES == {'voc': 21, 'all': 81, 'coco_ids': 91}



def test_voc_labels_follow_torchvision_cat_list():
    """An image holding one square of a COCO category is labelled with that category's index in torchvision's
    CAT_LIST under --classes voc, and background for the 60 categories it leaves out."""
    data = {'images': [], 'annotations': [], 'categories': [{'id': i, 'name': n} for i, n in CATEGORIES.items()]}
    for category in CATEGORIES:
        data['images'].append({'id': category, 'file_name': f'{category}.jpg', 'height': 4, 'width': 4})
        data['annotations'].append({'id': category, 'image_id': category, 'category_id': category, 'area': 16.0,
                                    'iscrowd': 0, 'segmentation': [[0, 0, 4, 0, 4, 4, 0, 4]]})
    found = {entry.image_id: int(label_map(entry).max()) for entry in index_images(data, 'instances.json', 'voc')}
    expected = {category: TORCHVISION_CAT_LIST.index(category) if category in TORCHVISION_CAT_LIST else 0
                for category in CATEGORIES}
    assert found == expected
    assert sorted(set(found.values())) == list(range(21))

@pytest.mark.parametrize('mode', MODES)
def test_label_maps_equal_pycocotools_masks_under_the_overlap_rule(coco, converted, mode):
    root, _ = coco
    records, labels = converted[mode]
    for split, images in (('train', COCO_TRAIN), ('val', COCO_VAL)):
        annotation_file = os.path.join(root, 'annotations', f'instances_{split}2017.json')
        found = stored(records, split)
        for image_id, (file_name, size, _) in images.items():
            if file_name not in found:
                continue
            expected = expected_label(annotation_file, image_id, mode)
            np.testing.assert_array_equal(found[file_name][1], expected, err_msg=f'{mode} {file_name}')
            png = read_label(os.path.join(labels, os.path.splitext(file_name)[0] + '.png'))
            np.testing.assert_array_equal(png, expected)
            assert found[file_name][0].shape == size + (3,)


def test_the_generated_file_has_every_case_the_rule_is_about(coco, converted):
    """Same-class and different-class overlaps, crowds, multi-part polygons and non-VOC categories all show."""
    voc = stored(converted['voc'][0], 'train')['000000000001.jpg'][1]
    every = stored(converted['all'][0], 'train')['000000000001.jpg'][1]
    assert voc[20, 70] == 255 and voc[30, 25] == 255  # two cars; the dog over the person
    assert voc[32, 70] == 255 and voc[40, 70] == 15  # the crowd over a car, the crowd alone
    assert voc[50, 45] == 15 and voc[10, 10] == 15  # both parts of the person
    assert voc[47, 25] == 12 and every[47, 25] == 255  # the truck is background with VOC classes, not with all
    assert voc[55, 5] == 0 and every[55, 5] == 8


def test_training_filter_keeps_images_with_over_1000_annotated_pixels_of_voc_classes(converted):
    train = {mode: sorted(stored(converted[mode][0], 'train')) for mode in MODES}
    assert train['voc'] == ['000000000001.jpg', '000000000004.png', '000000000005.jpg']
    assert train['all'] == train['coco_ids'] == sorted(name for name, _, _ in COCO_TRAIN.values())
    for mode in MODES:
        assert sorted(stored(converted[mode][0], 'val')) == sorted(name for name, _, _ in COCO_VAL.values())


def test_min_annotated_area_sets_the_threshold_in_any_mode(coco, tmp_path):
    assert convert(coco[1][:4], tmp_path / 'voc', '--min_annotated_area', '50') == 0
    assert '000000000003.jpg' in stored(str(tmp_path / 'voc'), 'train')  # the 100-pixel bird now counts
    assert convert(coco[1][:4], tmp_path / 'all', '--classes', 'all', '--min_annotated_area', '1000') == 0
    assert '000000000002.jpg' not in stored(str(tmp_path / 'all'), 'train')


def test_records_hold_the_voc_features_plus_the_file_name_and_original_bytes(coco, converted):
    root, _ = coco
    records, _ = converted['voc']
    examples = [decode_example(s) for s in records_of(records, 'train')]
    assert [(e['image/height'], e['image/width']) for e in examples] == [(60, 80), (60, 80), (50, 70)]
    assert [e['image/format'] for e in examples] == [b'jpeg', b'png', b'jpeg']
    with open(os.path.join(root, 'train2017', '000000000004.png'), 'rb') as handle:
        assert examples[1]['image/encoded'] == handle.read()
    with open(os.path.join(records, 'dataset.json'), encoding='utf-8') as handle:
        info = json.load(handle)
    assert (info['dataset'], info['classes'], info['num_classes']) == ('coco', 'voc', 21)


def test_several_workers_write_the_same_bytes_as_one(coco, converted, tmp_path):
    assert convert(coco[1], tmp_path, '--classes', 'all') == 0
    for split in ('train', 'val'):
        assert records_of(str(tmp_path), split) == records_of(converted['all'][0], split)


def test_evaluate_scores_a_result_folder_against_the_label_pngs_with_coco_names(converted, tmp_path, capsys):
    _, labels = converted['all']
    out = tmp_path / 'scores.json'
    argv = ['--prediction_dir', labels, '--label_data_dir', labels, '--image_list', os.path.join(labels, 'val.txt'),
            '--output_json', str(out)]
    assert run_cli(evaluate.main, argv) == 0
    assert 'bottle' in capsys.readouterr().out
    scores = json.loads(out.read_text())
    assert len(scores['per_class_iou']) == 81 and scores['miou'] == 1.0
    assert scores['per_class_iou']['couch'] == 1.0 and scores['per_class_iou']['toothbrush'] is None


def test_an_interrupted_conversion_writes_only_the_missing_shards_and_labels(coco, tmp_path, capsys):
    out, labels = tmp_path / 'records', tmp_path / 'labels'
    assert convert(coco[1], out, '--num_shards', '2', '--label_output_dir', str(labels)) == 0
    shards = find_records(str(out), 'train')
    before = [open(p, 'rb').read() for p in shards]
    label = labels / '000000000001.png'
    label_bytes = label.read_bytes()
    os.remove(shards[1])
    os.remove(label)
    stamps = [os.stat(shards[0]).st_mtime_ns, os.stat(labels / '000000000005.png').st_mtime_ns]
    assert convert(coco[1], out, '--num_shards', '2', '--label_output_dir', str(labels)) == 0
    assert 'train: 3 images, 21 classes -> 2 shards' in capsys.readouterr().out
    assert [open(p, 'rb').read() for p in shards] == before and label.read_bytes() == label_bytes
    assert [os.stat(shards[0]).st_mtime_ns, os.stat(labels / '000000000005.png').st_mtime_ns] == stamps
    assert not [name for name in os.listdir(labels) if name.startswith('.')]


def test_other_settings_need_overwrite_and_overwrite_redoes_the_split(coco, tmp_path, capsys):
    assert convert(coco[1], tmp_path, '--num_shards', '2') == 0
    assert convert(coco[1], tmp_path, '--classes', 'all') == 2
    assert '--overwrite' in capsys.readouterr().err
    assert len(find_records(str(tmp_path), 'train')) == 2
    assert convert(coco[1], tmp_path, '--classes', 'all', '--overwrite') == 0
    assert [os.path.basename(p) for p in find_records(str(tmp_path), 'train')] == ['coco_train.record']


def test_more_shards_than_images_is_refused(coco, tmp_path, capsys):
    assert convert(coco[1], tmp_path, '--num_shards', '4') == 2
    assert '--num_shards 4 is more than the 3 train images' in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_either_split_alone_is_converted(coco, tmp_path):
    assert convert(coco[1][4:], tmp_path) == 0
    assert sorted(os.listdir(tmp_path)) == ['coco_val.record', 'dataset.json']


def _missing_image(root):
    os.remove(os.path.join(root, 'train2017', '000000000004.png'))
    os.remove(os.path.join(root, 'val2017', '000000000012.jpg'))
    return ['train2017/000000000004.png: image not found', 'val2017/000000000012.jpg: image not found']


def _size_mismatch(root):
    path = os.path.join(root, 'train2017', '000000000005.jpg')
    Image.open(path).resize((71, 50)).save(path)
    return ['000000000005.jpg is 71x50 but the annotation file says 70x50']


def _edit_json(root, change, split='train'):
    path = os.path.join(root, 'annotations', f'instances_{split}2017.json')
    with open(path, encoding='utf-8') as handle:
        data = json.load(handle)
    change(data)
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(data, handle)


def _unknown_category(root):
    def change(data):
        data['annotations'][0]['category_id'] = 95
        data['annotations'][3]['category_id'] = 12
    _edit_json(root, change)
    return ['annotation 100: category id 95 is not in', 'annotation 103: category id 12 is not in']


def _unknown_image(root):
    _edit_json(root, lambda data: data['annotations'][2].update(image_id=77))
    return ['annotation 102: image id 77 is not in the file\'s image list']


def _malformed_json(root):
    path = os.path.join(root, 'annotations', 'instances_val2017.json')
    with open(path, 'r+', encoding='utf-8') as handle:
        handle.truncate(100)
    return ['instances_val2017.json: malformed JSON (']


def _not_instances(root):
    with open(os.path.join(root, 'annotations', 'instances_train2017.json'), 'w', encoding='utf-8') as handle:
        json.dump([1, 2], handle)
    return ['instances_train2017.json: not a COCO instances file']


def _bad_polygon(root):
    _edit_json(root, lambda data: data['annotations'][1].update(segmentation=[[1, 2]]))
    return ['000000000001.jpg: annotation 101: pycocotools cannot rasterise']


@pytest.mark.parametrize('damage', [_missing_image, _size_mismatch, _unknown_category, _unknown_image, _malformed_json,
                                    _not_instances, _bad_polygon])
def test_bad_input_exits_2_naming_every_offender_and_writes_nothing(own_coco, tmp_path, capsys, damage):
    root, flags = own_coco
    offenders = damage(root)
    out, labels = tmp_path / 'records', tmp_path / 'labels'
    assert convert(flags, out, '--label_output_dir', str(labels), workers=2) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'Traceback' not in err
    for offender in offenders:
        assert offender in err
    assert len(err.strip().splitlines()) == (1 if len(offenders) == 1 else len(offenders) + 1)
    assert not out.exists() and not labels.exists()


def test_a_wrong_image_folder_is_one_line_not_one_per_image(own_coco, tmp_path, capsys):
    root, flags = own_coco
    flags[1] = os.path.join(root, 'val2017')
    assert convert(flags, tmp_path / 'records') == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'none of the 3 train images is there' in err


def test_categories_outside_coco_are_refused_when_every_category_is_numbered(own_coco, tmp_path, capsys):
    root, flags = own_coco
    _edit_json(root, lambda data: data['categories'].append({'id': 95, 'name': 'hoverboard'}))
    assert convert(flags, tmp_path / 'all', '--classes', 'all') == 2
    assert 'category 95 (hoverboard) is not an MS-COCO category' in capsys.readouterr().err
    assert convert(flags, tmp_path / 'voc') == 0


def test_voc_records_and_coco_records_do_not_share_a_folder(coco, tmp_path, capsys):
    (tmp_path / 'voc_train.record').write_bytes(b'')
    assert convert(coco[1], tmp_path) == 2
    assert 'holds VOC records' in capsys.readouterr().err
    assert os.listdir(tmp_path) == ['voc_train.record']


@pytest.mark.parametrize('argv, words', [
    ([], 'give --train_image_dir and --train_annotations_file'),
    (['--train_image_dir', 'x'], 'go together'),
    (['--train_image_dir', '/nonexistent', '--train_annotations_file', 'a.json'], 'train image folder not found'),
    (['--num_workers', '0'], 'must be at least 1'),
    (['--num_shards', '0'], 'must be at least 1'),
])
def test_bad_arguments_exit_2_naming_the_problem(tmp_path, capsys, argv, words):
    assert run_cli(create_coco_tf_record.main, [*argv, '--data_dir', str(tmp_path / 'out')]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_importing_the_script_does_not_import_tensorflow():
    code = "import sys, create_coco_tf_record; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'False'


def test_other_tools_find_coco_records_but_not_a_mix_with_voc(converted, tmp_path):
    shutil.copy(find_records(converted['voc'][0], 'val')[0], tmp_path / 'coco_val.record')
    (tmp_path / 'voc_val.record').write_bytes(b'')
    with pytest.raises(UserError, match='holds both voc_val.record and coco_val.record'):
        find_records(str(tmp_path), 'val')


def _instances(images=(), annotations=(), categories=({'id': 1, 'name': 'person'}, {'id': 90, 'name': 'toothbrush'})):
    """A parsed instances file: by default one 1x1 image, no annotations, a VOC category (1) and another (90)."""
    return {'images': list(images) or [{'id': 1, 'file_name': 'a.jpg', 'height': 1, 'width': 1}],
            'annotations': list(annotations), 'categories': list(categories)}


def _refusal(data, mode='voc'):
    with pytest.raises(UserError) as raised:
        index_images(data, 'instances.json', mode)
    return str(raised.value)


def test_every_bad_image_entry_is_named_and_a_1x1_image_is_fine():
    """Entries without an integer id or a file name show their start (80 characters); sizes must be at least 1."""
    no_id = {'id': '7', 'file_name': 'b' * 90 + '.jpg', 'height': 1, 'width': 1}
    no_name = {'id': 2, 'height': 1, 'width': 1, 'license': 'c' * 90}
    images = [{'id': 1, 'file_name': 'a.jpg', 'height': 1, 'width': 1}, no_id, no_name,
              {'id': 3, 'file_name': 'd.jpg', 'height': 0, 'width': 4}]
    assert _refusal(_instances(images)) == '\n'.join([
        'instances.json: 3 bad image entries, nothing written:',
        f'  image entry {str(no_id)[:80]} lacks an integer "id" or a "file_name"',
        f'  image entry {str(no_name)[:80]} lacks an integer "id" or a "file_name"',
        '  image 3 (d.jpg): "height" and "width" must be positive integers'])
    assert [entry.image_id for entry in index_images(_instances(images[:1]), 'instances.json', 'voc')] == [1]


def test_a_bad_category_is_one_line_naming_the_file_and_the_entry():
    category = {'id': '1', 'name': 'person', 'supercategory': 'p' * 90}
    assert _refusal(_instances(categories=[category])) == (
        f'instances.json: 1 bad categories, nothing written: category entry {str(category)[:80]} lacks an integer "id"')


def test_a_repeated_image_id_and_a_shared_label_file_are_both_named():
    """Two entries are already one too many, for the id and for the label PNG their file names map to."""
    images = [{'id': 1, 'file_name': 'a/x.jpg', 'height': 1, 'width': 1},
              {'id': 1, 'file_name': 'b/y.jpg', 'height': 1, 'width': 1},
              {'id': 2, 'file_name': 'c/y.png', 'height': 1, 'width': 1}]
    assert _refusal(_instances(images)) == ('instances.json: 2 problems, nothing written:\n'
                                            '  image id 1 is listed 2 times\n'
                                            '  2 images would share the label file y.png')


def test_selected_annotations_must_have_an_area_and_a_usable_segmentation_the_others_need_not():
    """Annotations of the chosen classes are checked against their image; those of other classes only need known
    ids, so a file's oddities outside the chosen classes do not stop the conversion."""
    images = [{'id': 1, 'file_name': 'a.jpg', 'height': 1, 'width': 1},
              {'id': 2, 'file_name': 'b.jpg', 'height': 2, 'width': 3}]
    polygon = [[0, 0, 1, 0, 1, 1]]
    no_category = {'id': 10, 'image_id': 1, 'category_id': '1', 'caption': 'q' * 90}
    annotations = [
        no_category,
        {'id': 11, 'image_id': 1, 'category_id': 1, 'area': 'big', 'segmentation': polygon},
        {'id': 12, 'image_id': 1, 'category_id': 1, 'area': 1, 'segmentation': [polygon[0], 5]},
        {'id': 13, 'image_id': 1, 'category_id': 1, 'area': 1, 'segmentation': {'size': [1, 1]}},
        {'id': 14, 'image_id': 2, 'category_id': 1, 'area': 1, 'segmentation': {'size': [3, 2], 'counts': '06'}},
        {'id': 15, 'image_id': 2, 'category_id': 90, 'area': 'big', 'segmentation': 5},
        {'id': 16, 'image_id': 2, 'category_id': 1, 'area': 6.0, 'segmentation': {'size': [2, 3], 'counts': [0, 6]}},
    ]
    assert _refusal(_instances(images, annotations)) == '\n'.join([
        'instances.json: 5 problems, nothing written:',
        f'  annotation entry {str(no_category)[:80]} lacks an integer "category_id"',
        '  annotation 11: "area" must be a number',
        '  annotation 12: polygons must be lists of numbers',
        '  annotation 13: segmentation is neither polygons nor an RLE with "counts"',
        '  annotation 14: RLE size [3, 2] differs from the image\'s [2, 3]'])
    entries = index_images(_instances(images, annotations[5:]), 'instances.json', 'voc')
    assert [[a[0] for a in entry.annotations] for entry in entries] == [[], [16]]


def test_polygons_pycocotools_refuses_are_named_by_annotation():
    entry = ImageEntry(1, 'a.jpg', 4, 4, ((7, 1, [[1, 2]]), (8, 1, [[0, 0, 4, 0, 4, 4]])), 9.0)
    [problem] = check_rasterises(entry)
    assert problem.startswith('annotation 7: pycocotools cannot rasterise its segmentation (')


def test_an_annotation_without_polygons_paints_nothing():
    entry = ImageEntry(1, 'a.jpg', 2, 3, ((7, 1, []),), 0.0)
    np.testing.assert_array_equal(label_map(entry), np.zeros((2, 3), np.uint8))


def test_a_pixel_under_two_instances_or_more_is_void_however_many():
    """One instance paints its class; two make the pixel void, and so do 65536: the count must not wrap round."""
    one_pixel = mask_utils.encode(np.ones((1, 1, 1), np.uint8, order='F'))[0]

    def label(count):
        return label_map(ImageEntry(1, 'a.jpg', 1, 1, ((None, 3, one_pixel),) * count, float(count))).tolist()
    assert [label(1), label(2), label(65536)] == [[[3]], [[255]], [[255]]]


def test_instances_files_are_refused_in_one_line_naming_the_file_and_a_bom_is_fine(tmp_path):
    """The file must exist and hold the three lists; a UTF-8 byte-order mark (as Windows tools write) is read."""
    path = tmp_path / 'instances.json'
    with pytest.raises(UserError) as raised:
        load_instances(str(path))
    assert str(raised.value) == f'{path}: annotation file not found'
    path.write_bytes(b'{"images": []}')
    with pytest.raises(UserError) as raised:
        load_instances(str(path))
    assert str(raised.value) == (f'{path}: not a COCO instances file (a JSON object with "images", "annotations" and '
                                 '"categories" lists)')
    path.write_bytes('\ufeff{"images": [], "annotations": [], "categories": []}'.encode())
    assert load_instances(str(path)) == {'images': [], 'annotations': [], 'categories': []}


def test_an_unknown_class_mode_is_named_with_the_modes_there_are():
    with pytest.raises(ValueError) as raised:
        category_classes('pascal')
    assert str(raised.value) == "unknown class mode 'pascal'; use one of ('voc', 'all', 'coco_ids')"


def test_dataset_json_is_sorted_and_indented_and_a_bad_one_is_named(tmp_path):
    """The description is written as readable, byte-stable JSON; read back, a damaged one is one line."""
    write_dataset_info(str(tmp_path), {'num_classes': 21, 'dataset': 'coco', 'classes': 'voc'})
    path = tmp_path / 'dataset.json'
    assert path.read_text() == '{\n  "classes": "voc",\n  "dataset": "coco",\n  "num_classes": 21\n}'
    assert dataset_num_classes(str(tmp_path)) == 21
    assert dataset_num_classes(None) is None and read_dataset_info(str(tmp_path / 'voc')) == {}
    for text, problem in [('{"num_classes": 21', 'unreadable data set description (Expecting'),
                          ('[21]', 'not a data set description (expected a JSON object)'),
                          ('{"classes": "voc"}', 'not a data set description (a JSON object with "num_classes")')]:
        path.write_text(text)
        with pytest.raises(UserError) as raised:
            read_dataset_info(str(tmp_path))
        assert str(raised.value).startswith(f'{path}: {problem}')
