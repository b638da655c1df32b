"""The region classifier network (torch; training only, the station runs its ONNX export).

Input: ``patches`` (N, 2, S, S) float32 grey levels 0..255 (reference window, aligned part window)
and ``vectors`` (N, F) float32 (:func:`inspection.vision.patches.candidate_vector`). All preprocessing is
inside the network (scaling, the difference channel, the vector standardisation), so the exported
graph needs nothing but the raw inputs. Outputs: ``probs`` (N, 7) softmax over no-defect + the six
DeepPCB types, and ``boxes`` (N, 4) the defect box in window units (x1, y1, x2, y2).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class PcbNet(nn.Module):
    def __init__(self, *, size: int = 32, n_vectors: int = 16, width: int = 16,
                 vector_mean: torch.Tensor | None = None, vector_scale: torch.Tensor | None = None,
                 classes: int = 7) -> None:
        super().__init__()
        if size % 8:
            raise ValueError(f"patch size must be a multiple of 8, got {size}")
        c = width
        self.size = size
        self.body = nn.Sequential(_conv(3, c, 2), _conv(c, 2 * c, 2), _conv(2 * c, 2 * c, 1),
                                  _conv(2 * c, 4 * c, 2))
        cells = (size // 8) ** 2
        self.vec = nn.Sequential(nn.Linear(n_vectors, 32), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(4 * c * cells + 32, 96), nn.ReLU(inplace=True),
                                  nn.Dropout(0.1))
        self.cls = nn.Linear(96, classes)
        self.box = nn.Linear(96, 4)
        mean = vector_mean if vector_mean is not None else torch.zeros(n_vectors)
        scale = vector_scale if vector_scale is not None else torch.ones(n_vectors)
        self.register_buffer("vector_mean", mean.float().clone())
        self.register_buffer("vector_scale", scale.float().clone())

    def logits(self, patches: torch.Tensor,
               vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = patches * (1.0 / 255.0)
        ref, part = x[:, 0:1], x[:, 1:2]
        x = torch.cat([ref, part, part - ref], 1)
        x = self.body(x).flatten(1)
        mean, scale = self.vector_mean, self.vector_scale
        assert isinstance(mean, torch.Tensor) and isinstance(scale, torch.Tensor)
        v = (vectors - mean) / scale
        h = self.head(torch.cat([x, self.vec(v)], 1))
        return self.cls(h), self.box(h)

    def forward(self, patches: torch.Tensor, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, boxes = self.logits(patches, vectors)
        return torch.softmax(logits, 1), boxes
