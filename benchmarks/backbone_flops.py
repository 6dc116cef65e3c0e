"""FLOPs per frame of the frame backbones at the paper profile's crop: what caching features saves.

    python benchmarks/backbone_flops.py [--crop 224] [--backbones resnet18 shufflenet_v2_x1_0]

For each backbone (random init: FLOP counts do not depend on the weights), counted with
``torch.utils.flop_counter`` on a batch of 4 frames, divided by 4:

* ``forward``: one frame through the CNN in inference, what the ``features`` step spends per frame
  when it caches a backbone's features;
* ``train``: forward and backward of one frame with the CNN's weights trained (no gradient for the
  input frames), what a training step spends per frame on the backbone when it trains end to end.

A step on cached features spends the translation step's per-frame FLOPs minus ``train``
(``qbslt plan``'s cached-feature recipe, ``reports/plan_figures.yaml``).
"""

from __future__ import annotations

import argparse

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from torch.utils.flop_counter import FlopCounterMode

from qbslt.model.configuration import BACKBONES, VideoConfig
from qbslt.model.video_embedding import FrameBackbone

FRAMES = 4


def count(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def backbone_flops(backbone: str, crop: int) -> dict[str, float]:
    torch.manual_seed(0)
    net = FrameBackbone(VideoConfig(backbone=backbone, backbone_pretrained=False, freeze_backbone=False,
                                    feature_dim=BACKBONES[backbone]))
    frames = torch.rand(FRAMES, 3, crop, crop)
    net.eval()
    with torch.no_grad():
        forward = count(lambda: net(frames))
    net.train()
    train = count(lambda: net(frames).sum().backward())
    return {"forward": forward / FRAMES, "train": train / FRAMES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    args = parser.parse_args()
    print(f"| backbone | forward GFLOP / frame | train (forward + backward) GFLOP / frame |  (crop {args.crop})")
    print("|---|--:|--:|")
    for backbone in args.backbones:
        flops = backbone_flops(backbone, args.crop)
        print(f"| {backbone} | {flops['forward'] / 1e9:.4f} | {flops['train'] / 1e9:.4f} |")


if __name__ == "__main__":
    main()
