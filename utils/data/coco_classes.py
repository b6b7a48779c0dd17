"""MS-COCO class constants, defined once: the 80 category ids and names of the official instances files, the
VOC classes by COCO id, and the class names of the three label modes of create_coco_tf_record.py."""

# The categories of instances_{train,val}{2014,2017}.json: id -> name. The ids run to 90; the ten gaps are
# categories of the COCO paper that were never annotated.
CATEGORIES = {
    1: 'person', 2: 'bicycle', 3: 'car', 4: 'motorcycle', 5: 'airplane', 6: 'bus', 7: 'train', 8: 'truck',
    9: 'boat', 10: 'traffic light', 11: 'fire hydrant', 13: 'stop sign', 14: 'parking meter', 15: 'bench',
    16: 'bird', 17: 'cat', 18: 'dog', 19: 'horse', 20: 'sheep', 21: 'cow', 22: 'elephant', 23: 'bear', 24: 'zebra',
    25: 'giraffe', 27: 'backpack', 28: 'umbrella', 31: 'handbag', 32: 'tie', 33: 'suitcase', 34: 'frisbee',
    35: 'skis', 36: 'snowboard', 37: 'sports ball', 38: 'kite', 39: 'baseball bat', 40: 'baseball glove',
    41: 'skateboard', 42: 'surfboard', 43: 'tennis racket', 44: 'bottle', 46: 'wine glass', 47: 'cup', 48: 'fork',
    49: 'knife', 50: 'spoon', 51: 'bowl', 52: 'banana', 53: 'apple', 54: 'sandwich', 55: 'orange', 56: 'broccoli',
    57: 'carrot', 58: 'hot dog', 59: 'pizza', 60: 'donut', 61: 'cake', 62: 'chair', 63: 'couch', 64: 'potted plant',
    65: 'bed', 67: 'dining table', 70: 'toilet', 72: 'tv', 73: 'laptop', 74: 'mouse', 75: 'remote', 76: 'keyboard',
    77: 'cell phone', 78: 'microwave', 79: 'oven', 80: 'toaster', 81: 'sink', 82: 'refrigerator', 84: 'book',
    85: 'clock', 86: 'vase', 87: 'scissors', 88: 'teddy bear', 89: 'hair drier', 90: 'toothbrush',
}
# The COCO category of each of the 20 VOC classes, in VOC order (class 1 aeroplane .. 20 tvmonitor), as
# torchvision's reference segmentation scripts map them.
VOC_CATEGORY_IDS = (5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)

CLASS_MODES = ('voc', 'all', 'coco_ids')
NUM_CLASSES = {'voc': 1 + len(VOC_CATEGORY_IDS), 'all': 1 + len(CATEGORIES), 'coco_ids': 1 + max(CATEGORIES)}
ALL_CLASS_NAMES = ('background', *(CATEGORIES[i] for i in sorted(CATEGORIES)))
COCO_ID_CLASS_NAMES = ('background', *(CATEGORIES.get(i, f'unused_{i}') for i in range(1, max(CATEGORIES) + 1)))


def category_classes(mode):
    """{COCO category id: class value} of a label mode; categories left out are background."""
    if mode == 'voc':
        return {category: k + 1 for k, category in enumerate(VOC_CATEGORY_IDS)}
    if mode == 'all':
        return {category: k + 1 for k, category in enumerate(sorted(CATEGORIES))}
    if mode == 'coco_ids':
        return {category: category for category in CATEGORIES}
    raise ValueError(f'unknown class mode {mode!r}; use one of {CLASS_MODES}')
