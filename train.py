"""Train DeepLabv3 (ResNet-v2) or DeepLabv3+ (Xception-65) on TFRecords from create_tf_record.py.

    python train.py --model_dir MODEL_DIR --pre_trained_model resnet_v2_101.ckpt --batch_size 16 \\
                    --train_epochs 46 --data_dir DATA_DIR

Warm-starts the backbone from --pre_trained_model (a slim ImageNet checkpoint, or all of a DeepLab model-zoo
model.ckpt), trains from scratch without it, and resumes from the latest checkpoint in --model_dir.
Several GPUs: MirroredStrategy (--num_gpus); several machines: a TF_CONFIG cluster in the environment
(see launch_local_cluster.py to try one on this machine). --batch_size is the global batch either way.
"""
import dataclasses
import sys

from utils.cli.environment import tensorflow_defaults
from utils.cli.flags import (
    add_eval_crop_flag,
    add_model_flags,
    add_precision_flag,
    eval_crop_size_of,
    model_params,
    parser_for,
)
from utils.common.errors import UserError, run_cli
from utils.data.dataset_info import dataset_num_classes
from utils.runtime.model_config import (
    DEFAULT_REGULARIZATION,
    MOMENTUM,
    POLY_POWER,
    REGULARIZATIONS,
    save_model_params,
)

tensorflow_defaults()  # before TensorFlow's first import, which reads them once


def build_parser():
    parser = parser_for(__doc__)
    parser.add_argument('--model_dir', default='./model',
                        help='Checkpoints and TensorBoard events (default: %(default)s).')
    parser.add_argument('--clean_model_dir', action='store_true', help='Delete --model_dir first and start over.')
    parser.add_argument('--data_dir', default='./dataset',
                        help='Folder of voc_train.record(-*) and voc_val.record(-*), or of COCO records '
                             '(coco_*.record-*, dataset.json; their class count is the default of --num_classes) '
                             '(default: %(default)s).')
    parser.add_argument('--pre_trained_model', default=None,
                        help='Checkpoint to warm-start from, e.g. resnet_v2_101/resnet_v2_101.ckpt, or a DeepLab '
                             'model of the same backbone (a zoo model.ckpt, or a model folder trained here, e.g. on '
                             'COCO): the whole model, logits only when their class count matches '
                             '(default: train from scratch).')
    parser.add_argument('--batch_size', type=int, default=10,
                        help='Global batch: crops per step over all replicas; must divide by their number '
                             '(default: %(default)s).')
    parser.add_argument('--train_epochs', type=int, default=26, help='Epochs to train (default: %(default)s).')
    parser.add_argument('--epochs_per_eval', type=int, default=1,
                        help='Evaluate on the val records after this many epochs (default: %(default)s).')
    parser.add_argument('--no_eval', action='store_true', help='Skip the periodic val evaluation.')
    parser.add_argument('--max_iter', type=int, default=None,
                        help='Total training steps; also the end of the learning-rate decay '
                             '(default: train_epochs x steps per epoch).')
    parser.add_argument('--initial_learning_rate', type=float, default=7e-3, help='(default: %(default)s)')
    parser.add_argument('--end_learning_rate', type=float, default=1e-6, help='(default: %(default)s)')
    parser.add_argument('--learning_power', type=float, default=POLY_POWER,
                        help='Power of the poly learning-rate decay from the initial to the end learning rate over '
                             '--max_iter steps (default: %(default)s, as DeepLab).')
    parser.add_argument('--slow_start_step', type=int, default=0,
                        help='Train the first N steps at --slow_start_learning_rate, then decay by poly from '
                             '--initial_learning_rate over the remaining steps, as upstream DeepLab '
                             '(default: %(default)s, no slow start).')
    parser.add_argument('--slow_start_learning_rate', type=float, default=1e-4,
                        help='Learning rate of the --slow_start_step first steps (default: %(default)s, as '
                             'upstream).')
    parser.add_argument('--momentum', type=float, default=MOMENTUM, help='(default: %(default)s)')
    parser.add_argument('--weight_decay', type=float, default=None,
                        help='L2 weight decay factor (default: 1e-4 for ResNet, the slim resnet_arg_scope value the '
                             'ImageNet checkpoints were trained with; 4e-5 for Xception, upstream DeepLab train.py; '
                             '2e-4 for the original layout, the original train.py\'s).')
    parser.add_argument('--regularization', choices=REGULARIZATIONS, default=None,
                        help='What --weight_decay multiplies. kernels: the sum of tf.nn.l2_loss over convolution '
                             'kernels, none on depthwise kernels, batch norm or biases (upstream DeepLab); '
                             'all_trainable: over every trainable variable, batch-norm beta and gamma and the logits\' '
                             'biases included (the original project\'s model_fn) (default: the resumed run\'s, else '
                             'kernels for the DeepLab layout and all_trainable for the original one).')
    parser.add_argument('--freeze_batch_norm', action='store_true',
                        help='Use and keep the moving statistics, do not train beta/gamma (small batches).')
    parser.add_argument('--no_sync_batch_norm', action='store_true',
                        help='With several replicas, batch norm statistics of each replica\'s own slice of the '
                             'batch, as upstream DeepLab\'s clones (default: of the whole global batch).')
    parser.add_argument('--crop_size', type=int, nargs=2, default=[513, 513], metavar=('HEIGHT', 'WIDTH'),
                        help='Training crop (default: 513 513).')
    parser.add_argument('--min_scale', type=float, default=0.5, help='Random scale lower bound (default: %(default)s).')
    parser.add_argument('--max_scale', type=float, default=2.0, help='Random scale upper bound (default: %(default)s).')
    parser.add_argument('--seed', type=int, default=None, help='Seed for initialisation and augmentation.')
    parser.add_argument('--deterministic', action='store_true',
                        help='TensorFlow op determinism while training (needs --seed), one op at a time: '
                             'bit-identical checkpoints on the same hardware and software, also on GPUs, where '
                             'seeding alone is not enough.')
    parser.add_argument('--save_checkpoints_steps', type=int, default=None,
                        help='Checkpoint every N steps (default: every --save_checkpoints_secs and at the end).')
    parser.add_argument('--save_checkpoints_secs', type=int, default=600,
                        help='Checkpoint every N seconds when --save_checkpoints_steps is not given '
                             '(default: %(default)s).')
    parser.add_argument('--keep_checkpoints', type=int, default=3, help='Checkpoints kept (default: %(default)s).')
    parser.add_argument('--log_every_n_steps', type=int, default=10,
                        help='Log loss and write summaries every N steps (default: %(default)s).')
    parser.add_argument('--tensorboard_images_max_outputs', type=int, default=4,
                        help='Image/label/prediction triplets per summary (default: %(default)s).')
    parser.add_argument('--intra_op_threads', type=int, default=0, help='TensorFlow intra-op threads (0: all).')
    parser.add_argument('--inter_op_threads', type=int, default=None,
                        help='TensorFlow inter-op threads, ops run side by side (0: all; default: all, or 1 with '
                             '--deterministic, which needs one).')
    distributed = parser.add_argument_group('tf.distribute (a TF_CONFIG cluster in the environment: '
                                            'MultiWorkerMirroredStrategy over its chief and workers)')
    distributed.add_argument('--num_gpus', type=int, default=None,
                             help='GPUs to train on with MirroredStrategy; 0 or 1: no strategy (default: all '
                                  'visible GPUs).')
    distributed.add_argument('--num_cpu_replicas', type=int, default=None,
                             help='Replicas on this many CPU devices instead, to try tf.distribute without GPUs '
                                  '(slower than one device).')
    distributed.add_argument('--eval_throttle_secs', type=int, default=600,
                             help='The evaluator task of a cluster evaluates the newest checkpoint at most this often '
                                  '(default: %(default)s).')
    add_eval_crop_flag(parser)
    add_precision_flag(parser)
    add_model_flags(parser)
    return parser


