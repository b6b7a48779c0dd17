"""The reproduction as data: every stage is a list of commands of the suite's scripts, so running it and
printing it (--dry_run) cannot drift apart."""
import collections
import os

from utils.cli.commands import Command
from utils.reproduce.sources import ROWS, SBD, SLIM, VOC_TEST, VOC_TRAINVAL, ZOO
from utils.runtime.model_config import DEFAULT_PRECISION

Stage = collections.namedtuple('Stage', 'name description commands outputs needs')
Stage.__doc__ = ('A stage: its name, what it does, its commands, the paths it makes (removed to redo it; never an '
                 'input such as a download or a ready-made SegmentationClassAug), and the stages whose outputs it '
                 'reads (redoing one of them puts it out of date).')

STAGE_NAMES = ('download', 'extract', 'labels', 'records', 'train', 'evaluate', 'zoo', 'stack', 'crf', 'package',
               'report')
NEEDS = {'download': (), 'extract': ('download',), 'labels': ('extract',), 'records': ('labels',),
         'train': ('extract', 'records'), 'evaluate': ('labels', 'train'), 'zoo': ('extract', 'labels'),
         'stack': ('evaluate', 'zoo'), 'crf': ('labels', 'stack'), 'package': ('evaluate', 'zoo', 'stack', 'crf'),
         'report': ('labels', 'evaluate', 'zoo', 'stack', 'crf')}
MS_SCALES = ('0.5', '0.75', '1.0', '1.25', '1.5', '1.75')
# The original project's settings for DeepLabv3 ResNet-v2-101 from the slim ImageNet checkpoint: its command
# (batch 16, 46 epochs, as train.py's docstring keeps it) with its train.py's defaults (lr 7e-3 -> 1e-6, output
# stride 16, 513 crops) and its model: the original layout (its head, ImageNet-mean subtraction, whole-image
# evaluation) and its objective (weight decay 2e-4 on every trainable variable).
FULL = {'variant': 'resnet_v2_101', 'zoo_variant': 'xception_65', 'zoo_output_stride': '8',
        'train': ['--batch_size', '16', '--train_epochs', '46', '--initial_learning_rate', '7e-3',
                  '--end_learning_rate', '1e-6', '--layout', 'original', '--regularization', 'all_trainable',
                  '--weight_decay', '2e-4', '--output_stride', '16', '--crop_size', '513', '513'],
        'predict': [], 'scales': MS_SCALES, 'lists': [], 'num_shards': '4', 'crf_grid': []}
# --quick: ResNet-v2-50, a few images, two training steps, small crops, two CRF settings; any known
# backbone is accepted in the model-zoo tarballs (so a test can serve small ones).
QUICK = {'variant': 'resnet_v2_50', 'zoo_variant': None, 'zoo_output_stride': '16',
         'train': ['--batch_size', '2', '--max_iter', '2', '--train_epochs', '1000', '--crop_size', '129', '129',
                   '--no_eval', '--save_checkpoints_steps', '1', '--keep_checkpoints', '1',
                   '--batch_norm_decay', '0.9'],
         'predict': ['--eval_crop_size', '129', '129'], 'scales': ('0.75', '1.25'),
         'lists': ['--num_train', '8', '--num_val', '6', '--num_test', '4'], 'num_shards': '1',
         'crf_grid': ['--tune_bilateral_sxy', '67', '--tune_bilateral_srgb', '3', '13', '--tune_bilateral_compat', '4']}
# Seeded and op-deterministic (about 6 % of training speed on a CPU, BENCHMARKS.md): the same machine and
# software give the same model, so a rerun or the --dry_run script reproduces every row, the models' too.
TRAIN_SEED = ('--seed', '0', '--deterministic')
VARIANT_NAMES = {'resnet_v2_50': 'ResNet-v2-50', 'resnet_v2_101': 'ResNet-v2-101'}
HARD_INPUTS = ('zoo_trainval', 'zoo_train_aug', 'deeplabv3_msflip')  # strongest first, as the original project voted
SOFT_INPUTS = ('zoo_trainval_ckpt', 'zoo_train_aug_ckpt', 'deeplabv3_msflip')
SUBMISSIONS = ('deeplabv3_msflip', 'zoo_train_aug', 'zoo_trainval', 'stack_hard', 'stack_hard_crf', 'stack_soft',
               'stack_soft_crf')


