"""What a checkpoint holds, read from its variable names: the head's layout (upstream DeepLab's or the original
project's), the backbone, the DeepLabv3+ decoder and the class count. A model-zoo model.ckpt or an original-project
training folder carries no deeplab_params.json: this is what every script reads for them instead."""
import os

from utils.common.errors import UserError
from utils.runtime.checkpoints import checkpoint_shapes, resolve_checkpoint
from utils.runtime.model_config import (
    MODEL_VARIANTS,
    resolve_model_params,
    save_model_params,
    saved_model_params,
)

LOGITS = 'logits/semantic/weights'
ORIGINAL_LOGITS = 'upsampling_logits/conv_1x1/weights'
ORIGINAL_HEAD = 'aspp/conv_1x1_concat/weights'


def describe(ckpt):
    """{'layout', 'model_variant', 'decoder_output_stride', 'num_classes' (None without a head)} of a checkpoint."""
    names = checkpoint_shapes(ckpt)
    variants = [v for v in MODEL_VARIANTS if any(name.startswith(v + '/') for name in names)]
    if len(variants) != 1:
        raise UserError(f'{ckpt}: holds {"no" if not variants else "several"} known backbone '
                        f'({", ".join(MODEL_VARIANTS)}) variables')
    original = ORIGINAL_LOGITS in names or ORIGINAL_HEAD in names
    logits = names.get(ORIGINAL_LOGITS if original else LOGITS)
    return {'layout': 'original' if original else 'deeplab', 'model_variant': variants[0],
            'decoder_output_stride': 4 if any(name.startswith('decoder/') for name in names) else None,
            'num_classes': logits[-1] if logits else None}


def layout_name(description):
    """How describe_checkpoint.py names a description's layout."""
    if description['num_classes'] is None:
        return 'backbone only'
    if description['layout'] == 'original':
        return "original project's DeepLabv3 layout (aspp/..., upsampling_logits)"
    return 'DeepLab model-zoo layout (image_pooling, aspp0-3, logits/semantic)'


def model_description(model_dir):
    """The description of the model in `model_dir` (folder or prefix) every script starts from: its
    deeplab_params.json; else, for a checkpoint with a head but no such file (a model-zoo model.ckpt, an
    original-project training folder), what its variables say; else {} (no checkpoint yet, or a backbone only)."""
    saved = saved_model_params(model_dir)
    if saved or not model_dir:
        return saved
    try:
        ckpt = resolve_checkpoint(model_dir)
    except UserError:
        return {}
    description = describe(ckpt)
    return description if description['num_classes'] is not None else {}


def check_and_describe(path, output_stride, expect_variant=None):
    """Check the checkpoint at `path` holds one known backbone (`expect_variant` when given); when it holds a
    DeepLab head, write deeplab_params.json beside it for `output_stride`. Returns (prefix, description)."""
    ckpt = resolve_checkpoint(path)
    description = describe(ckpt)
    if expect_variant and description['model_variant'] != expect_variant:
        raise UserError(f'{ckpt}: holds a {description["model_variant"]} model, expected {expect_variant}')
    if description['num_classes'] is not None:
        params = resolve_model_params(dict(description, output_stride=output_stride))
        save_model_params(os.path.dirname(ckpt), params)
    return ckpt, description
