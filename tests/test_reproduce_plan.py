"""The reproduction's plan as data: each stage's exact commands, the paths it makes, the folders and the sources."""
from utils.reproduce import plan as reproduce_plan
from utils.reproduce.plan import Layout, archive_url, build_plan, downloads, row_description

W = '/w'
VOC = '/w/data/voc_trainval/VOCdevkit/VOC2012'
GT = VOC + '/SegmentationClass'
# The official sources, as their publishers give them:
# PASCAL VOC 2012 (host.robots.ox.ac.uk/pascal/VOC/voc2012/, "training/validation data" tar and its MD5)
VOC_URL = 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar'
VOC_MD5 = '6cd6e144f989b92b3379bac3b3de84fd'
# SBD, Hariharan et al. (eecs.berkeley.edu ... semantic_contours/, benchmark.tgz)
SBD_URL = 'http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz'
SBD_MD5 = '82b4d87ceb2ed10f6038a1cba92111cb'
# TF-slim's pre-trained models table (tensorflow/models research/slim README)
SLIM_50_URL = 'http://download.tensorflow.org/models/resnet_v2_50_2017_04_14.tar.gz'
SLIM_101_URL = 'http://download.tensorflow.org/models/resnet_v2_101_2017_04_14.tar.gz'
# DeepLab's model zoo (tensorflow/models research/deeplab/g3doc/model_zoo.md, PASCAL VOC 2012 xception65)
ZOO_TRAIN_AUG_URL = 'http://download.tensorflow.org/models/deeplabv3_pascal_train_aug_2018_01_04.tar.gz'
ZOO_TRAINVAL_URL = 'http://download.tensorflow.org/models/deeplabv3_pascal_trainval_2018_01_04.tar.gz'

ROW_DIRS = ['/w/results/deeplabv3', '/w/results/deeplabv3_msflip', '/w/results/zoo_train_aug',
            '/w/results/zoo_train_aug_ckpt', '/w/results/zoo_trainval', '/w/results/zoo_trainval_ckpt',
            '/w/results/stack_hard', '/w/results/stack_hard_crf', '/w/results/stack_soft',
            '/w/results/stack_soft_crf']


def commands(plan, name):
    """[[script, *argv], ...] of one stage."""
    [stage] = [s for s in plan if s.name == name]
    return [[c.script, *c.argv] for c in stage.commands]


def quick_plan(**options):
    return build_plan(Layout(W), quick=True, **options)


def test_the_layout_puts_every_folder_under_the_work_folder():
    layout = Layout('/w/')
    assert (layout.work, layout.downloads, layout.voc_test_tar) == (
        '/w', '/w/downloads', '/w/downloads/VOC2012test.tar')
    assert (layout.voc, layout.voc_test, layout.sbd) == (
        VOC, '/w/data/voc_test/VOCdevkit/VOC2012', '/w/data/sbd/benchmark_RELEASE/dataset')
    assert (layout.ready_made_aug, layout.aug, layout.lists, layout.run_images) == (
        None, '/w/data/SegmentationClassAug', '/w/lists', '/w/images')
    assert (layout.records, layout.model, layout.scores, layout.state) == (
        '/w/records', '/w/models/deeplabv3', '/w/scores', '/w/.reproduce')
    assert layout.list('val_tune') == '/w/lists/run_val_tune.txt'
    assert layout.result('stack_soft') == '/w/results/stack_soft'
    assert layout.slim_checkpoint('resnet_v2_101') == '/w/pretrained/resnet_v2_101/resnet_v2_101.ckpt'
    assert layout.zoo_dir('zoo_trainval') == '/w/zoo/trainval/deeplabv3_pascal_trainval'
    assert layout.zoo_dir('zoo_train_aug') == '/w/zoo/train_aug/deeplabv3_pascal_train_aug'
    assert layout.crf_params('stack_hard') == '/w/crf/stack_hard.json'
    assert layout.submission('zoo_trainval') == '/w/submission/zoo_trainval_comp6.tar.gz'