class Layout:
    """Every path of a run, under one work folder."""

    def __init__(self, work_dir, voc_test_tar=None, segmentation_class_aug=None):
        self.work = os.path.abspath(work_dir)
        self.downloads = self.path('downloads')
        self.voc_test_tar = os.path.abspath(voc_test_tar) if voc_test_tar else os.path.join(
            self.downloads, VOC_TEST.filename)
        self.voc = self.path(VOC_TRAINVAL.target, 'VOCdevkit', 'VOC2012')
        self.voc_test = self.path(VOC_TEST.target, 'VOCdevkit', 'VOC2012')
        self.sbd = self.path(SBD.target, 'benchmark_RELEASE', 'dataset')
        self.ready_made_aug = os.path.abspath(segmentation_class_aug) if segmentation_class_aug else None
        self.aug = self.ready_made_aug or self.path('data', 'SegmentationClassAug')
        self.lists = self.path('lists')
        self.run_images = self.path('images')
        self.records = self.path('records')
        self.model = self.path('models', 'deeplabv3')
        self.scores = self.path('scores')
        self.state = self.path('.reproduce')

    def path(self, *parts):
        """A path under the work folder."""
        return os.path.join(self.work, *parts)

    def list(self, name):
        """The run list `lists/run_<name>.txt` (train, val, val_tune, val_check, test, val_test)."""
        return os.path.join(self.lists, f'run_{name}.txt')

    def result(self, name):
        """The folder of one result row: label PNGs (and probabilities/ where saved)."""
        return self.path('results', name)

    def slim_checkpoint(self, variant):
        """The slim ImageNet checkpoint prefix as its tarball unpacks."""
        return os.path.join(self.path(SLIM[variant].target), f'{variant}.ckpt')

    def zoo_dir(self, name):
        """The folder of a model-zoo tarball's model.ckpt and frozen_inference_graph.pb."""
        archive, folder = ZOO[name]
        return self.path(archive.target, folder)

    def crf_params(self, name):
        """The CRF parameters tuned for one stack (densecrf_inference.py --tune_output)."""
        return self.path('crf', f'{name}.json')

    def submission(self, name):
        """The server tarball of one result row."""
        return self.path('submission', f'{name}_comp6.tar.gz')


def archive_url(archive, mirror=None):
    """The official URL of an archive, or the same file name under a mirror's base URL."""
    return (mirror.rstrip('/') + '/' if mirror else archive.base_url) + archive.filename


def downloads(layout, mode):
    """(archive, local path) of every file the download stage fetches."""
    archives = [VOC_TRAINVAL] + ([] if layout.ready_made_aug else [SBD]) + [SLIM[mode['variant']]]
    archives += [archive for archive, _ in ZOO.values()]
    return [(a, os.path.join(layout.downloads, a.filename)) for a in archives]


def _download_stage(layout, mode, mirror, checksums):
    commands = []
    for archive, path in downloads(layout, mode):
        md5 = checksums.get(archive.filename, archive.md5)
        md5 = ['--md5', md5] if md5 else []
        commands.append(Command('download', ['--url', archive_url(archive, mirror), '--output', path, *md5]))
    return commands


def _extract_stage(layout, mode, checksums):
    """extract.py for every archive (the hand-fetched test tar checked against its MD5 in --checksums, if any);
    then the checkpoints are described and checked against the variant they should hold."""
    archives = [(layout.voc_test_tar, VOC_TEST)] + [(path, a) for a, path in downloads(layout, mode)]
    commands = []
    for path, archive in archives:
        md5 = ['--md5', checksums[archive.filename]] if archive is VOC_TEST and archive.filename in checksums else []
        commands.append(Command('extract', ['--archive', path, '--output_dir', layout.path(archive.target), *md5]))
    variant = mode['variant']
    commands.append(Command('describe_checkpoint', ['--checkpoint', layout.slim_checkpoint(variant),
                                                    '--expect_variant', variant]))
    expect = ['--expect_variant', mode['zoo_variant']] if mode['zoo_variant'] else []
    for name in ZOO:
        commands.append(Command('describe_checkpoint', [
            '--checkpoint', os.path.join(layout.zoo_dir(name), 'model.ckpt'),
            '--output_stride', mode['zoo_output_stride'], *expect]))
    return commands


def _labels_stage(layout, mode):
    source = (['--segmentation_class_aug', layout.ready_made_aug] if layout.ready_made_aug
              else ['--sbd_root', layout.sbd, '--output_dir', layout.aug])
    return [Command('prepare_labels', ['--voc_root', layout.voc, *source, '--list_dir', layout.lists,
                                       '--voc_test_root', layout.voc_test, '--run_image_dir', layout.run_images,
                                       *mode['lists']])]


