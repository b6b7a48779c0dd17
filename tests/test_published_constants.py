"""Every published constant the suite uses, pinned to a literal copied from its source (named beside it): input
means and padding, batch norm, network tables, learning-rate policy, flag defaults, evaluation scales, COCO ids.

Pinned the same way elsewhere, so not repeated here: the VOC palette (test_voc.py, VOClabelcolormap.m), the CRF
defaults (test_crf.py, DeepLab-v2's run_densecrf.sh and pydensecrf's example), the ImageNet mean of the original
layout (test_original_layout.py ORIGINAL_MEAN_RGB), the [-1, 1] scaling (test_preprocessing.py), Xception's batch
norm epsilon 1e-3 (test_xception.py), the original layout's weight decay 2e-4 (test_original_layout.py) and the
upstream flags of test_upstream_scripts.py's test_upstream_flag_definitions_are_pinned.
"""
import dataclasses
import inspect

import pytest
import tensorflow as tf

import deeplab_model
import preprocessing
import train
from nets import heads, layers, resnet_v2, xception
from utils.cli.flags import add_predict_flags, parser_for
from utils.data import coco_classes, voc
from utils.reproduce import plan
from utils.runtime import model_config
from utils.runtime.training import TrainingRun
from utils.upstream import data as upstream_data
from utils.upstream.flags import flag_table

tf1 = tf.compat.v1

# --- inputs ---

# slim's preprocessing/vgg_preprocessing.py _R_MEAN, _G_MEAN, _B_MEAN (the original project's
# utils/preprocessing.py repeats them): the ImageNet RGB mean the original layout subtracts.
IMAGENET_MEAN_RGB = [123.68, 116.78, 103.94]
# research/deeplab/core/feature_extractor.py mean_pixel(): [127.5] * 3 for the [-1, 1] (x / 127.5 - 1) variants,
# the value input_preprocess.py pads crops with, so padding normalises to 0.
UPSTREAM_MEAN_PIXEL = [127.5, 127.5, 127.5]
# research/deeplab/datasets/data_generator.py _PASCAL_VOC_SEG_INFORMATION (num_classes=21, ignore_label=255); the
# original train.py's _NUM_CLASSES and _IGNORE_LABEL.
VOC_NUM_CLASSES, VOC_IGNORE_LABEL = 21, 255
# VOCdevkit VOCcode/VOCinit.m VOCopts.classes, with the background class 0 before them.
VOC_CLASS_NAMES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
                   'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
                   'train', 'tvmonitor')


@pytest.mark.parametrize('normalization, mean_pixel', [('inception', UPSTREAM_MEAN_PIXEL),
                                                       ('mean_subtraction', IMAGENET_MEAN_RGB)])
def test_crops_are_padded_with_the_mean_pixel_of_their_normalisation(normalization, mean_pixel):
    """Training and evaluation crops pad images with the mean pixel: upstream's 127.5, or the ImageNet mean."""
    assert preprocessing.pad_value(normalization) == mean_pixel


def test_training_crops_pad_images_with_127_5_and_labels_with_the_ignore_label():
    """augment's default fill, as upstream input_preprocess.py pads: the mean pixel, and ignore_label 255 for labels."""
    with tf.Graph().as_default():
        image, label = preprocessing.augment(tf.zeros([4, 4, 3], tf.uint8), tf.zeros([4, 4, 1], tf.uint8), (6, 6),
                                             min_scale=1.0, max_scale=1.0, seed=0)
        with tf1.Session() as sess:
            image, label = sess.run([image, label])
    assert (image[4:] == 127.5).all() and (label[4:] == 255).all()  # the two rows below the 4x4 picture


def test_voc_has_21_classes_in_the_devkits_order_and_the_void_label_255():
    assert voc.NUM_CLASSES == VOC_NUM_CLASSES
    assert voc.IGNORE_LABEL == VOC_IGNORE_LABEL
    assert voc.CLASS_NAMES == VOC_CLASS_NAMES
    assert upstream_data.DATASETS == {'pascal_voc_seg': (VOC_NUM_CLASSES, VOC_IGNORE_LABEL)}


