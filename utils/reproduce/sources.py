"""Where the reproduction's inputs come from and what they should reach: the official archives (with their
published MD5 where there is one) and the published and the original project's numbers of each stage."""
import collections

Archive = collections.namedtuple('Archive', 'filename base_url md5 target')
Archive.__doc__ = 'An archive: file name, official folder URL, published MD5 (or None), extraction folder.'

VOC_TRAINVAL = Archive('VOCtrainval_11-May-2012.tar', 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/',
                       '6cd6e144f989b92b3379bac3b3de84fd', 'data/voc_trainval')
SBD = Archive('benchmark.tgz', 'http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/',
              '82b4d87ceb2ed10f6038a1cba92111cb', 'data/sbd')
SLIM = {variant: Archive(f'{variant}_2017_04_14.tar.gz', 'http://download.tensorflow.org/models/', None,
                         f'pretrained/{variant}') for variant in ('resnet_v2_50', 'resnet_v2_101')}
# The two DeepLabv3+ Xception-65 model-zoo tarballs, by the name their results get; each holds
# <folder>/model.ckpt.* and <folder>/frozen_inference_graph.pb.
ZOO = {
    'zoo_train_aug': (Archive('deeplabv3_pascal_train_aug_2018_01_04.tar.gz', 'http://download.tensorflow.org/models/',
                              None, 'zoo/train_aug'), 'deeplabv3_pascal_train_aug'),
    'zoo_trainval': (Archive('deeplabv3_pascal_trainval_2018_01_04.tar.gz', 'http://download.tensorflow.org/models/',
                             None, 'zoo/trainval'), 'deeplabv3_pascal_trainval'),
}
VOC_TEST = Archive('VOC2012test.tar', 'http://host.robots.ox.ac.uk:8080/', None, 'data/voc_test')
VOC_TEST_NOTE = ('needs a login: register at the PASCAL VOC evaluation server (http://host.robots.ox.ac.uk:8080/), '
                 'download VOC2012test.tar there')

Row = collections.namedtuple('Row', 'description published original')
Row.__doc__ = ('A result row: what it is (a template of the run\'s mode: {variant}, {scales}, {zoo_os}), the '
               'published mIoU (text, with its split) and the original project\'s (text, with its split as it '
               'gives it).')
SPLIT_NOT_STATED = 'split not stated'
ROWS = {
    'deeplabv3': Row('DeepLabv3 {variant} trained here, single scale',
                     '77.21 val (DeepLabv3 paper, OS 16 single scale)',
                     '75.72 test (the original project\'s README calls it a VOC 2012 test score)'),
    'deeplabv3_msflip': Row('DeepLabv3 {variant} trained here, scales {scales} + flip',
                            '79.77 val (DeepLabv3 paper, OS 8 + scales + flip)', ''),
    'zoo_train_aug': Row('model-zoo DeepLabv3+ Xception-65 train_aug, frozen graph (the OS it was frozen at: 8 as '
                         'published; single scale)',
                         '82.20 val at OS 16 single scale, 83.58 at OS 8 + scales + flip (model zoo)',
                         f'83.68 ({SPLIT_NOT_STATED})'),
    'zoo_train_aug_ckpt': Row('the same from its model.ckpt, run at OS {zoo_os} (gives probabilities)', '', ''),
    'zoo_trainval': Row('model-zoo DeepLabv3+ Xception-65 trainval, frozen graph (as above; trained on val: its '
                        'val score is not a fair one)', '87.80 test at OS 8 + scales + flip (model zoo)',
                        f'87.8 ({SPLIT_NOT_STATED}; the model zoo\'s 87.80 is on test)'),
    'zoo_trainval_ckpt': Row('the same from its model.ckpt, run at OS {zoo_os}', '', ''),
    'stack_hard': Row('the original stack: per-pixel vote of zoo trainval, zoo train_aug, ours (scales + flip)', '',
                      f'88.1 ({SPLIT_NOT_STATED})'),
    'stack_hard_crf': Row('the original stack + DenseCRF on the voted labels (tuned on val_tune)', '',
                          f'84.12 ({SPLIT_NOT_STATED})'),
    'stack_soft': Row('soft stack: average of the three models\' probabilities', '', ''),
    'stack_soft_crf': Row('soft stack + DenseCRF on the averaged probabilities (tuned on val_tune)', '', ''),
}