def _records_stage(layout, mode):
    return [Command('create_tf_record', [
        '--data_dir', layout.records, '--image_data_dir', os.path.join(layout.voc, 'JPEGImages'),
        '--ground_truth_dir', layout.aug,
        '--train_data_list', layout.list('train'), '--valid_data_list', layout.list('val'),
        '--num_shards', mode['num_shards'], '--overwrite'])]


def _precision_flags(precision):
    """--precision for the commands that run our networks, left out at the default (the published float32)."""
    return [] if precision == DEFAULT_PRECISION else ['--precision', precision]


def _train_stage(layout, mode, num_gpus, precision):
    gpus = ['--num_gpus', str(num_gpus)] if num_gpus is not None else []
    return [Command('train', [
        '--model_dir', layout.model, '--data_dir', layout.records,
        '--pre_trained_model', layout.slim_checkpoint(mode['variant']), '--model_variant', mode['variant'],
        *mode['train'], *TRAIN_SEED, *gpus, *_precision_flags(precision)])]


def _inference(layout, list_name, output, source, extra=()):
    """inference.py over the run's images of one list into results/<output>; `source` is the model flags."""
    return Command('inference', ['--image_data_dir', layout.run_images, '--image_list', layout.list(list_name),
                                 '--output_dir', layout.result(output), *source, *extra])


def _score(layout, names, list_name, output_json, plot=None):
    """evaluate.py over result folders against VOC's val ground truth."""
    return Command('evaluate', [
        '--prediction_dir', *(layout.result(n) for n in names),
        '--ground_truth_dir', os.path.join(layout.voc, 'SegmentationClass'), '--image_list', layout.list(list_name),
        '--output_json', os.path.join(layout.scores, output_json), *(['--plot', plot] if plot else [])])


def _evaluate_stage(layout, mode, precision):
    model = ['--model_dir', layout.model, *mode['predict'], *_precision_flags(precision)]
    tta = ['--inference_scales', *mode['scales'], '--add_flipped_images']
    return [_inference(layout, 'val', 'deeplabv3', model),
            _inference(layout, 'val_test', 'deeplabv3_msflip', model, [*tta, '--save_probabilities']),
            _score(layout, ['deeplabv3', 'deeplabv3_msflip'], 'val', 'deeplabv3.json')]


def _zoo_stage(layout, mode, precision):
    commands = []
    for name in ZOO:
        graph = ['--frozen_graph', os.path.join(layout.zoo_dir(name), 'frozen_inference_graph.pb')]
        ckpt = ['--model_dir', os.path.join(layout.zoo_dir(name), 'model.ckpt'), '--output_stride',
                mode['zoo_output_stride'], *mode['predict'], *_precision_flags(precision)]
        commands.append(_inference(layout, 'val_test', name, graph))
        commands.append(_inference(layout, 'val_test', f'{name}_ckpt', ckpt, ['--save_probabilities']))
    names = [n for name in ZOO for n in (name, f'{name}_ckpt')]
    return commands + [_score(layout, names, 'val', 'zoo.json')]


def _stack_stage(layout):
    common = ['--image_list', layout.list('val_test')]
    return [Command('pixel_stacking', ['--prediction_dir', *(layout.result(n) for n in HARD_INPUTS),
                                       '--output_dir', layout.result('stack_hard'), *common]),
            Command('pixel_stacking', [
                '--probabilities',
                '--prediction_dir', *(os.path.join(layout.result(n), 'probabilities') for n in SOFT_INPUTS),
                '--weights', *['1'] * len(SOFT_INPUTS), '--output_dir', layout.result('stack_soft'), *common])]


def _crf_stage(layout, mode):
    gt = os.path.join(layout.voc, 'SegmentationClass')
    sources = {'stack_hard': ['--prediction_dir', layout.result('stack_hard')],
               'stack_soft': ['--prob_dir', os.path.join(layout.result('stack_soft'), 'probabilities')]}
    commands = []
    for name, source in sources.items():
        images = ['--image_data_dir', layout.run_images, *source]
        commands.append(Command('densecrf_inference', [
            *images, '--tune', '--ground_truth_dir', gt, '--image_list', layout.list('val_tune'),
            '--tune_output', layout.crf_params(name), *mode['crf_grid']]))
        commands.append(Command('densecrf_inference', [
            *images, '--params_json', layout.crf_params(name), '--output_dir', layout.result(f'{name}_crf'),
            '--image_list', layout.list('val_test')]))
    return commands