# --- batch norm ---

# The original project's deeplab_model.py _BATCH_NORM_DECAY (passed to slim's resnet_arg_scope, whose own default
# is 0.997) and train.py _BATCH_NORM_DECAY; upstream common.py --batch_norm_decay, model.py's ASPP and decoder
# batch_norm_params and feature_extractor.py's Xception arg scope.
BATCH_NORM_DECAY = 0.9997
# slim's nets/resnet_utils.py resnet_arg_scope batch_norm_epsilon=1e-5; upstream model.py's ASPP and decoder
# batch_norm_params 'epsilon': 1e-5.
RESNET_AND_HEAD_EPSILON = 1e-5


def test_batch_norm_decay_of_every_network_is_deeplabs_0_9997():
    """The decay train.py's networks get by default, ResNet, Xception and the heads alike (one BatchNorm tuple)."""
    assert model_config.BATCH_NORM_DECAY == BATCH_NORM_DECAY
    assert model_config.MODEL_DEFAULTS['batch_norm_decay'] == BATCH_NORM_DECAY
    assert deeplab_model.batch_norm_config({}, training=True).decay == BATCH_NORM_DECAY


def test_resnet_and_head_batch_norms_use_slims_epsilon_1e5_with_a_gamma():
    """Every batch norm of ResNet-v2 + ASPP + decoder, in a training graph: epsilon 1e-5 and scale=True (gamma)."""
    assert layers.BATCH_NORM_EPSILON == RESNET_AND_HEAD_EPSILON
    params = model_config.resolve_model_params(dict(model_config.MODEL_DEFAULTS, model_variant='resnet_v2_50',
                                                    decoder_output_stride=4, num_classes=3))
    graph = tf.Graph()
    with graph.as_default():
        deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 33, 33, 3]), params, training=True)
        gammas = [v for v in tf1.trainable_variables() if v.op.name.endswith('/gamma')]
    norms = [op for op in graph.get_operations() if op.type.startswith('FusedBatchNorm')]
    assert {op.name.split('/')[0] for op in norms} >= {'resnet_v2_50', 'aspp0', 'image_pooling', 'decoder'}
    assert [op.get_attr('epsilon') for op in norms] == pytest.approx([RESNET_AND_HEAD_EPSILON] * len(norms))
    assert len(gammas) == len(norms)


# --- initialisers and head sizes ---


def test_heads_have_upstream_model_pys_depths_dropout_and_initialisers():
    """research/deeplab/model.py: depth 256, decoder feature_projection 48, concat_projection dropout keep_prob 0.9,
    _split_separable_conv2d's truncated normals 0.33 and 0.06, _get_branch_logits's 0.01."""
    assert (heads.HEAD_DEPTH, heads.LOW_LEVEL_DEPTH, heads.CONCAT_DROPOUT_KEEP) == (256, 48, 0.9)
    assert (heads.DEPTHWISE_INIT.stddev, heads.POINTWISE_INIT.stddev, heads.LOGITS_INIT.stddev) == (0.33, 0.06, 0.01)


def test_backbones_start_from_their_arg_scopes_initialisers():
    """slim's resnet_arg_scope: variance_scaling_initializer() (factor 2.0, FAN_IN, not uniform: truncated normal);
    upstream core/xception.py xception_arg_scope: weights_initializer_stddev=0.09."""
    assert resnet_v2.INITIALIZER.get_config() == {'scale': 2.0, 'mode': 'fan_in', 'distribution': 'truncated_normal',
                                                  'seed': None, 'dtype': 'float32'}
    assert xception.INITIALIZER.stddev == 0.09


# --- network tables ---

