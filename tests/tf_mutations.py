"""Hand-made mutation testing of the TensorFlow modules (make mutation-tf; docs/testing.md): mutmut's one pytest
run per mutant is too slow where every test builds graphs, so this is a reviewed list of plausible bugs instead,
each with the few fast tests expected to catch it.

The repository (git's tracked and untracked, not ignored, files; .venv left out) is copied into a temporary folder;
every listed test is run once unmutated, then each mutation in turn replaces one fragment of one file (a fragment
that does not occur exactly once is reported stale and skipped), runs its tests with this Python (`pytest -p
no:cacheprovider -q -x`, one process per test file), and puts the file back. Tests that fail catch the mutation;
tests that pass miss it.

    python tests/tf_mutations.py [--only SUBSTRING ...] [--list] [--show_output]
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Mutation = collections.namedtuple('Mutation', 'file old new bug tests')

# Test files of the expected tests.
BATCHED = 'tests/test_batched_prediction.py::'
DESCRIBE = 'tests/test_describe_checkpoint.py::'
DETERMINISM = 'tests/test_determinism.py::'
EXPORT = 'tests/test_export.py::'
FOLD = 'tests/test_batch_norm_fold.py::'
GRAPH = 'tests/test_model_graph.py::'
ORIGINAL = 'tests/test_original_layout.py::'
PRECISION = 'tests/test_precision.py::'
PREPROCESSING = 'tests/test_preprocessing.py::'
RECORDS = 'tests/test_records.py::'
RESNET = 'tests/test_resnet_names.py::'
SETTINGS = 'tests/test_model_settings.py::'
SHARED = 'tests/test_shared_flags.py::'
TRAINING = 'tests/test_training.py::'
TTA = 'tests/test_tta.py::'
TTA_CLI = 'tests/test_tta_cli.py::'
UPSTREAM = 'tests/test_upstream_records.py::'
XCEPTION = 'tests/test_xception.py::'

MUTATIONS = (
    # nets/resnet_v2.py
    Mutation('nets/resnet_v2.py', "strides=2, padding='SAME')", "strides=2, padding='VALID')",
             "pool1 with slim's default VALID padding, not resnet_arg_scope's SAME",
             (RESNET + 'test_output_stride_changes_resolution_not_variables',)),
    Mutation('nets/resnet_v2.py', 'stride = last_stride if unit == units - 1 else 1',
             'stride = last_stride if unit == 0 else 1',
             "a block's stride on its first unit (ResNet-v1's place), not its last",
             (RESNET + 'test_output_stride_changes_resolution_not_variables',)),
    Mutation('nets/resnet_v2.py', 'base_depth, 1, rate * grid, bn', 'base_depth, 1, rate, bn',
             "block4's multi-grid ignored once the output stride is reached",
             (GRAPH + 'test_resnet_atrous_rates_per_unit_and_aspp_defaults[16-block_rates0-aspp0-native]',)),
    Mutation('nets/resnet_v2.py', 'variance_scaling(scale=2.0', 'variance_scaling(scale=1.0',
             "the kernels' He initialisation without its factor 2 (LeCun's variance 1/fan-in)",
             (RESNET + 'test_kernels_start_with_he_initialisation',)),
    Mutation('nets/resnet_v2.py', "64, 7, 2, 'conv1', activation=None, ", "64, 7, 2, 'conv1', ",
             "conv1 followed by conv2d's default ReLU (slim's resnet_v2 leaves it linear)",
             (RESNET + 'test_conv1_feeds_pool1_without_an_activation',)),
    # nets/xception.py
    Mutation('nets/xception.py', 'BATCH_NORM_EPSILON = 1e-3', 'BATCH_NORM_EPSILON = 1e-5',
             "Xception's batch norm with ResNet's epsilon 1e-5, not DeepLab's 1e-3",
             (XCEPTION + 'test_backbone_batch_norm_epsilon_is_deeplabs_1e3',)),
    Mutation('nets/xception.py', "MULTI_GRID_BLOCK = 'exit_flow/block2'", "MULTI_GRID_BLOCK = 'exit_flow/block1'",
             'multi-grid applied to the wrong exit-flow block',
             (GRAPH + 'test_xception_exit_flow_block2_rates_follow_multi_grid',)),
    Mutation('nets/xception.py', "        padding = 'VALID'", "        padding = 'SAME'",
             'a strided depthwise convolution padded twice: fixed padding, then SAME',
             (XCEPTION + 'test_features_and_low_level_end_point_strides[16]',)),
    Mutation('nets/xception.py', 'conv_args, tf.nn.relu if relu_inside else None)', 'conv_args, None)',
             "exit_flow/block2's ReLUs inside its separable convolutions left out",
             (XCEPTION + 'test_relus_precede_the_separable_convs_and_sit_inside_those_of_exit_flow_block2',)),
    # nets/heads.py
    Mutation('nets/heads.py', 'images=inputs, size=size, align_corners=True,',
             'images=inputs, size=size, align_corners=False,',
             "DeepLab's resize without align_corners (TF1's default resize_bilinear)",
             (TTA + 'test_multi_scale_and_flips_compute_upstreams_rule',)),
    Mutation('nets/heads.py',
             "pooled = layers.like(tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2], keepdims=True), "
             "features)\n    pooled = layers.conv2d(",
             'pooled = layers.like(tf.reduce_mean(features, axis=[1, 2], keepdims=True), features)\n'
             '    pooled = layers.conv2d(',
             "ASPP's image pooling averaged in bfloat16: the float32 cast removed",
             (PRECISION + 'test_image_pooling_averages_bfloat16_features_in_float32',)),
    Mutation('nets/heads.py', 'tf.nn.dropout(net, rate=1.0 - CONCAT_DROPOUT_KEEP)',
             'tf.nn.dropout(net, rate=CONCAT_DROPOUT_KEEP)',
             "TF1's keep probability passed as TF2's rate: 90 % of the projection dropped in training",
             (GRAPH + 'test_aspp_drops_a_tenth_of_its_projection_in_training_only',)),
    Mutation('nets/heads.py', "f'{scope}_depthwise', rate=rate, bn=bn,", "f'{scope}_depthwise', bn=bn,",
             'the separable ASPP branches lose their atrous rate',
             (GRAPH + 'test_xception_exit_flow_block2_rates_follow_multi_grid',)),
    Mutation('nets/heads.py', 'net = tf.concat([resize_bilinear(features,',
             'net = tf.concat([resize_bilinear_legacy(features,',
             "the decoder upsamples with TF1's default resize, not DeepLab's align_corners",
             (XCEPTION + 'test_the_decoder_upsamples_with_align_corners',)),
    Mutation('nets/heads.py', '        branches.append(tf.broadcast_to(pooled,',
             '        branches.insert(0, tf.broadcast_to(pooled,',
             "the original layout's image-level branch concatenated first, in upstream's order",
             (ORIGINAL + 'test_the_head_computes_as_the_original_code_on_block4',)),
    # deeplab_model.py
    Mutation('deeplab_model.py', 'training=training and not frozen', 'training=training',
             '--freeze_batch_norm still normalises with batch statistics in training',
             (SETTINGS + 'test_batch_norm_follows_the_freeze_and_decay_settings',)),
    Mutation('deeplab_model.py', "decay=params.get('batch_norm_decay', BATCH_NORM_DECAY)", 'decay=BATCH_NORM_DECAY',
             '--batch_norm_decay not read: the default decay always',
             (SETTINGS + 'test_batch_norm_follows_the_freeze_and_decay_settings',)),
    Mutation('deeplab_model.py', 'fold=not training)', 'fold=False)',
             'batch norm not folded into the convolutions of inference graphs',
             (FOLD + 'test_inference_graph_has_no_batch_norm_after_a_convolution_and_training_keeps_them'
                     '[resnet_v2_50]',)),
    Mutation('deeplab_model.py',
             'return tf.cast(network_logits(tf.cast(normalized, precision.compute_dtype(params)), params, training), '
             'tf.float32)',
             'return network_logits(tf.cast(normalized, precision.compute_dtype(params)), params, training)',
             'logits left in bfloat16 for the resize, softmax and loss: the float32 cast removed',
             (PRECISION + 'test_the_flag_sets_the_convolutions_dtype_and_variables_stay_float32[bfloat16-dtype1]',)),
    Mutation('deeplab_model.py', '(tf.cast(dim, tf.float32) - 1.0) * scale + 1.0', 'tf.cast(dim, tf.float32) * scale',
             "a scaled side of side * s, not upstream's int((side - 1) * s + 1)",
             (TTA + 'test_scaled_inputs_of_a_513_crop_are_upstreams_sizes',)),
    Mutation('deeplab_model.py', 'scale_dimension(size, max(1.0, scale) / logits_stride(params))',
             'scale_dimension(size, scale / logits_stride(params))',
             "multi-scale logits resized to their own scale's size, not upstream's common max(1, s) one",
             (TTA + 'test_multi_scale_and_flips_compute_upstreams_rule',)),
    Mutation('deeplab_model.py', '/ float(len(probabilities))', '/ float(len(scales))',
             'the multi-scale mean divided by the number of scales, flips left out',
             (TTA + 'test_scales_average_probabilities_at_input_size',)),
    Mutation('deeplab_model.py', "power=params.get('learning_power', POLY_POWER)", 'power=POLY_POWER',
             '--learning_power not read: the poly decay always at 0.9',
             (TRAINING + 'test_learning_power_shapes_the_poly_decay',)),
    # preprocessing.py
    Mutation('preprocessing.py', "dct_method='INTEGER_ACCURATE'", "dct_method=''",
             "JPEGs decoded with TensorFlow's default DCT, not the pixels Pillow gives",
             (PREPROCESSING + 'test_eval_path_gives_whole_unaugmented_images_in_list_order',)),
    Mutation('preprocessing.py', 'tf.strings.length(ours) > 0', 'tf.strings.length(ours) >= 0',
             "upstream records' labels never read: an empty label/encoded always taken",
             (UPSTREAM + 'test_evaluation_reads_the_upstream_labels_exactly',)),
    Mutation('preprocessing.py', 'bad = tf.logical_and(label >= num_classes,',
             'bad = tf.logical_and(label > num_classes,',
             'a label equal to num_classes passes the record check',
             (PREPROCESSING + 'test_a_label_from_num_classes_up_stops_the_pipeline_and_void_does_not',)),
    Mutation('preprocessing.py', 'tf.pad(images - fill, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])',
             'tf.pad(images - fill, [[0, 0], [extra[0], 0], [extra[1], 0], [0, 0]])',
             'evaluation padding at the top/left instead of the bottom/right',
             (EXPORT + 'test_evaluation_padding_fills_with_the_value_that_normalises_to_zero',)),
    Mutation('preprocessing.py', 'rows = tf.range(shape[1])[tf.newaxis, :, tf.newaxis] < sizes',
             'rows = tf.range(shape[1])[tf.newaxis, :, tf.newaxis] <= sizes',
             "a batched image keeps one row of its neighbour's padding: off by one in fill_outside",
             (PREPROCESSING + 'test_fill_outside_keeps_exactly_each_images_own_rows_and_columns',)),
    Mutation('preprocessing.py', 'label = tf.pad(label - IGNORE_LABEL, extra) + IGNORE_LABEL',
             'label = tf.pad(label, extra)',
             'crop padding labelled background (0), not void (255)',
             (PREPROCESSING + 'test_augmentation_keeps_label_values_and_image_label_alignment',)),
    Mutation('preprocessing.py', '- [crop_h, crop_w] + 1', '- [crop_h, crop_w]',
             'the last crop offset never drawn (off by one in the random crop)',
             (PREPROCESSING + 'test_random_crops_reach_every_offset',)),
    Mutation('preprocessing.py', 'dataset.batch(batch_size, drop_remainder=True)',
             'dataset.batch(batch_size, drop_remainder=False)',
             "training keeps the last partial batch (and the batch shape's static size is lost)",
             (PREPROCESSING + 'test_training_batches_have_fixed_shapes_and_drop_the_partial_batch',)),
    # utils/runtime/model_config.py
    Mutation('utils/runtime/model_config.py', 'DEFAULT_ATROUS_RATES = {8: [12, 24, 36], 16: [6, 12, 18]}',
             'DEFAULT_ATROUS_RATES = {8: [6, 12, 18], 16: [12, 24, 36]}',
             'the default ASPP rates of output strides 8 and 16 swapped',
             (GRAPH + 'test_resnet_atrous_rates_per_unit_and_aspp_defaults[16-block_rates0-aspp0-native]',)),
    Mutation('utils/runtime/model_config.py', "'resnet_v2_101': [1, 2, 4]", "'resnet_v2_101': [1, 1, 1]",
             "ResNet-101 without the DeepLabv3 paper's multi-grid (1, 2, 4)",
             (SETTINGS + 'test_multi_grid_is_defined_once_per_backbone_and_recorded_as_built',)),
    Mutation('utils/runtime/model_config.py', 'BATCH_NORM_DECAY = 0.9997', 'BATCH_NORM_DECAY = 0.997',
             "slim's ResNet batch-norm decay 0.997, not DeepLab's 0.9997",
             (SHARED + 'test_without_a_saved_description_the_defaults_are_resnet_v2_101_at_stride_16',)),
    Mutation('utils/runtime/model_config.py', "2 <= resolved['num_classes'] <= IGNORE_LABEL",
             "2 <= resolved['num_classes'] < IGNORE_LABEL",
             '255 classes (0..254 and the void 255) refused: off by one in the class-count check',
             (SETTINGS + 'test_the_limits_themselves_are_accepted',)),
    Mutation('utils/runtime/model_config.py', "0.0 < resolved['batch_norm_decay'] < 1.0",
             "0.0 < resolved['batch_norm_decay'] <= 1.0",
             'a batch-norm decay of 1 accepted: moving statistics that never move',
             (SETTINGS + 'test_settings_the_model_cannot_build_are_refused',)),
    # utils/runtime/precision.py
    Mutation('utils/runtime/precision.py', "'float16': tf.float16}", "'float16': tf.bfloat16}",
             '--precision float16 computes in bfloat16',
             (PRECISION + 'test_the_flag_sets_the_convolutions_dtype_and_variables_stay_float32[float16-dtype2]',)),
    Mutation('utils/runtime/precision.py', "if gpu or precision == 'float32':", "if gpu and precision == 'float32':",
             'the slow-precision note also for float32, and on GPUs',
             (PRECISION + 'test_the_slow_precision_note_names_what_is_missing',)),
    Mutation('utils/runtime/precision.py', "if precision != 'float16':", "if precision == 'float32':",
             'bfloat16 trained under loss scaling too',
             (PRECISION + 'test_float16_trains_under_dynamic_loss_scaling_and_bfloat16_without',)),
    # utils/runtime/checkpoint_description.py
    Mutation('utils/runtime/checkpoint_description.py', 'names.get(ORIGINAL_LOGITS if original else LOGITS)',
             'names.get(LOGITS)',
             "an original-project checkpoint's class count not read: taken for a backbone only",
             (DESCRIBE + 'test_an_original_project_checkpoint_is_named_as_such',)),
    Mutation('utils/runtime/checkpoint_description.py', 'if len(variants) != 1:', 'if not variants:',
             'a checkpoint holding two backbones described by the first one',
             (DESCRIBE + 'test_a_checkpoint_of_two_backbones_is_refused',)),
    Mutation('utils/runtime/checkpoint_description.py',
             "'decoder_output_stride': 4 if any(name.startswith('decoder/') for name in names) else None",
             "'decoder_output_stride': None",
             "a v3+ checkpoint's decoder not recognised",
             (DESCRIBE + 'test_a_deeplab_checkpoint_gets_its_description',)),
    # utils/runtime/export.py
    Mutation('utils/runtime/export.py', 'placeholder(tf.uint8, [1, None, None, 3], name=INPUT_NAME)',
             'placeholder(tf.float32, [1, None, None, 3], name=INPUT_NAME)',
             "the model zoo's uint8 ImageTensor exported as float32",
             (EXPORT + 'test_the_zoo_and_original_interfaces_take_and_give_their_dtypes_and_shapes',)),
    Mutation('utils/runtime/export.py', 'output_type=tf.int32, name=PREDICTIONS_NAME)', 'name=PREDICTIONS_NAME)',
             "SemanticPredictions int64 (argmax's default), not the model zoo's int32",
             (EXPORT + 'test_the_zoo_and_original_interfaces_take_and_give_their_dtypes_and_shapes',)),
    Mutation('utils/runtime/export.py',
             "classes = tf.expand_dims(tf.argmax(probabilities, axis=3, output_type=tf.int32), axis=3, name='classes')",
             "classes = tf.argmax(probabilities, axis=3, output_type=tf.int32, name='classes')",
             "the original SavedModel's classes without their channel axis ([N, H, W], not [N, H, W, 1])",
             (EXPORT + 'test_the_zoo_and_original_interfaces_take_and_give_their_dtypes_and_shapes',)),
    Mutation('utils/runtime/export.py', 'placeholder(tf.float32, [None, None, None, 3], name=ORIGINAL_INPUT_NAME)',
             'placeholder(tf.float32, [1, None, None, 3], name=ORIGINAL_INPUT_NAME)',
             "the original SavedModel takes one image, not a batch",
             (EXPORT + 'test_the_zoo_and_original_interfaces_take_and_give_their_dtypes_and_shapes',)),
    # utils/runtime/predict.py
    Mutation('utils/runtime/predict.py', 'max(width, eval_crop_size[1])', 'max(width, eval_crop_size[0])',
             "images grouped by a width padded to the crop's height",
             (BATCHED + 'test_each_side_is_padded_to_its_own_side_of_the_crop',)),
    Mutation('utils/runtime/predict.py', 'len(batch) == batch_size or shape_of(item)',
             'len(batch) == batch_size and shape_of(item)',
             'images of different padded shapes put in one batch',
             (BATCHED + 'test_images_batch_in_order_by_the_shape_the_network_sees',)),
    Mutation('utils/runtime/predict.py', 'CheckpointPredictor(model_dir, params, predict_fn, scales, flip,',
             'CheckpointPredictor(model_dir, params, predict_fn, scales, False,',
             '--add_flipped_images not passed on to the predictor',
             (TTA_CLI + 'test_inference_tta_flags_reach_the_predictor_and_change_the_probabilities',)),
    # utils/runtime/training.py
    Mutation('utils/runtime/training.py', 'if num_examples < batch_size:', 'if num_examples <= batch_size:',
             'a record set of exactly one batch refused',
             (TRAINING + 'test_a_record_set_of_exactly_one_batch_trains_and_a_smaller_one_is_refused',)),
    Mutation('utils/runtime/training.py',
             'save_checkpoints_secs=None if run.save_checkpoints_steps else run.save_checkpoints_secs',
             'save_checkpoints_secs=run.save_checkpoints_secs',
             '--save_checkpoints_steps given with the seconds default too (the Estimator refuses both)',
             (TRAINING + 'test_the_checkpoint_flags_reach_the_estimator',)),
    Mutation('utils/runtime/training.py', 'keep_checkpoint_max=run.keep_checkpoints,', '',
             "--keep_checkpoints not read: the Estimator's default 5 kept",
             (TRAINING + 'test_the_checkpoint_flags_reach_the_estimator',)),
    Mutation('utils/runtime/training.py',
             "run.batch_size, epochs, tuple(run.crop_size), params['input_normalization'],",
             "run.batch_size, epochs, tuple(run.crop_size), 'inception',",
             'training pads mean-subtraction models with the Inception grey: the normalisation not passed on',
             (TRAINING + 'test_the_input_functions_get_the_models_normalisation_and_classes',)),
    Mutation('utils/runtime/training.py', 'if clean and os.path.isdir(model_dir):', 'if os.path.isdir(model_dir):',
             'an existing model folder emptied without --clean_model_dir',
             (TRAINING + 'test_the_model_folder_is_emptied_only_with_clean_model_dir',)),
    # utils/records/tfrecords.py
    Mutation('utils/records/tfrecords.py', "'image/height': _int(height),\n        'image/width': _int(width),",
             "'image/height': _int(width),\n        'image/width': _int(height),",
             "an example's height and width swapped",
             (RECORDS + 'test_round_trip_keeps_original_bytes_sizes_and_order',)),
    Mutation('utils/records/tfrecords.py', "UPSTREAM_LABEL_KEY = 'image/segmentation/class/encoded'",
             "UPSTREAM_LABEL_KEY = 'image/segmentation/encoded'",
             "upstream's label feature misnamed",
             (UPSTREAM + 'test_evaluation_reads_the_upstream_labels_exactly',)),
    Mutation('utils/records/tfrecords.py', "if img.format == 'PNG' and img.mode == 'L':", "if img.format == 'PNG':",
             'palette PNG labels stored byte for byte, so TensorFlow decodes colours, not class indices',
             (RECORDS + 'test_palette_and_grayscale_labels_both_decode_to_class_indices[label_dir]',)),
    Mutation('utils/records/tfrecords.py', 'if num_shards <= 1:', 'if num_shards < 1:',
             'one shard named voc_train.record-00000-of-00001, not voc_train.record',
             (RECORDS + 'test_upstream_script_name_runs_the_same_main',)),
    # nets/layers.py
    Mutation('nets/layers.py', 'momentum = 1.0 - bn.decay', 'momentum = bn.decay',
             "the batch-norm decay used as the new batch's weight in the moving averages",
             (FOLD + 'test_training_batch_norm_moves_its_averages_by_one_minus_the_decay',)),
    Mutation('nets/layers.py',
             'padded = fixed_padding(inputs, kernel_size, rate)\n    return conv2d(padded, num_outputs, kernel_size, '
             "scope, stride=stride, rate=rate, padding='VALID', **kwargs)",
             'return conv2d(inputs, num_outputs, kernel_size, scope, stride=stride, rate=rate, padding=\'SAME\', '
             '**kwargs)',
             "a strided conv2d_same by TensorFlow's SAME (bottom/right padding), not slim's symmetric padding",
             (RESNET + 'test_a_strided_conv2d_same_pads_symmetrically_on_even_sides',)),
)

# pytest's exit codes: 1 tests failed, 2 interrupted (an error while collecting, e.g. the mutant breaks an import).
CAUGHT_CODES = (1, 2)


def selected(only):
    """The mutations whose "file: bug" contains one of the substrings `only` (all when there is none)."""
    return [m for m in MUTATIONS if not only or any(part in f'{m.file}: {m.bug}' for part in only)]


def copy_repository(target):
    """Copy the repository's files (tracked, and untracked but not ignored; .venv never) into `target`."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode('utf-8').split('\0')
    for name in listed:
        source = os.path.join(ROOT, name)
        if not name or name == '.venv' or name.startswith('.venv/') or not os.path.lexists(source):
            continue
        os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
        shutil.copy2(source, os.path.join(target, name), follow_symlinks=False)