def test_a_hand_fetched_test_tar_and_a_ready_made_segmentation_class_aug_are_taken_where_they_are(tmp_path,
                                                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout = Layout('/w', voc_test_tar='mine/VOC2012test.tar', segmentation_class_aug='mine/Aug')
    assert layout.voc_test_tar == f'{tmp_path}/mine/VOC2012test.tar'
    assert layout.ready_made_aug == layout.aug == f'{tmp_path}/mine/Aug'


def test_the_archives_come_from_their_official_urls_or_a_mirror():
    layout = Layout(W)
    fetched = downloads(layout, reproduce_plan.QUICK)
    assert [(archive_url(a), path) for a, path in fetched] == [
        (VOC_URL, '/w/downloads/VOCtrainval_11-May-2012.tar'), (SBD_URL, '/w/downloads/benchmark.tgz'),
        (SLIM_50_URL, '/w/downloads/resnet_v2_50_2017_04_14.tar.gz'),
        (ZOO_TRAIN_AUG_URL, '/w/downloads/deeplabv3_pascal_train_aug_2018_01_04.tar.gz'),
        (ZOO_TRAINVAL_URL, '/w/downloads/deeplabv3_pascal_trainval_2018_01_04.tar.gz')]
    assert [a.md5 for a, _ in fetched] == [VOC_MD5, SBD_MD5, None, None, None]
    assert [archive_url(a, 'https://m.example/voc//') for a, _ in fetched[:2]] == [
        'https://m.example/voc/VOCtrainval_11-May-2012.tar', 'https://m.example/voc/benchmark.tgz']
    assert archive_url(fetched[0][0], '') == VOC_URL
    assert archive_url(fetched[1][0], 'http://m/X') == 'http://m/X/benchmark.tgz'
    ready = downloads(Layout(W, segmentation_class_aug='/aug'), reproduce_plan.FULL)
    assert [archive_url(a) for a, _ in ready] == [VOC_URL, SLIM_101_URL, ZOO_TRAIN_AUG_URL, ZOO_TRAINVAL_URL]


def test_the_download_stage_fetches_each_archive_checked_against_its_md5():
    assert commands(quick_plan(), 'download') == [
        ['download', '--url', VOC_URL, '--output', '/w/downloads/VOCtrainval_11-May-2012.tar', '--md5', VOC_MD5],
        ['download', '--url', SBD_URL, '--output', '/w/downloads/benchmark.tgz', '--md5', SBD_MD5],
        ['download', '--url', SLIM_50_URL, '--output', '/w/downloads/resnet_v2_50_2017_04_14.tar.gz'],
        ['download', '--url', ZOO_TRAIN_AUG_URL, '--output',
         '/w/downloads/deeplabv3_pascal_train_aug_2018_01_04.tar.gz'],
        ['download', '--url', ZOO_TRAINVAL_URL, '--output',
         '/w/downloads/deeplabv3_pascal_trainval_2018_01_04.tar.gz']]


def test_given_checksums_replace_the_published_ones_and_a_mirror_replaces_the_urls():
    checksums = {'benchmark.tgz': 'b' * 32, 'resnet_v2_50_2017_04_14.tar.gz': 'c' * 32, 'VOC2012test.tar': 'd' * 32}
    plan = quick_plan(mirror='http://mirror/', checksums=checksums)
    assert commands(plan, 'download') == [
        ['download', '--url', 'http://mirror/VOCtrainval_11-May-2012.tar', '--output',
         '/w/downloads/VOCtrainval_11-May-2012.tar', '--md5', VOC_MD5],
        ['download', '--url', 'http://mirror/benchmark.tgz', '--output', '/w/downloads/benchmark.tgz',
         '--md5', 'b' * 32],
        ['download', '--url', 'http://mirror/resnet_v2_50_2017_04_14.tar.gz', '--output',
         '/w/downloads/resnet_v2_50_2017_04_14.tar.gz', '--md5', 'c' * 32],
        ['download', '--url', 'http://mirror/deeplabv3_pascal_train_aug_2018_01_04.tar.gz', '--output',
         '/w/downloads/deeplabv3_pascal_train_aug_2018_01_04.tar.gz'],
        ['download', '--url', 'http://mirror/deeplabv3_pascal_trainval_2018_01_04.tar.gz', '--output',
         '/w/downloads/deeplabv3_pascal_trainval_2018_01_04.tar.gz']]
    extract = commands(plan, 'extract')
    assert extract[0] == ['extract', '--archive', '/w/downloads/VOC2012test.tar', '--output_dir', '/w/data/voc_test',
                          '--md5', 'd' * 32]
    assert extract[2] == ['extract', '--archive', '/w/downloads/benchmark.tgz', '--output_dir', '/w/data/sbd']


def test_the_extract_stage_unpacks_every_archive_then_checks_the_checkpoints():
    expected = [
        ['extract', '--archive', '/w/downloads/VOC2012test.tar', '--output_dir', '/w/data/voc_test'],
        ['extract', '--archive', '/w/downloads/VOCtrainval_11-May-2012.tar', '--output_dir', '/w/data/voc_trainval'],
        ['extract', '--archive', '/w/downloads/benchmark.tgz', '--output_dir', '/w/data/sbd'],
        ['extract', '--archive', '/w/downloads/resnet_v2_50_2017_04_14.tar.gz', '--output_dir',
         '/w/pretrained/resnet_v2_50'],
        ['extract', '--archive', '/w/downloads/deeplabv3_pascal_train_aug_2018_01_04.tar.gz', '--output_dir',
         '/w/zoo/train_aug'],
        ['extract', '--archive', '/w/downloads/deeplabv3_pascal_trainval_2018_01_04.tar.gz', '--output_dir',
         '/w/zoo/trainval'],
        ['describe_checkpoint', '--checkpoint', '/w/pretrained/resnet_v2_50/resnet_v2_50.ckpt',
         '--expect_variant', 'resnet_v2_50'],
        ['describe_checkpoint', '--checkpoint', '/w/zoo/train_aug/deeplabv3_pascal_train_aug/model.ckpt',
         '--output_stride', '16'],
        ['describe_checkpoint', '--checkpoint', '/w/zoo/trainval/deeplabv3_pascal_trainval/model.ckpt',
         '--output_stride', '16']]
    assert commands(quick_plan(), 'extract') == expected


def test_the_full_run_checks_the_published_backbones_and_output_stride():
    plan = build_plan(Layout(W, voc_test_tar='/t/VOC2012test.tar'))
    assert commands(plan, 'extract')[0] == ['extract', '--archive', '/t/VOC2012test.tar', '--output_dir',
                                            '/w/data/voc_test']
    assert commands(plan, 'extract')[-3:] == [
        ['describe_checkpoint', '--checkpoint', '/w/pretrained/resnet_v2_101/resnet_v2_101.ckpt',
         '--expect_variant', 'resnet_v2_101'],
        ['describe_checkpoint', '--checkpoint', '/w/zoo/train_aug/deeplabv3_pascal_train_aug/model.ckpt',
         '--output_stride', '8', '--expect_variant', 'xception_65'],
        ['describe_checkpoint', '--checkpoint', '/w/zoo/trainval/deeplabv3_pascal_trainval/model.ckpt',
         '--output_stride', '8', '--expect_variant', 'xception_65']]


def test_the_labels_and_records_stages():
    plan = quick_plan()
    assert commands(plan, 'labels') == [[
        'prepare_labels', '--voc_root', VOC, '--sbd_root', '/w/data/sbd/benchmark_RELEASE/dataset',
        '--output_dir', '/w/data/SegmentationClassAug', '--list_dir', '/w/lists',
        '--voc_test_root', '/w/data/voc_test/VOCdevkit/VOC2012', '--run_image_dir', '/w/images',
        '--num_train', '8', '--num_val', '6', '--num_test', '4']]
    assert commands(plan, 'records') == [[
        'create_tf_record', '--data_dir', '/w/records', '--image_data_dir', VOC + '/JPEGImages',
        '--ground_truth_dir', '/w/data/SegmentationClassAug', '--train_data_list', '/w/lists/run_train.txt',
        '--valid_data_list', '/w/lists/run_val.txt', '--num_shards', '1', '--overwrite']]


def test_a_ready_made_segmentation_class_aug_replaces_sbd():
    plan = build_plan(Layout(W, segmentation_class_aug='/aug'))
    assert commands(plan, 'labels') == [[
        'prepare_labels', '--voc_root', VOC, '--segmentation_class_aug', '/aug', '--list_dir', '/w/lists',
        '--voc_test_root', '/w/data/voc_test/VOCdevkit/VOC2012', '--run_image_dir', '/w/images']]
    assert commands(plan, 'records')[0][-5:] == ['--valid_data_list', '/w/lists/run_val.txt', '--num_shards', '4',
                                                 '--overwrite']
    assert commands(plan, 'records')[0][5:7] == ['--ground_truth_dir', '/aug']
    [labels] = [s for s in plan if s.name == 'labels']
    assert labels.outputs == ['/w/lists', '/w/images']  # never the user's own labels
    assert [c[0] for c in commands(plan, 'download')] == ['download'] * 4


def test_the_quick_train_stage():
    assert commands(quick_plan(), 'train') == [[
        'train', '--model_dir', '/w/models/deeplabv3', '--data_dir', '/w/records',
        '--pre_trained_model', '/w/pretrained/resnet_v2_50/resnet_v2_50.ckpt', '--model_variant', 'resnet_v2_50',
        '--batch_size', '2', '--max_iter', '2', '--train_epochs', '1000', '--crop_size', '129', '129', '--no_eval',
        '--save_checkpoints_steps', '1', '--keep_checkpoints', '1', '--batch_norm_decay', '0.9',
        '--seed', '0', '--deterministic']]


def test_the_full_train_stage_has_the_original_projects_settings_gpus_and_precision():
    plan = build_plan(Layout(W), num_gpus=0, precision='float16')
    assert commands(plan, 'train') == [[
        'train', '--model_dir', '/w/models/deeplabv3', '--data_dir', '/w/records',
        '--pre_trained_model', '/w/pretrained/resnet_v2_101/resnet_v2_101.ckpt', '--model_variant', 'resnet_v2_101',
        '--batch_size', '16', '--train_epochs', '46', '--initial_learning_rate', '7e-3', '--end_learning_rate', '1e-6',
        '--layout', 'original', '--regularization', 'all_trainable', '--weight_decay', '2e-4', '--output_stride', '16',
        '--crop_size', '513', '513', '--seed', '0', '--deterministic', '--num_gpus', '0', '--precision', 'float16']]
    assert commands(build_plan(Layout(W), precision='float32'), 'train')[0][-4:] == [
        '513', '--seed', '0', '--deterministic']  # the published precision is the default: no flag


def test_the_evaluate_stage_scores_our_model_single_scale_and_with_scales_and_flip():
    assert commands(quick_plan(), 'evaluate') == [
        ['inference', '--image_data_dir', '/w/images', '--image_list', '/w/lists/run_val.txt',
         '--output_dir', '/w/results/deeplabv3', '--model_dir', '/w/models/deeplabv3',
         '--eval_crop_size', '129', '129'],
        ['inference', '--image_data_dir', '/w/images', '--image_list', '/w/lists/run_val_test.txt',
         '--output_dir', '/w/results/deeplabv3_msflip', '--model_dir', '/w/models/deeplabv3',
         '--eval_crop_size', '129', '129', '--inference_scales', '0.75', '1.25', '--add_flipped_images',
         '--save_probabilities'],
        ['evaluate', '--prediction_dir', '/w/results/deeplabv3', '/w/results/deeplabv3_msflip',
         '--ground_truth_dir', GT, '--image_list', '/w/lists/run_val.txt', '--output_json', '/w/scores/deeplabv3.json']]
    full = commands(build_plan(Layout(W), precision='bfloat16'), 'evaluate')
    assert full[0][7:] == ['--model_dir', '/w/models/deeplabv3', '--precision', 'bfloat16']
    assert full[1][7:] == ['--model_dir', '/w/models/deeplabv3', '--precision', 'bfloat16', '--inference_scales',
                           '0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '--add_flipped_images', '--save_probabilities']


def test_the_zoo_stage_runs_each_frozen_graph_and_its_checkpoint():
    def ckpt(name, folder):
        return ['inference', '--image_data_dir', '/w/images', '--image_list', '/w/lists/run_val_test.txt',
                '--output_dir', f'/w/results/{name}_ckpt', '--model_dir', f'/w/zoo/{folder}/model.ckpt',
                '--output_stride', '16', '--eval_crop_size', '129', '129', '--save_probabilities']
    assert commands(quick_plan(), 'zoo') == [
        ['inference', '--image_data_dir', '/w/images', '--image_list', '/w/lists/run_val_test.txt',
         '--output_dir', '/w/results/zoo_train_aug',
         '--frozen_graph', '/w/zoo/train_aug/deeplabv3_pascal_train_aug/frozen_inference_graph.pb'],
        ckpt('zoo_train_aug', 'train_aug/deeplabv3_pascal_train_aug'),
        ['inference', '--image_data_dir', '/w/images', '--image_list', '/w/lists/run_val_test.txt',
         '--output_dir', '/w/results/zoo_trainval',
         '--frozen_graph', '/w/zoo/trainval/deeplabv3_pascal_trainval/frozen_inference_graph.pb'],
        ckpt('zoo_trainval', 'trainval/deeplabv3_pascal_trainval'),
        ['evaluate', '--prediction_dir', '/w/results/zoo_train_aug', '/w/results/zoo_train_aug_ckpt',
         '/w/results/zoo_trainval', '/w/results/zoo_trainval_ckpt', '--ground_truth_dir', GT,
         '--image_list', '/w/lists/run_val.txt', '--output_json', '/w/scores/zoo.json']]
    full = commands(build_plan(Layout(W), precision='float16'), 'zoo')
    assert full[1][7:] == ['--model_dir', '/w/zoo/train_aug/deeplabv3_pascal_train_aug/model.ckpt',
                           '--output_stride', '8', '--precision', 'float16', '--save_probabilities']
    assert '--precision' not in full[0]  # a frozen graph has its own


def test_the_stack_stage_votes_and_averages_the_three_models():
    assert commands(quick_plan(), 'stack') == [
        ['pixel_stacking', '--prediction_dir', '/w/results/zoo_trainval', '/w/results/zoo_train_aug',
         '/w/results/deeplabv3_msflip', '--output_dir', '/w/results/stack_hard',
         '--image_list', '/w/lists/run_val_test.txt'],
        ['pixel_stacking', '--probabilities', '--prediction_dir', '/w/results/zoo_trainval_ckpt/probabilities',
         '/w/results/zoo_train_aug_ckpt/probabilities', '/w/results/deeplabv3_msflip/probabilities',
         '--weights', '1', '1', '1', '--output_dir', '/w/results/stack_soft',
         '--image_list', '/w/lists/run_val_test.txt']]


def test_the_crf_stage_tunes_on_val_tune_then_applies_to_each_stack():
    grid = ['--tune_bilateral_sxy', '67', '--tune_bilateral_srgb', '3', '13', '--tune_bilateral_compat', '4']
    hard = ['--image_data_dir', '/w/images', '--prediction_dir', '/w/results/stack_hard']
    soft = ['--image_data_dir', '/w/images', '--prob_dir', '/w/results/stack_soft/probabilities']
    assert commands(quick_plan(), 'crf') == [
        ['densecrf_inference', *hard, '--tune', '--ground_truth_dir', GT, '--image_list', '/w/lists/run_val_tune.txt',
         '--tune_output', '/w/crf/stack_hard.json', *grid],
        ['densecrf_inference', *hard, '--params_json', '/w/crf/stack_hard.json', '--output_dir',
         '/w/results/stack_hard_crf', '--image_list', '/w/lists/run_val_test.txt'],
        ['densecrf_inference', *soft, '--tune', '--ground_truth_dir', GT, '--image_list', '/w/lists/run_val_tune.txt',
         '--tune_output', '/w/crf/stack_soft.json', *grid],
        ['densecrf_inference', *soft, '--params_json', '/w/crf/stack_soft.json', '--output_dir',
         '/w/results/stack_soft_crf', '--image_list', '/w/lists/run_val_test.txt']]
    assert commands(build_plan(Layout(W)), 'crf')[0][-2:] == ['--tune_output', '/w/crf/stack_hard.json']


def test_the_package_stage_makes_a_comp6_tarball_of_every_test_result():
    names = ['deeplabv3_msflip', 'zoo_train_aug', 'zoo_trainval', 'stack_hard', 'stack_hard_crf', 'stack_soft',
             'stack_soft_crf']
    assert commands(quick_plan(), 'package') == [
        ['make_submission', '--prediction_dir', f'/w/results/{n}', '--output', f'/w/submission/{n}_comp6.tar.gz',
         '--comp', 'comp6', '--image_list', '/w/lists/run_test.txt', '--image_data_dir', '/w/images'] for n in names]


def test_the_report_stage_scores_every_row_on_val_and_val_check():
    assert commands(quick_plan(), 'report') == [
        ['evaluate', '--prediction_dir', *ROW_DIRS, '--ground_truth_dir', GT, '--image_list', '/w/lists/run_val.txt',
         '--output_json', '/w/scores/val.json'],
        ['evaluate', '--prediction_dir', *ROW_DIRS, '--ground_truth_dir', GT,
         '--image_list', '/w/lists/run_val_check.txt', '--output_json', '/w/scores/val_check.json',
         '--plot', '/w/iou_val_check.png'],
        ['write_results', '--work_dir', '/w', '--quick']]
    assert commands(build_plan(Layout(W)), 'report')[-1] == ['write_results', '--work_dir', '/w']
    assert commands(build_plan(Layout(W), precision='float16'), 'report')[-1] == [
        'write_results', '--work_dir', '/w', '--precision', 'float16']


def test_every_stage_its_description_what_it_makes_and_what_it_needs():
    plan = quick_plan()
    assert [(s.name, s.description, s.needs) for s in plan] == [
        ('download', 'fetch the official archives (checked)', ()),
        ('extract', 'unpack them safely; check and describe the checkpoints', ('download',)),
        ('labels', 'SegmentationClassAug, train_aug and the run\'s lists', ('extract',)),
        ('records', 'TFRecords of train_aug and val', ('labels',)),
        ('train', 'DeepLabv3 resnet_v2_50 from the slim ImageNet checkpoint', ('extract', 'records')),
        ('evaluate', 'our model on val (single scale; scales + flip, also on test)', ('labels', 'train')),
        ('zoo', 'the two model-zoo DeepLabv3+ models on val and test', ('extract', 'labels')),
        ('stack', 'hard vote and soft (probability) ensemble of the three', ('evaluate', 'zoo')),
        ('crf', 'DenseCRF tuned on val_tune, applied to val and test', ('labels', 'stack')),
        ('package', 'PASCAL-server tarballs of the test results (comp6)', ('evaluate', 'zoo', 'stack', 'crf')),
        ('report', 'score every row on val and val_check, write RESULTS.md',
         ('labels', 'evaluate', 'zoo', 'stack', 'crf'))]
    assert build_plan(Layout(W))[4].description == 'DeepLabv3 resnet_v2_101 from the slim ImageNet checkpoint'
    assert {s.name: s.outputs for s in plan} == {
        'download': [],
        'extract': ['/w/data/voc_test', '/w/data/voc_trainval', '/w/data/sbd', '/w/pretrained/resnet_v2_50',
                    '/w/zoo/train_aug', '/w/zoo/trainval'],
        'labels': ['/w/lists', '/w/images', '/w/data/SegmentationClassAug'],
        'records': ['/w/records'],
        'train': ['/w/models/deeplabv3'],
        'evaluate': ['/w/scores/deeplabv3.json', '/w/results/deeplabv3', '/w/results/deeplabv3_msflip'],
        'zoo': ['/w/scores/zoo.json', '/w/results/zoo_train_aug', '/w/results/zoo_train_aug_ckpt',
                '/w/results/zoo_trainval', '/w/results/zoo_trainval_ckpt'],
        'stack': ['/w/results/stack_hard', '/w/results/stack_soft'],
        'crf': ['/w/crf', '/w/results/stack_hard_crf', '/w/results/stack_soft_crf'],
        'package': ['/w/submission'],
        'report': ['/w/scores/val.json', '/w/scores/val_check.json', '/w/iou_val_check.png', '/w/RESULTS.md']}


def test_row_descriptions_name_the_modes_backbone_scales_and_zoo_output_stride():
    assert row_description('deeplabv3') == 'DeepLabv3 ResNet-v2-101 trained here, single scale'
    assert row_description('deeplabv3', quick=True) == 'DeepLabv3 ResNet-v2-50 trained here, single scale'
    assert row_description('deeplabv3_msflip') == 'DeepLabv3 ResNet-v2-101 trained here, scales 0.5-1.75 + flip'
    assert row_description('deeplabv3_msflip', quick=True) == ('DeepLabv3 ResNet-v2-50 trained here, scales 0.75, '
                                                               '1.25 + flip')
    assert row_description('zoo_trainval_ckpt') == 'the same from its model.ckpt, run at OS 8'
    assert row_description('zoo_train_aug_ckpt', True) == ('the same from its model.ckpt, run at OS 16 (gives '
                                                           'probabilities)')
