"""The ResNet-v2 backbone has exactly the slim checkpoints' variable names and shapes."""
import json
import os

import pytest
import tensorflow as tf
from conftest import FIXTURES

from nets import layers, resnet_v2

tf1 = tf.compat.v1


def reference(variant):
    with open(os.path.join(FIXTURES, 'reference', f'{variant}_variables.json')) as handle:
        return {v['name']: v['shape'] for v in json.load(handle)['variables']}


def build_backbone(variant, output_stride):
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [1, 65, 65, 3])
        bn = layers.BatchNorm(training=True, trainable=True, decay=0.997, epsilon=1e-5)
        features, end_points = resnet_v2.resnet_v2(images, variant, bn, output_stride, (1, 2, 4), 1e-4)
        names = {v.op.name: v.shape.as_list() for v in tf1.global_variables()}
        trainable = len(tf1.trainable_variables())
    return names, trainable, features, end_points


@pytest.mark.parametrize('variant', ['resnet_v2_50', 'resnet_v2_101'])
def test_backbone_variables_match_slim_checkpoint(variant):
    names, _, _, _ = build_backbone(variant, 16)
    expected = reference(variant)
    assert sorted(set(expected) - set(names)) == []
    assert sorted(set(names) - set(expected)) == []
    assert names == expected


def test_output_stride_changes_resolution_not_variables():
    names16, trainable, features16, ends = build_backbone('resnet_v2_101', 16)
    names8, _, features8, _ = build_backbone('resnet_v2_101', 8)
    assert names16 == names8
    assert trainable == 342
    assert features16.shape.as_list() == [1, 5, 5, 2048]
    assert features8.shape.as_list() == [1, 9, 9, 2048]
    assert ends[resnet_v2.LOW_LEVEL_END_POINT].shape.as_list() == [1, 17, 17, 256]
