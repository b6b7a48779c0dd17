"""TFRecords: shard names, example encoding and the VOC writer (tfrecords), and the COCO writer (coco_records).
TensorFlow is needed here for the record format only; reading records into batches is preprocessing.py's job."""