# slim's nets/resnet_v2.py resnet_v2_50 and resnet_v2_101: resnet_v2_block(scope, base_depth, num_units, stride).
RESNET_V2_BLOCKS = {
    'resnet_v2_50': ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)),
    'resnet_v2_101': ((64, 3, 2), (128, 4, 2), (256, 23, 2), (512, 3, 1)),
}
# Upstream research/deeplab/core/xception.py xception_65_factory: xception_block(scope, depth_list,
# skip_connection_type, activation_fn_in_separable_conv, num_units, stride), entry, middle and exit flows.
XCEPTION_65_BLOCKS = (
    ('entry_flow/block1', (128, 128, 128), 'conv', False, 1, 2),
    ('entry_flow/block2', (256, 256, 256), 'conv', False, 1, 2),
    ('entry_flow/block3', (728, 728, 728), 'conv', False, 1, 2),
    ('middle_flow/block1', (728, 728, 728), 'sum', False, 16, 1),
    ('exit_flow/block1', (728, 1024, 1024), 'conv', False, 1, 2),
    ('exit_flow/block2', (1536, 1536, 2048), 'none', True, 1, 1),
)


def test_resnet_v2_unit_counts_are_slims():
    assert resnet_v2.BLOCKS == RESNET_V2_BLOCKS


def test_xception_65_flows_are_upstreams():
    """The blocks, the one whose unit_rate_list is multi_grid, and the decoder's end point (feature_extractor.py
    networks_to_feature_maps['xception_65'], stride 4)."""
    assert xception.BLOCKS == XCEPTION_65_BLOCKS
    assert xception.MULTI_GRID_BLOCK == 'exit_flow/block2'
    assert xception.LOW_LEVEL_END_POINT == 'entry_flow/block2/unit_1/xception_module/separable_conv2_pointwise'


def test_aspp_rates_follow_the_output_stride_as_in_the_deeplabv3_paper():
    """DeepLabv3 paper (arXiv:1706.05587) sec. 3.3: rates (6, 12, 18) at output stride 16, doubled at 8; the
    original deeplab_model.py and upstream train.py's atrous_rates comment give the same."""
    assert model_config.DEFAULT_ATROUS_RATES == {16: [6, 12, 18], 8: [12, 24, 36]}
    assert model_config.OUTPUT_STRIDES == (8, 16)  # the original train.py --output_stride choices=[8, 16]
    assert model_config.MODEL_DEFAULTS['output_stride'] == 16  # the original and upstream train.py's default
    assert model_config.DECODER_OUTPUT_STRIDES == (4,)  # upstream common.py: xception_65 decoder_output_stride = 4


def test_multi_grid_is_the_papers_1_2_4_for_resnet_and_upstreams_1_1_1_for_xception():
    """DeepLabv3 paper, Multi-grid Method: block4 unit rates (1, 2, 4) (upstream common.py sets it for its ResNet
    checkpoints); upstream core/xception.py _DEFAULT_MULTI_GRID = [1, 1, 1]."""
    assert model_config.DEFAULT_MULTI_GRID == {'resnet_v2_50': [1, 2, 4], 'resnet_v2_101': [1, 2, 4],
                                               'xception_65': [1, 1, 1]}


def test_the_original_projects_backbones_and_default_one():
    """The original train.py --base_architecture: choices resnet_v2_50 and resnet_v2_101, default resnet_v2_101."""
    assert model_config.ORIGINAL_VARIANTS == ('resnet_v2_50', 'resnet_v2_101')
    assert model_config.MODEL_DEFAULTS['model_variant'] == 'resnet_v2_101'


# --- learning-rate policy and training defaults ---

