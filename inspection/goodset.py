"""Good-set anomaly detection: learn "good" from good parts only (PatchCore-like).

A patch-feature extractor (a pretrained CNN, run by a plugin) turns an image into a grid of feature
vectors. Teaching keeps a memory bank of good patch features, subsampled by greedy k-center
selection (a coreset: every good patch stays close to some bank entry). A patch's anomaly is its
distance to the nearest bank entry; the image score is the largest patch anomaly. The threshold is
set from good parts only: a held-out share of the good images is scored and the threshold put where
the chosen false-reject rate of them would be rejected.

Pure numpy; the feature extractor is passed in as a callable.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import CalibrationError
from inspection.imageio import percentiles8
from inspection.registry import Registry

logger = logging.getLogger(__name__)

#: image (H, W) uint8 -> patch features (h, w, C) float32
FeatureFn = Callable[[np.ndarray], np.ndarray]
FORMAT = "inspection.goodset/1"

#: Patch feature extractors by name (factories taking threads=, device=, precision=).
feature_extractors: Registry[FeatureFn] = Registry("feature extractor", "inspection.features")
feature_extractors.register("effnet-lite0", "plugins.detectors.patch_features:OnnxPatchFeatures",
                            extra="cpu")


def resize_short(image: np.ndarray, short: int, *, multiple: int = 16) -> np.ndarray:
    """The image scaled so its shorter side is ``short`` px, both sides rounded to ``multiple``."""
    h, w = image.shape[:2]
    s = short / min(h, w)
    nh = max(multiple, round(h * s / multiple) * multiple)
    nw = max(multiple, round(w * s / multiple) * multiple)
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


CONTRASTS = ("none", "percentile")


def normalise_contrast(image: np.ndarray, mode: str = "percentile") -> np.ndarray:
    """``percentile``: grey levels stretched so the 1st..99th percentiles span 28..228 (tiles differ
    in exposure; the stretch removes that nuisance before features are compared). ``none``: as is."""
    if mode == "none":
        return image
    if mode != "percentile":
        raise CalibrationError(f"contrast must be one of {CONTRASTS}, got {mode!r}")
    lo, hi = percentiles8(image, (1, 99))
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (200.0 / max(hi - lo, 1.0)) + 28, 0, 255)
    return cv2.LUT(image, lut.round().astype(np.uint8))


def prepare_image(image: np.ndarray, short_side: int, contrast: str) -> np.ndarray:
    """What the feature extractor sees: contrast-normalised, scaled to ``short_side``."""
    return resize_short(normalise_contrast(image, contrast), short_side)


def coreset(features: np.ndarray, m: int, *, seed: int = 0, project: int = 64) -> np.ndarray:
    """Indices of ``m`` rows chosen by greedy k-center (farthest-point) selection, on a seeded
    random projection to ``project`` dimensions for speed (as PatchCore does)."""
    n = features.shape[0]
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    x = features.astype(np.float32)
    if project and x.shape[1] > project:
        proj = rng.normal(size=(x.shape[1], project)).astype(np.float32) / math.sqrt(project)
        x = x @ proj
    sq = np.einsum("ij,ij->i", x, x)
    chosen = np.empty(m, np.int64)
    i = int(rng.integers(n))
    dist = np.full(n, np.inf, np.float32)
    for k in range(m):
        chosen[k] = i
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one matrix-vector product per step
        np.minimum(dist, sq - 2.0 * (x @ x[i]) + sq[i], out=dist)
        i = int(np.argmax(dist))
    return chosen


def nearest_distances(query: np.ndarray, bank: np.ndarray, bank_sq: np.ndarray | None = None,
                      *, chunk: int = 4096) -> np.ndarray:
    """Euclidean distance of every query row to its nearest bank row."""
    bsq = bank_sq if bank_sq is not None else np.einsum("ij,ij->i", bank, bank)
    out = np.empty(query.shape[0], np.float32)
    for i in range(0, query.shape[0], chunk):
        q = query[i:i + chunk]
        d = bsq[None, :] - 2.0 * (q @ bank.T)
        out[i:i + chunk] = np.sqrt(np.maximum(d.min(1) + np.einsum("ij,ij->i", q, q), 0.0))
    return out


def threshold_at_frr(good_scores: Sequence[float] | np.ndarray, frr: float) -> float:
    """The smallest threshold (score > threshold rejects) that rejects at most ``frr`` of the good
    scores: the ceil(n * (1 - frr))-th smallest score. Needs at least one score."""
    s = np.sort(np.asarray(good_scores, dtype=np.float64))
    if s.size == 0:
        raise CalibrationError("no good-part scores to set the threshold from")
    if not (0.0 <= frr < 1.0):
        raise CalibrationError(f"false-reject rate must be in [0, 1), got {frr}")
    k = max(1, math.ceil(s.size * (1.0 - frr) - 1e-9))
    return float(s[k - 1])


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve (probability that a positive outscores a negative; ties count
    half). NaN when one class is absent."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    uniq, inverse = np.unique(s, return_inverse=True)
    counts = np.bincount(inverse, minlength=uniq.size)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    mid_rank = first + (counts + 1) / 2.0  # average 1-based rank of the ties
    rank_sum = float(mid_rank[inverse[y]].sum())
    return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg)


@dataclass(frozen=True)
class GoodSetModel:
    """A taught good-set model: memory bank, threshold, and how images are prepared."""

    bank: np.ndarray  # (M, C) float32
    threshold: float
    frr: float
    short_side: int
    extractor: str  # name/version of the feature extractor the bank was made with
    calibration_scores: np.ndarray  # scores of the held-out good images
    contrast: str = "percentile"  # see normalise_contrast

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bank_sq", np.einsum("ij,ij->i", self.bank, self.bank))

    def anomaly_map(self, image: np.ndarray, extract: FeatureFn) -> np.ndarray:
        """Per-patch anomaly (h, w) of a grey uint8 image."""
        feats = extract(prepare_image(image, self.short_side, self.contrast))
        h, w, c = feats.shape
        if c != self.bank.shape[1]:
            raise CalibrationError(f"features have {c} channels, the bank {self.bank.shape[1]}")
        d = nearest_distances(feats.reshape(-1, c), self.bank, self._bank_sq)  # type: ignore[attr-defined]
        return d.reshape(h, w)

    @staticmethod
    def image_score(amap: np.ndarray) -> float:
        return float(amap.max())

    def save(self, path: Path) -> None:
        meta = {"format": FORMAT, "threshold": self.threshold, "frr": self.frr,
                "short_side": self.short_side, "extractor": self.extractor, "contrast": self.contrast}
        np.savez_compressed(path, bank=self.bank, calibration_scores=self.calibration_scores,
                            meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: Path) -> GoodSetModel:
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise CalibrationError(f"{path}: not a good-set model ({meta.get('format')!r})")
                return cls(z["bank"].astype(np.float32), float(meta["threshold"]), float(meta["frr"]),
                           int(meta["short_side"]), str(meta["extractor"]), z["calibration_scores"],
                           str(meta.get("contrast", "none")))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"cannot read good-set model {path}: {exc}") from exc


def teach(images: Sequence[np.ndarray], extract: FeatureFn, *, extractor: str, short_side: int = 224,
          bank_size: int = 4000, frr: float = 0.01, calibration_share: float = 0.2, seed: int = 0,
          max_patches: int = 1_000_000, contrast: str = "percentile",
          on_image: Callable[[], None] | None = None) -> GoodSetModel:
    """Teach from good images: bank from a seeded (1 - calibration_share) share of them, threshold
    from the scores of the rest at false-reject rate ``frr``. The coreset is chosen among at most
    ``max_patches`` patches (a seeded random sample), which bounds the teaching time."""
    n = len(images)
    if n < 2:
        raise CalibrationError(f"need at least 2 good images to teach, got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_cal = min(n - 1, max(1, round(n * calibration_share)))
    cal_idx, fit_idx = order[:n_cal], order[n_cal:]
    feats = []
    for i in fit_idx:
        f = extract(prepare_image(images[i], short_side, contrast))
        feats.append(f.reshape(-1, f.shape[-1]))
        if on_image:
            on_image()
    allf = np.concatenate(feats).astype(np.float32)
    pool = allf if allf.shape[0] <= max_patches else allf[rng.choice(allf.shape[0], max_patches,
                                                                     replace=False)]
    bank = pool[coreset(pool, bank_size, seed=seed)]
    model = GoodSetModel(bank, math.inf, frr, short_side, extractor, np.zeros(0), contrast)
    cal = []
    for i in cal_idx:
        cal.append(model.image_score(model.anomaly_map(images[i], extract)))
        if on_image:
            on_image()
    cal_scores = np.array(cal, np.float64)
    logger.info("taught from %d good images (%d patches -> bank %d), threshold from %d held out",
                len(fit_idx), allf.shape[0], bank.shape[0], len(cal_idx))
    return GoodSetModel(bank, threshold_at_frr(cal_scores, frr), frr, short_side, extractor, cal_scores,
                        contrast)
