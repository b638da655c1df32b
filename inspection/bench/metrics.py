"""Detection metrics by the DeepPCB authors' protocol (ICDAR 2015 style).

A detection is correct when its box has IoU > 0.33 with a ground-truth box of the same type (any
type for class-agnostic scores); each ground-truth box is matched at most once, detections taken in
descending confidence. Precision, recall and F-score count the reported detections (confidence >=
0.5); AP is the all-point interpolated area under the precision/recall curve over all detections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLD = 0.33
REPORT_THRESHOLD = 0.5
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Det:
    box: Box
    score: float
    cls: int


@dataclass(frozen=True)
class Gt:
    box: Box
    cls: int


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_image(dets: Sequence[Det], gts: Sequence[Gt], *, class_aware: bool) -> list[bool]:
    """For each detection (in the given order, which must be by descending score), whether it
    matches a not-yet-matched ground-truth box."""
    used = [False] * len(gts)
    out = []
    for d in dets:
        best, best_iou = -1, IOU_THRESHOLD
        for j, g in enumerate(gts):
            if used[j] or (class_aware and g.cls != d.cls):
                continue
            o = iou(d.box, g.box)
            if o > best_iou:
                best, best_iou = j, o
        if best >= 0:
            used[best] = True
        out.append(best >= 0)
    return out


def average_precision(scores: np.ndarray, correct: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP from the detections' scores and correctness."""
    if n_gt == 0:
        return float("nan")
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(correct[order])
    fp = np.cumsum(~correct[order])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


@dataclass
class Scores:
    """Accumulates per-image matches; ``summary()`` gives P, R, F and AP."""

    class_aware: bool
    classes: Sequence[int] = (1, 2, 3, 4, 5, 6)
    _scores: list[float] = field(default_factory=list)
    _correct: list[bool] = field(default_factory=list)
    _cls: list[int] = field(default_factory=list)
    _n_gt: dict[int, int] = field(default_factory=dict)
    _tp_rep: int = 0
    _n_rep: int = 0
    _tp_cls: dict[int, int] = field(default_factory=dict)
    _rep_cls: dict[int, int] = field(default_factory=dict)

    def add(self, dets: Iterable[Det], gts: Sequence[Gt]) -> None:
        ordered = sorted(dets, key=lambda d: -d.score)
        flags = match_image(ordered, gts, class_aware=self.class_aware)
        for g in gts:
            self._n_gt[g.cls] = self._n_gt.get(g.cls, 0) + 1
        # reported detections are matched on their own (lower-scored ones cannot steal a match
        # from them, they come later in the order, so the flags above already hold for them)
        for d, ok in zip(ordered, flags, strict=True):
            self._scores.append(d.score)
            self._correct.append(ok)
            self._cls.append(d.cls)
            if d.score >= REPORT_THRESHOLD:
                self._n_rep += 1
                self._tp_rep += int(ok)
                self._rep_cls[d.cls] = self._rep_cls.get(d.cls, 0) + 1
                self._tp_cls[d.cls] = self._tp_cls.get(d.cls, 0) + int(ok)

    @property
    def n_gt(self) -> int:
        return sum(self._n_gt.values())

    def summary(self) -> dict[str, float | int | dict[str, float]]:
        n_gt = self.n_gt
        p = self._tp_rep / self._n_rep if self._n_rep else 0.0
        r = self._tp_rep / n_gt if n_gt else 0.0
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        scores = np.array(self._scores, dtype=np.float64)
        correct = np.array(self._correct, dtype=bool)
        out: dict[str, float | int | dict[str, float]] = {
            "precision": p, "recall": r, "f_score": f, "tp": self._tp_rep,
            "reported": self._n_rep, "ground_truth": n_gt,
        }
        if self.class_aware:
            cls = np.array(self._cls, dtype=np.int64)
            per = {}
            for c in self.classes:
                sel = cls == c
                per[str(c)] = average_precision(scores[sel], correct[sel], self._n_gt.get(c, 0))
            vals = [v for v in per.values() if not np.isnan(v)]
            out["ap_per_class"] = per
            prf = {}
            for c in self.classes:
                tp, rep, n = self._tp_cls.get(c, 0), self._rep_cls.get(c, 0), self._n_gt.get(c, 0)
                pc, rc = (tp / rep if rep else 0.0), (tp / n if n else 0.0)
                prf[str(c)] = {"precision": pc, "recall": rc, "ground_truth": n,
                               "f_score": 2 * pc * rc / (pc + rc) if pc + rc > 0 else 0.0}
            out["per_class"] = prf  # type: ignore[assignment]
            out["map"] = float(np.mean(vals)) if vals else 0.0
        else:
            out["ap"] = average_precision(scores, correct, n_gt)
        return out