# The original project's train.py (rishizek/tensorflow-deeplab-v3): --initial_learning_rate 7e-3,
# --end_learning_rate 1e-6, _POWER 0.9, _MOMENTUM 0.9, --batch_size 10, --train_epochs 26, _HEIGHT = _WIDTH = 513,
# _MIN_SCALE 0.5, _MAX_SCALE 2.0.
ORIGINAL_TRAIN_DEFAULTS = {'initial_learning_rate': 7e-3, 'end_learning_rate': 1e-6, 'learning_power': 0.9,
                           'momentum': 0.9, 'batch_size': 10, 'train_epochs': 26, 'crop_size': [513, 513],
                           'min_scale': 0.5, 'max_scale': 2.0}
# Upstream research/deeplab/train.py: --slow_start_step 0, --slow_start_learning_rate 1e-4.
UPSTREAM_SLOW_START = {'slow_start_step': 0, 'slow_start_learning_rate': 1e-4}


def test_learning_rate_decays_by_poly_with_power_0_9_under_momentum_0_9():
    """DeepLabv3 paper sec. 4 ('poly', power 0.9), upstream train.py --learning_power and --momentum, the original
    train.py's _POWER and _MOMENTUM: the constants model_fn falls back on and train.py's flags default to."""
    assert (model_config.POLY_POWER, model_config.MOMENTUM) == (0.9, 0.9)


def test_train_py_defaults_are_the_original_projects():
    args = vars(train.build_parser().parse_args([]))
    assert {key: args[key] for key in ORIGINAL_TRAIN_DEFAULTS} == ORIGINAL_TRAIN_DEFAULTS
    assert {key: args[key] for key in UPSTREAM_SLOW_START} == UPSTREAM_SLOW_START


def test_the_other_homes_of_the_crop_and_scale_defaults_agree():
    """The same numbers are written again in TrainingRun and in preprocessing's function defaults."""
    run = {field.name: field.default for field in dataclasses.fields(TrainingRun)}
    assert (run['batch_size'], run['train_epochs'], run['crop_size'], run['min_scale'], run['max_scale']) == (
        10, 26, (513, 513), 0.5, 2.0)
    input_fn = inspect.signature(preprocessing.input_fn).parameters
    augment = inspect.signature(preprocessing.augment).parameters
    assert [input_fn[name].default for name in ('crop_size', 'min_scale', 'max_scale')] == [(513, 513), 0.5, 2.0]
    assert [augment[name].default for name in ('min_scale', 'max_scale')] == [0.5, 2.0]


def test_weight_decay_defaults_are_slims_for_resnet_and_upstreams_for_xception():
    """slim's resnet_arg_scope weight_decay=0.0001 (upstream train.py: 'Use 0.0001 for ResNet'); upstream
    xception_arg_scope and train.py --weight_decay 0.00004."""
    assert model_config.DEFAULT_WEIGHT_DECAY == {'resnet_v2_50': 1e-4, 'resnet_v2_101': 1e-4, 'xception_65': 4e-5}


# --- upstream DeepLab's flag definitions (research/deeplab, tensorflow/models master) ---

