"""Training data of the region classifier: candidate windows of DeepPCB-layout pairs, labelled.

Each candidate of the classical change detector (clean pairs plus seeded perturbed copies) becomes
one sample: its (reference, part) window (:func:`inspection.vision.patches.region_patches`), its feature
vector (:func:`inspection.vision.patches.candidate_vector`), its label (0 = no defect, 1..6 = DeepPCB
type of the ground-truth box it matches) and, for defects, the ground-truth box in window units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.deeppcb_data import load_pairs
from inspection.bench.perturb import PerturbSpec
from inspection.progress import Progress
from inspection.recipe.params import DetectParams
from inspection.train.candidates import candidates_of_pair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchSet:
    patches: np.ndarray  # (N, 2, S, S) uint8
    vectors: np.ndarray  # (N, F) float32
    labels: np.ndarray  # (N,) int64, 0..6
    boxes: np.ndarray  # (N, 4) float32 target box in window units (x1, y1, x2, y2); NaN without one
    groups: np.ndarray  # (N,) int64: index of the pair the sample comes from

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, mask: np.ndarray) -> PatchSet:
        return PatchSet(self.patches[mask], self.vectors[mask], self.labels[mask], self.boxes[mask],
                        self.groups[mask])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, patches=self.patches, vectors=self.vectors, labels=self.labels,
                            boxes=self.boxes, groups=self.groups)

    @classmethod
    def load(cls, path: Path) -> PatchSet:
        with np.load(path) as z:
            return cls(z["patches"], z["vectors"], z["labels"], z["boxes"], z["groups"])


def collect(folder: Path, *, split: str = "train", copies: int = 2, seed: int = 0, size: int = 32,
            pad: int = 10, detect: DetectParams | None = None, threads: int = 1,
            progress: bool = True, exclude_groups: tuple[str, ...] = ()) -> PatchSet:
    """Samples of every pair of ``split``: the clean pair plus ``copies`` seeded perturbed copies."""
    from inspection.vision.patches import candidate_vector

    cv2.setNumThreads(threads)
    pairs = load_pairs(folder, split=split, exclude_groups=exclude_groups)
    patches: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    labels: list[int] = []
    boxes: list[np.ndarray] = []
    groups: list[int] = []
    bar = Progress(len(pairs) * (1 + copies), "candidates", enabled=progress)
    for k, pair in enumerate(pairs):
        for copy in range(1 + copies):
            spec = PerturbSpec() if copy else None
            for c in candidates_of_pair(pair, perturbation=spec, seed=seed * 7919 + k * 31 + copy,
                                        detect=detect, patch=(size, pad)):
                assert c.patch is not None and c.window is not None
                patches.append(c.patch)
                vectors.append(candidate_vector(c.features, c.rule_class, c.region_box, size=size,
                                                pad=pad))
                labels.append(c.label)
                box = np.full(4, np.nan, np.float32)
                if c.target_box is not None and c.label > 0:
                    x0, y0, side = c.window
                    t = c.target_box
                    box[:] = ((t[0] - x0) / side, (t[1] - y0) / side, (t[2] - x0) / side,
                              (t[3] - y0) / side)
                boxes.append(box)
                groups.append(k)
            bar.update()
    n = len(labels)
    logger.info("%d samples from %d pairs (%d defects)", n, len(pairs), sum(v > 0 for v in labels))
    return PatchSet(np.stack(patches) if n else np.zeros((0, 2, size, size), np.uint8),
                    np.stack(vectors) if n else np.zeros((0, 16), np.float32),
                    np.array(labels, np.int64), np.stack(boxes) if n else np.zeros((0, 4), np.float32),
                    np.array(groups, np.int64))
