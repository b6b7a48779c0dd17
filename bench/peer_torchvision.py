"""The peer of bench_precision.py: torchvision's DeepLabV3 with a ResNet-101 at output stride 16 (last stage
dilated, DeepLabHead with ASPP rates 6 12 18, 21 classes), random weights, as one interleaved-timing worker.

Runs under an interpreter with torch and torchvision (never the project's venv):
    /tmp/peer/bin/python bench/peer_torchvision.py --workload infer --precision bfloat16
bfloat16 is torch.autocast('cpu', torch.bfloat16); the training step is SGD with momentum on cross-entropy.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workers import serve  # noqa: E402


def build(workload, precision, side, batch):
    import contextlib

    import torch
    from torchvision.models import resnet101
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

    torch.manual_seed(0)
    backbone = IntermediateLayerGetter(resnet101(weights=None, replace_stride_with_dilation=[False, False, True]),
                                       return_layers={'layer4': 'out'})
    model = DeepLabV3(backbone, DeepLabHead(2048, 21, atrous_rates=(6, 12, 18)), None)

    def autocast():
        if precision == 'bfloat16':
            return torch.autocast('cpu', dtype=torch.bfloat16)
        return contextlib.nullcontext()

    if workload == 'infer':
        model.eval()
        images = torch.rand(1, 3, side, side)

        def run():
            with torch.inference_mode(), autocast():
                torch.softmax(model(images)['out'].float(), dim=1)
        return run
    model.train()
    images = torch.rand(batch, 3, side, side)
    labels = torch.randint(0, 21, (batch, side, side))
    optimizer = torch.optim.SGD(model.parameters(), lr=7e-3, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(images)['out'].float(), labels)
        loss.backward()
        optimizer.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workload', choices=('infer', 'train'), required=True)
    parser.add_argument('--precision', choices=('float32', 'bfloat16'), required=True)
    parser.add_argument('--side', type=int, default=513)
    parser.add_argument('--batch', type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    return serve(lambda: build(args.workload, args.precision, args.side, args.batch),
                 {'torch': torch.__version__, 'threads': torch.get_num_threads()})


if __name__ == '__main__':
    sys.exit(main())