# train.py
UPSTREAM_TRAIN_FLAGS = {
    'optimizer': ('enum', 'momentum', ('momentum', 'adam')), 'adam_learning_rate': ('float', 0.001),
    'adam_epsilon': ('float', 1e-08), 'learning_policy': ('enum', 'poly', ('poly', 'step')),
    'learning_power': ('float', 0.9),
    'learning_rate_decay_factor': ('float', 0.1), 'learning_rate_decay_step': ('integer', 2000),
    'decay_steps': ('float', 0.0), 'end_learning_rate': ('float', 0.0), 'momentum': ('float', 0.9),
    'slow_start_step': ('integer', 0), 'slow_start_learning_rate': ('float', 1e-4),
    'last_layers_contain_logits_only': ('boolean', False), 'initialize_last_layer': ('boolean', True),
    'last_layer_gradient_multiplier': ('float', 1.0), 'upsample_logits': ('boolean', True),
    'min_scale_factor': ('float', 0.5), 'max_scale_factor': ('float', 2.0), 'scale_factor_step_size': ('float', 0.25),
    'output_stride': ('integer', 16), 'hard_example_mining_step': ('integer', 0),
    'top_k_percent_pixels': ('float', 1.0), 'log_steps': ('integer', 10), 'save_summaries_secs': ('integer', 600),
}
# common.py, shared by every script
UPSTREAM_COMMON_FLAGS = {
    'batch_norm_decay': ('float', 0.9997), 'multi_grid': ('multi_integer', None), 'logits_kernel_size': ('integer', 1),
    'aspp_convs_filters': ('integer', 256), 'decoder_filters': ('integer', 256),
    'image_pooling_stride': ('list', ['1', '1']), 'merge_method': ('enum', 'max', ('max', 'avg')),
    'add_image_level_feature': ('boolean', True), 'aspp_with_batch_norm': ('boolean', True),
    'aspp_with_separable_conv': ('boolean', True), 'decoder_use_separable_conv': ('boolean', True),
    'prediction_with_upsampled_logits': ('boolean', True), 'depth_multiplier': ('float', 1.0),
}
# eval.py, vis.py and export_model.py
UPSTREAM_PREDICTION_FLAGS = {
    'eval': {'eval_batch_size': ('integer', 1), 'eval_interval_secs': ('integer', 300),
             'add_flipped_images': ('boolean', False), 'atrous_rates': ('multi_integer', None),
             'eval_split': ('string', 'val'), 'dataset': ('string', 'pascal_voc_seg')},
    'vis': {'vis_batch_size': ('integer', 1), 'vis_crop_size': ('list', ['513', '513']),
            'output_stride': ('integer', 16), 'eval_scales': ('multi_float', [1.0]), 'vis_split': ('string', 'val')},
    'export_model': {'inference_scales': ('multi_float', [1.0]), 'add_flipped_images': ('boolean', False),
                     'save_inference_graph': ('boolean', False), 'quantize_delay_step': ('integer', -1)},
}


def test_upstream_train_flags_default_to_upstreams_schedule_and_augmentation():
    table = flag_table('train')
    assert {name: table[name] for name in UPSTREAM_TRAIN_FLAGS} == UPSTREAM_TRAIN_FLAGS


@pytest.mark.parametrize('script', ['train', 'eval', 'vis', 'export_model'])
def test_upstream_common_flags_default_to_upstreams_in_every_script(script):
    table = flag_table(script)
    assert {name: table[name] for name in UPSTREAM_COMMON_FLAGS} == UPSTREAM_COMMON_FLAGS


@pytest.mark.parametrize('script', sorted(UPSTREAM_PREDICTION_FLAGS))
def test_upstream_evaluation_flags_default_to_upstreams(script):
    table, expected = flag_table(script), UPSTREAM_PREDICTION_FLAGS[script]
    assert {name: table[name] for name in expected} == expected


# --- evaluation ---

# Upstream eval.py: 'Change to [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] for multi-scale test' (the DeepLabv3 paper's
# multi-scale inputs, 'Inference strategy on val set').
UPSTREAM_MULTI_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


def test_evaluation_pads_to_upstreams_513_crop_and_runs_one_unflipped_scale_by_default():
    """Upstream eval.py --eval_crop_size 513,513, --eval_scales [1.0], --add_flipped_images False; the original
    evaluate.py ran every image whole (no crop)."""
    assert model_config.DEFAULT_EVAL_CROP_SIZE == [513, 513]
    assert model_config.DEFAULT_EVAL_CROP_SIZES == {'deeplab': [513, 513], 'original': None}
    parser = parser_for('test')
    add_predict_flags(parser)
    args = parser.parse_args([])
    assert (args.inference_scales, args.add_flipped_images) == ([1.0], False)


def test_the_reproductions_multi_scale_inference_uses_upstreams_six_scales():
    assert tuple(float(scale) for scale in plan.MS_SCALES) == UPSTREAM_MULTI_SCALES