def mutated(source, mutation):
    """`source` with the mutation's fragment replaced, or None when the fragment is not there exactly once."""
    if source.count(mutation.old) != 1:
        return None
    return source.replace(mutation.old, mutation.new)


def run_tests(folder, tests, timeout):
    """(pytest's exit code, or None on a timeout; its output) of `tests` run in `folder`: one pytest process per
    test file, as `make test` runs them (a file that sets up TensorFlow's devices needs a process of its own), up to
    the first that fails."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')  # no stale bytecode of an earlier mutant of the same size
    deadline = None if timeout is None else time.monotonic() + timeout
    by_file = {}
    for test in tests:
        by_file.setdefault(test.split('::')[0], []).append(test)
    code, output = 0, ''
    for group in by_file.values():
        command = [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-q', '-x', '--show-capture=no', *group]
        try:
            result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                                    timeout=None if deadline is None else max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None, output
        code, output = result.returncode, output + result.stdout + result.stderr
        if code != 0:
            break
    return code, output


def outcome(code):
    """'caught', 'missed' or 'error' (a timeout, or pytest's usage error: a listed test that does not exist)."""
    if code in CAUGHT_CODES:
        return 'caught'
    return 'missed' if code == 0 else 'error'


def try_mutation(folder, mutation, timeout):
    """(outcome, pytest's output) of one mutation in the copy `folder`; the file is put back afterwards."""
    path = os.path.join(folder, mutation.file)
    with open(path, encoding='utf-8') as handle:
        original = handle.read()
    source = mutated(original, mutation)
    if source is None:
        return 'stale', f'{mutation.file}: the fragment occurs {original.count(mutation.old)} times, not once'
    try:
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(source)
        code, output = run_tests(folder, mutation.tests, timeout)
    finally:
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(original)
    return outcome(code), output


def score_table(results):
    """Per file (in list order) and in total: mutations, caught, missed, other (stale or error) and the score,
    caught / mutations run (stale ones are not run)."""
    files = list(dict.fromkeys(m.file for m, _ in results))
    rows = [('file', 'mutations', 'caught', 'missed', 'other', 'score')]
    for name in files + ['total']:
        outcomes = [o for m, o in results if name in ('total', m.file)]
        run = len([o for o in outcomes if o != 'stale'])
        caught, missed = outcomes.count('caught'), outcomes.count('missed')
        score = f'{100 * caught / run:.1f} %' if run else '-'
        rows.append((name, str(len(outcomes)), str(caught), str(missed), str(len(outcomes) - caught - missed), score))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))) for row in rows)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--only', metavar='SUBSTRING', action='append',
                        help='only the mutations whose "file: bug" contains it (repeat it for several)')
    parser.add_argument('--list', action='store_true', help='print the mutations and their tests, run nothing')
    parser.add_argument('--timeout', type=float, default=900, help='seconds for one mutation\'s tests (900)')
    parser.add_argument('--no_baseline', action='store_true',
                        help='skip the first run of every selected test on the unmutated copy')
    parser.add_argument('--show_output', action='store_true',
                        help="print the end of pytest's output for every mutation (by default: stale and errors)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    mutations = selected(args.only)
    if not mutations:
        print(f'error: no mutation matches {" or ".join(args.only)}', file=sys.stderr)
        return 2
    if args.list:
        for number, mutation in enumerate(mutations, 1):
            print(f'{number}. {mutation.file}: {mutation.bug}\n   - {mutation.old!r}\n   + {mutation.new!r}')
            print(''.join(f'   {test}\n' for test in mutation.tests), end='')
        return 0
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='tf_mutations.') as folder:
        copy_repository(folder)
        if not args.no_baseline:
            tests = list(dict.fromkeys(test for mutation in mutations for test in mutation.tests))
            code, output = run_tests(folder, tests, None)
            if code != 0:
                print(output[-6000:])
                print(f'error: the unmutated copy fails its tests (pytest exit code {code})', file=sys.stderr)
                return 2
            print(f'baseline: {len(tests)} tests pass unmutated ({time.monotonic() - start:.0f} s)', flush=True)
        results = []
        for number, mutation in enumerate(mutations, 1):
            began = time.monotonic()
            result, output = try_mutation(folder, mutation, args.timeout)
            results.append((mutation, result))
            print(f'[{number}/{len(mutations)}] {result:6}  {mutation.file}: {mutation.bug} '
                  f'({time.monotonic() - began:.0f} s)', flush=True)
            if args.show_output or result in ('stale', 'error'):
                print(output[-3000:])
    print('\n' + score_table(results))
    if any(o != 'caught' for _, o in results):
        print('\nnot caught:')
        for mutation, result in ((m, o) for m, o in results if o != 'caught'):
            print(f'  {result}: {mutation.file}: {mutation.bug}\n    - {mutation.old!r}\n    + {mutation.new!r}')
    print(f'\n{len(results)} mutations in {time.monotonic() - start:.0f} s')
    return 1 if any(o in ('stale', 'error') for _, o in results) else 0


if __name__ == '__main__':
    sys.exit(main())
