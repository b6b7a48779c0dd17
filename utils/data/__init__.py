"""Data sets as files: PASCAL VOC images, labels and palette (voc), SBD's .mat labels (sbd) and the
SegmentationClassAug labels made from them (train_aug), MS-COCO instances and their VOC mapping (coco,
coco_classes), a records folder's dataset.json (dataset_info) and the generated demo data (demo_data).
numpy and Pillow only: no TensorFlow, nothing from the top level."""