def test_the_reproduction_trains_with_the_original_train_pys_values():
    """plan.FULL repeats the original train.py's defaults as flags: learning rates 7e-3 -> 1e-6, weight decay 2e-4,
    output stride 16, 513 crops."""
    flags = plan.FULL['train']
    given = {flags[index]: flags[index + 1] for index, flag in enumerate(flags) if flag.startswith('--')}
    assert {name: float(given[name]) for name in ('--initial_learning_rate', '--end_learning_rate',
                                                  '--weight_decay', '--output_stride')} == {
        '--initial_learning_rate': 7e-3, '--end_learning_rate': 1e-6, '--weight_decay': 2e-4, '--output_stride': 16}
    assert flags[flags.index('--crop_size'):][1:3] == ['513', '513']


# --- MS-COCO ---

# The categories of COCO's instances_{train,val}2017.json ("categories": id, name), which the 2014 files share.
COCO_CATEGORIES = {
    1: 'person', 2: 'bicycle', 3: 'car', 4: 'motorcycle', 5: 'airplane', 6: 'bus', 7: 'train', 8: 'truck', 9: 'boat',
    10: 'traffic light', 11: 'fire hydrant', 13: 'stop sign', 14: 'parking meter', 15: 'bench', 16: 'bird',
    17: 'cat', 18: 'dog', 19: 'horse', 20: 'sheep', 21: 'cow', 22: 'elephant', 23: 'bear', 24: 'zebra',
    25: 'giraffe', 27: 'backpack', 28: 'umbrella', 31: 'handbag', 32: 'tie', 33: 'suitcase', 34: 'frisbee',
    35: 'skis', 36: 'snowboard', 37: 'sports ball', 38: 'kite', 39: 'baseball bat', 40: 'baseball glove',
    41: 'skateboard', 42: 'surfboard', 43: 'tennis racket', 44: 'bottle', 46: 'wine glass', 47: 'cup', 48: 'fork',
    49: 'knife', 50: 'spoon', 51: 'bowl', 52: 'banana', 53: 'apple', 54: 'sandwich', 55: 'orange', 56: 'broccoli',
    57: 'carrot', 58: 'hot dog', 59: 'pizza', 60: 'donut', 61: 'cake', 62: 'chair', 63: 'couch', 64: 'potted plant',
    65: 'bed', 67: 'dining table', 70: 'toilet', 72: 'tv', 73: 'laptop', 74: 'mouse', 75: 'remote', 76: 'keyboard',
    77: 'cell phone', 78: 'microwave', 79: 'oven', 80: 'toaster', 81: 'sink', 82: 'refrigerator', 84: 'book',
    85: 'clock', 86: 'vase', 87: 'scissors', 88: 'teddy bear', 89: 'hair drier', 90: 'toothbrush',
}
# COCO category id -> VOC class: torchvision's references/segmentation/coco_utils.py CAT_LIST
# [0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72], the VOC class of a category being its
# position there (airplane 5 -> 1 aeroplane, ..., person 1 -> 15, ..., tv 72 -> 20 tvmonitor).
COCO_TO_VOC = {5: 1, 2: 2, 16: 3, 9: 4, 44: 5, 6: 6, 3: 7, 17: 8, 62: 9, 21: 10, 67: 11, 18: 12, 19: 13, 4: 14,
               1: 15, 64: 16, 20: 17, 63: 18, 7: 19, 72: 20}


def test_coco_category_ids_and_names_are_the_instances_files():
    assert coco_classes.CATEGORIES == COCO_CATEGORIES


def test_coco_categories_become_voc_classes_as_torchvision_maps_them():
    assert coco_classes.category_classes('voc') == COCO_TO_VOC
    # 1 + 20 VOC classes, 1 + the 80 categories, or 1 + the largest id (90) when labels are the category ids
    assert coco_classes.NUM_CLASSES == {'voc': 21, 'all': 81, 'coco_ids': 91}