def starting_description(args):
    """The description a run starts from: the model folder's (deeplab_params.json, else its checkpoint's variables:
    an original-project folder resumes in its own layout), not with --clean_model_dir, which empties the folder;
    for a new folder, the structure of a --pre_trained_model with a head (its layout, backbone and decoder), so a
    whole DeepLab or original-project model warm-starts without repeating its flags."""
    from utils.runtime.checkpoint_description import model_description  # imports TensorFlow
    saved = {} if args.clean_model_dir else model_description(args.model_dir)
    if saved or not args.pre_trained_model:
        return saved
    inherited = ('layout', 'model_variant', 'decoder_output_stride')
    return {key: value for key, value in model_description(args.pre_trained_model).items() if key in inherited}


def training_params(args, saved=None):
    """Model description (flags over `saved`, default: starting_description) plus the optimisation settings
    model_fn reads; the regularization continues the resumed run's unless --regularization is given."""
    saved = starting_description(args) if saved is None else saved
    params = model_params(args, saved)
    regularization = args.regularization or saved.get('regularization') or DEFAULT_REGULARIZATION[params['layout']]
    return dict(params, regularization=regularization, pre_trained_model=args.pre_trained_model,
                initial_learning_rate=args.initial_learning_rate, end_learning_rate=args.end_learning_rate,
                learning_power=args.learning_power, slow_start_step=args.slow_start_step,
                slow_start_learning_rate=args.slow_start_learning_rate,
                momentum=args.momentum, weight_decay=args.weight_decay, freeze_batch_norm=args.freeze_batch_norm,
                sync_batch_norm=not args.no_sync_batch_norm,
                tensorboard_images_max_outputs=args.tensorboard_images_max_outputs,
                log_every_n_steps=args.log_every_n_steps, eval_crop_size=eval_crop_size_of(args, params),
                precision=args.precision)


def training_run(args):
    """The run's settings (utils.runtime.training.TrainingRun) from the flags of the same names."""
    from utils.runtime.training import TrainingRun
    names = [field.name for field in dataclasses.fields(TrainingRun)]
    return TrainingRun(**{name: getattr(args, name) for name in names})


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.deterministic and args.seed is None:
        raise UserError('--deterministic needs --seed (op determinism refuses unseeded random ops)')
    if args.num_classes is None:
        args.num_classes = dataset_num_classes(args.data_dir)  # COCO records say how many classes they hold
    params = training_params(args)
    import deeplab_model  # imports TensorFlow: after argument parsing, so --help stays instant
    import preprocessing
    from utils.runtime import training
    run = training_run(args)
    per_epoch, resume, run_plan = training.prepare(run, params, deeplab_model.network_logits)  # nothing written yet
    if run_plan.chief:  # in a cluster, the chief alone (worker 0 without one) prepares the shared folder
        training.check_model_dir(args.model_dir, args.clean_model_dir)
        save_model_params(args.model_dir, params)
    metrics = training.train_and_evaluate(run, params, per_epoch, resume, run_plan, deeplab_model.model_fn,
                                          preprocessing.input_fn)
    if metrics:
        print(f"val mIoU {metrics['miou']:.4f}  pixel accuracy {metrics['pixel_accuracy']:.4f}")
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
