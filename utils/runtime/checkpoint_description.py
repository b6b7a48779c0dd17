"""What a published checkpoint holds, read from its variable names: the backbone, the DeepLabv3+ decoder and
the class count, so a model-zoo model.ckpt gets the deeplab_params.json every script reads."""
import os

from utils.common.errors import UserError
from utils.runtime.checkpoints import checkpoint_shapes, resolve_checkpoint
from utils.runtime.model_config import MODEL_VARIANTS, resolve_model_params, save_model_params

LOGITS = 'logits/semantic/weights'


def describe(ckpt):
    """{'model_variant', 'decoder_output_stride', 'num_classes' (None without DeepLab logits)} of a checkpoint."""
    names = checkpoint_shapes(ckpt)
    variants = [v for v in MODEL_VARIANTS if any(name.startswith(v + '/') for name in names)]
    if len(variants) != 1:
        raise UserError(f'{ckpt}: holds {"no" if not variants else "several"} known backbone '
                        f'({", ".join(MODEL_VARIANTS)}) variables')
    return {'model_variant': variants[0],
            'decoder_output_stride': 4 if any(name.startswith('decoder/') for name in names) else None,
            'num_classes': names[LOGITS][-1] if LOGITS in names else None}


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