def _package_stage(layout):
    return [Command('make_submission', [
        '--prediction_dir', layout.result(name), '--output', layout.submission(name), '--comp', 'comp6',
        '--image_list', layout.list('test'), '--image_data_dir', layout.run_images]) for name in SUBMISSIONS]


def _report_stage(layout, quick, precision):
    names = list(ROWS)
    return [_score(layout, names, 'val', 'val.json'),
            _score(layout, names, 'val_check', 'val_check.json', layout.path('iou_val_check.png')),
            Command('write_results', ['--work_dir', layout.work, *(['--quick'] if quick else []),
                                      *_precision_flags(precision)])]


def _outputs(layout, name, commands):
    """The paths a stage makes, which --redo removes first so that its commands make them anew."""
    results = {'evaluate': ('deeplabv3', 'deeplabv3_msflip'), 'zoo': [n for z in ZOO for n in (z, f'{z}_ckpt')],
               'stack': ('stack_hard', 'stack_soft'), 'crf': ('stack_hard_crf', 'stack_soft_crf')}
    paths = {
        'download': [],  # kept: a redo checks every present file against its MD5 again
        'extract': [c.argv[c.argv.index('--output_dir') + 1] for c in commands if c.script == 'extract'],
        'labels': [layout.lists, layout.run_images] + ([] if layout.ready_made_aug else [layout.aug]),
        'records': [layout.records],
        'train': [layout.model],
        'evaluate': [os.path.join(layout.scores, 'deeplabv3.json')],
        'zoo': [os.path.join(layout.scores, 'zoo.json')],
        'stack': [],
        'crf': [layout.path('crf')],
        'package': [layout.path('submission')],
        'report': [os.path.join(layout.scores, n) for n in ('val.json', 'val_check.json')] + [
            layout.path('iou_val_check.png'), layout.path('RESULTS.md')],
    }[name]
    return paths + [layout.result(n) for n in results.get(name, ())]


def row_description(name, quick=False):
    """A result row's description with the mode's backbone, scales and model-zoo output stride filled in."""
    mode = QUICK if quick else FULL
    scales = mode['scales']
    return ROWS[name].description.format(variant=VARIANT_NAMES[mode['variant']], zoo_os=mode['zoo_output_stride'],
                                         scales=f'{scales[0]}-{scales[-1]}' if len(scales) > 2 else ', '.join(scales))


def build_plan(layout, quick=False, mirror=None, num_gpus=None, checksums=None, precision=DEFAULT_PRECISION):
    """Every stage of the reproduction, in order; `checksums` ({file name: MD5}) replace the published MD5s;
    `precision` is that of training and of the checkpoints' predictions (the zoo's frozen graphs have their own)."""
    mode = QUICK if quick else FULL
    checksums = checksums or {}
    stages = [
        ('download', 'fetch the official archives (checked)', _download_stage(layout, mode, mirror, checksums)),
        ('extract', 'unpack them safely; check and describe the checkpoints', _extract_stage(layout, mode, checksums)),
        ('labels', 'SegmentationClassAug, train_aug and the run\'s lists', _labels_stage(layout, mode)),
        ('records', 'TFRecords of train_aug and val', _records_stage(layout, mode)),
        ('train', f'DeepLabv3 {mode["variant"]} from the slim ImageNet checkpoint',
         _train_stage(layout, mode, num_gpus, precision)),
        ('evaluate', 'our model on val (single scale; scales + flip, also on test)',
         _evaluate_stage(layout, mode, precision)),
        ('zoo', 'the two model-zoo DeepLabv3+ models on val and test', _zoo_stage(layout, mode, precision)),
        ('stack', 'hard vote and soft (probability) ensemble of the three', _stack_stage(layout)),
        ('crf', 'DenseCRF tuned on val_tune, applied to val and test', _crf_stage(layout, mode)),
        ('package', 'PASCAL-server tarballs of the test results (comp6)', _package_stage(layout)),
        ('report', 'score every row on val and val_check, write RESULTS.md', _report_stage(layout, quick, precision)),
    ]
    return [Stage(name, description, commands, _outputs(layout, name, commands), NEEDS[name])
            for name, description, commands in stages]
