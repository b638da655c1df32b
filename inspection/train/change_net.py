"""The change-map network of the ``change-cnn`` detector (torch; training only, the station runs
the ONNX export).

Fully convolutional, any input size with even height and width. Input (N, 4, H, W): the
normalised reference, the normalised aligned part and the band excesses
(:mod:`inspection.vision.change_features`). A shared-weight (Siamese) stem turns reference and
part into features; their difference and the excess channels go through a small context body at
half resolution (dilated convolutions). Output (N, 7, H, W): channel 0 the change probability,
1..6 the softmax over DeepPCB's six types.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _cbr(cin: int, cout: int, *, stride: int = 1, dilation: int = 1, k: int = 3) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ChangeNet(nn.Module):
    def __init__(self, *, width: int = 16, classes: int = 6) -> None:
        super().__init__()
        c = width
        self.siamese = _cbr(1, c // 2)  # the same filters on reference and part
        self.stem = _cbr(c // 2 + 2, c)  # feature difference + excess channels
        self.down = _cbr(c, c, stride=2)
        self.ctx1 = _cbr(c, c, dilation=2)
        self.ctx2 = _cbr(c, c, dilation=4)
        self.fuse = _cbr(2 * c, c, k=1)
        self.head = nn.Conv2d(c, 1 + classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        pair = torch.cat([x[:, 0:1], x[:, 1:2]], 0)  # reference and part through one stem
        f = self.siamese(pair)
        diff = f[n:] - f[:n]
        s = self.stem(torch.cat([diff, x[:, 2:4]], 1))
        y = self.ctx2(self.ctx1(self.down(s)))
        y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([s, y], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logits(x)
        return torch.cat([torch.sigmoid(z[:, :1]), torch.softmax(z[:, 1:], 1)], 1)
