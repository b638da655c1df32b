"""Good-set anomaly detection: learn "good" from good parts only (PatchCore-like, or SPADE-like with a
local bank).

A patch-feature extractor (a pretrained CNN, run by a plugin) turns an image into a grid of feature
vectors. Teaching keeps a memory bank of good patch features, subsampled by greedy k-center
selection (a coreset: every good patch stays close to some bank entry): one bank of all taught
patches, or a local bank (a coreset per taught image, and a part compared with the rows of the taught
images nearest to it in the image-level descriptor only). A patch's anomaly is its distance to the
nearest bank entry; the image score is the mean of the largest patch anomalies,
optionally plus an image-level term (:class:`TileBank`: how far the image's pooled features are
from those of the nearest taught images). The threshold is set from good parts only: a held-out
share of the good images is scored and the threshold put where the chosen false-reject rate of them
would be rejected.

Pure numpy; the feature extractor is passed in as a callable.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np

from inspection.errors import CalibrationError
from inspection.imageio import percentiles8
from inspection.progress import Progress
from inspection.registry import Registry
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

logger = logging.getLogger(__name__)

#: image (H, W) uint8 -> patch features (h, w, C) float32
FeatureFn = Callable[[np.ndarray], np.ndarray]
FORMAT = "inspection.goodset/1"  # the file format's name, not a module path: never renamed

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
#: blur of the localisation map in patches (chosen on the MTD validation fold, exp1)
MAP_SIGMA = 5.0
#: rings of patches by distance from the inspected region's side (0, 1, 2, 3 or more patches): a
#: side patch sees the part's edge, chamfer or background, and good parts' side patches lie farther
#: from the bank as a rule. The map the station shows takes each ring to the inner ring's level and
#: spread (:meth:`GoodSetModel.display_map`), so that its hottest point is what is unusual *for its
#: place* (docs/benchmarks.md, round 12: it points at 65% of defects instead of 58%, by physical tile)
EDGE_RINGS = 4


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


def brighten_to_clip(image: np.ndarray, share: float) -> np.ndarray:
    """The image brightened (a gain, grey levels clipped at 255) until about ``share`` of its pixels
    saturate: what a part looks like when the light is too strong for the exposure (flat white
    highlights where the texture was)."""
    if share <= 0:
        return image
    level = float(np.percentile(image, 100.0 * (1.0 - min(share, 1.0))))
    gain = 255.0 / max(level, 1.0)
    if gain <= 1.0:
        return image
    # floor: only the grey levels at or above ``level`` reach 255
    lut = np.clip(np.floor(np.arange(256, dtype=np.float32) * gain), 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut)


def pixel_map(amap: np.ndarray, shape: tuple[int, int], *, sigma: float = 4.0) -> np.ndarray:
    """The patch anomaly map at image resolution (h, w): bilinear upsampling, then a Gaussian blur
    of ``sigma`` image pixels (as PatchCore does) so that the map follows defect shapes smoothly."""
    h, w = shape
    full = cv2.resize(amap.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(full, (0, 0), sigma) if sigma > 0 else full


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


#: how teaching turns held-out good scores into the threshold (see threshold_for)
THRESHOLD_RULES = ("empirical", "robust")
#: fewer held-out scores than this: the robust rule falls back to the empirical one
ROBUST_MIN_SCORES = 8


def threshold_robust(good_scores: Sequence[float] | np.ndarray, frr: float) -> float:
    """The threshold at false-reject rate ``frr`` from a normal fit of the good scores that a few
    odd good parts cannot move: median + z(1 - frr) * spread, where the spread is the median of the
    deviations *above* the median, scaled by 1.4826 (the MAD's normal consistency factor; the upper
    half only, because image scores are right-skewed). The empirical quantile of 50-500 held-out
    parts at 1% is their 1st-5th largest score, i.e. set by the one or two oddest "good" parts (on
    the tiles a scratched tile and its near-duplicate); the fit uses every score. With fewer than
    :data:`ROBUST_MIN_SCORES` scores, or ``frr`` 0, the empirical rule (:func:`threshold_at_frr`).

    Not the default: chosen on the MTD validation fold (exp1: 78% of defective tiles rejected, 0 of
    109 good, against 49% with the empirical rule), it rejected 7.5% of the good tiles of the
    other five folds at a 1% target (empirical: 2.9%), split by run or by tile alike: good-tile
    scores have a heavier tail than a normal fit (docs/benchmarks.md, round 4). Kept for the
    benches (``--threshold-rule``)."""
    s = np.sort(np.asarray(good_scores, dtype=np.float64))
    if s.size < ROBUST_MIN_SCORES or frr <= 0.0:
        return threshold_at_frr(s, frr)
    if not (0.0 < frr < 1.0):
        raise CalibrationError(f"false-reject rate must be in [0, 1), got {frr}")
    med = float(np.median(s))
    upper = s[s > med] - med
    spread = 1.4826 * float(np.median(upper)) if upper.size else 0.0
    return med + NormalDist().inv_cdf(1.0 - frr) * spread


def threshold_for(good_scores: Sequence[float] | np.ndarray, frr: float, rule: str) -> float:
    """The threshold from held-out good scores by ``rule``: ``empirical`` (:func:`threshold_at_frr`,
    the default of teaching) or ``robust`` (:func:`threshold_robust`, an experiment)."""
    if rule == "robust":
        return threshold_robust(good_scores, frr)
    if rule == "empirical":
        return threshold_at_frr(good_scores, frr)
    raise CalibrationError(f"threshold rule must be one of {THRESHOLD_RULES}, got {rule!r}")


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


#: optional fast path of an extractor: (features (P, C), mean, components, bank (M, D)) -> (P,)
#: nearest distances after projection, e.g. run by ONNX Runtime with explicit thread counts
NearestFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


#: per-block banks of the effnet-lite0 extractor: its blocks 7 (channels 40-119) and 10 (120-231),
#: block 4 (0-39) left out (chosen on the MTD validation fold, see docs/benchmarks.md, round 4)
LITE0_BLOCKS = ((40, 120), (120, 232))
#: what ``features`` names in teaching: all channels in one bank, or one bank per tapped block
FEATURE_LAYOUTS = {"joint": None, "per-block": LITE0_BLOCKS}


@dataclass(frozen=True)
class ScaleBank:
    """The bank of one slice of the feature channels (one tapped block of the extractor), and the
    mean and spread of its image scores on held-out good images, which put the slices' distances
    on one scale before they are added."""

    lo: int
    hi: int
    mean: np.ndarray  # (hi - lo,) float32
    components: np.ndarray  # (hi - lo, D) float32
    bank: np.ndarray  # (M, D) float32, projected
    mu: float = 0.0
    sd: float = 1.0

    def __post_init__(self) -> None:
        if not (0 <= self.lo < self.hi) or self.components.shape != (self.hi - self.lo, self.bank.shape[1]) \
                or self.mean.shape != (self.hi - self.lo,):
            raise CalibrationError(f"feature slice {self.lo}:{self.hi}: projection {self.components.shape} "
                                   f"does not fit mean {self.mean.shape} and bank {self.bank.shape}")
        if not (math.isfinite(self.mu) and math.isfinite(self.sd) and self.sd > 0):
            raise CalibrationError(f"feature slice {self.lo}:{self.hi}: bad score scale {self.mu}, {self.sd}")
        object.__setattr__(self, "_bank_sq", np.einsum("ij,ij->i", self.bank, self.bank))


#: taught images nearest to a part that its image-level term averages over (0: no image-level term)
TILE_KNN = 3
#: the image-level term in units of the patch score's held-out spread per unit of its own spread
#: (teach's ``tile_weight``; stored in each model as its term's scale). Round 10 (docs/benchmarks.md):
#: 0.5 ranks new physical tiles better on every fold (AUROC) but catches fewer defects at 1-2% of good
#: rejected, where a line runs; kept at 1.0
TILE_WEIGHT = 1.0
#: share of the nearest taught images' own held-out scores (above their mean) taken off a part's
#: score: parts that look like the taught images that score high when good are judged against
#: those (chosen on the MTD validation fold, docs/benchmarks.md round 6)
TILE_PRIOR = 0.5
#: how many nearest taught images the prior averages over
TILE_PRIOR_KNN = 3
#: every taught image also enters the patch pool over-lit, up to this share of its pixels saturated
#: (a seeded share from HIGHLIGHT_MIN): clipped highlights of a good part are then not anomalies
#: (chosen on the MTD validation fold, exp1 relit; docs/benchmarks.md round 6)
HIGHLIGHTS = 0.3
HIGHLIGHT_MIN = 0.02
#: local bank: a part's patches are compared with the patches of the taught images nearest to it in
#: the image-level descriptor (this many), not with one coreset of all taught patches (0: that
#: global bank); chosen on the MTD validation fold (docs/benchmarks.md round 8)
BANK_KNN = 10
# look-alike taught images (teach's ``look_alikes``): an image whose patches lie this much closer to
# one other taught image than to the median of its bank_knn nearest (top-k scores), that image's too,
# are most likely two images of one part (MTD, one image per physical tile: 1.6% of images; every
# tile under up to six lights: 48%; docs/benchmarks.md round 9). A teach set where at least
# LOOK_ALIKE_SHARE of the images have one was most likely taken several times per part.
LOOK_ALIKE_RATIO = 0.7
LOOK_ALIKE_SHARE = 0.15
#: with a local bank: rows kept per taught image (a coreset of its patches and its over-lit copy's)
TILE_ROWS = 250
#: teach settings that a model's arrays and scoring settings do not show, at the values a model that
#: does not record them was taught with (the product's defaults when recording began). A model taught
#: otherwise records the ones that differ (``GoodSetModel.taught``; only then, so that the digests of
#: models taught before, which bundles and recipe versions check, do not change); teaching it again
#: (the HMI's teach from parts) takes them from there (:meth:`GoodSetModel.teach_setting`)
UNRECORDED_TEACH_SETTINGS: dict[str, float] = {"tile_weight": 1.0, "tile_prior": 0.5, "highlights": 0.3,
                                               "max_patches": 200_000}


def tile_channels_for(channels: int) -> tuple[int, int]:
    """The channels the image-level descriptor pools: effnet-lite0's last tapped block (block 10,
    chosen on the MTD validation fold, docs/benchmarks.md round 5), else all channels."""
    return LITE0_BLOCKS[-1] if channels == LITE0_BLOCKS[-1][1] else (0, channels)


def tile_descriptor(feats: np.ndarray, lo: int, hi: int, cover: np.ndarray | None = None) -> np.ndarray:
    """Mean and standard deviation of channels ``lo:hi`` over an image's patches (features (h, w,
    C) or rows (N, C)); with ``cover`` (h, w), only patches at least half inspected."""
    rows = np.asarray(feats, np.float32).reshape(-1, feats.shape[-1])[:, lo:hi]
    if cover is not None:
        keep = np.asarray(cover).ravel() >= 0.5
        if keep.any():
            rows = rows[keep]
    # column sums as products with a ones vector (BLAS: 4x faster than numpy's strided reductions on
    # the station's one thread), the spread from centred values (no cancellation)
    w = np.full(rows.shape[0], 1.0 / rows.shape[0], np.float32)
    mean = w @ rows
    var = w @ np.square(rows - mean)
    return np.concatenate([mean, np.sqrt(np.maximum(var, 0.0))]).astype(np.float32)


@dataclass(frozen=True)
class TileBank:
    """The image-level part of a model's score: the standardised descriptors
    (:func:`tile_descriptor`) of the taught images. A part's term is ``scale`` x (the mean
    distance to its ``k`` nearest taught images - ``mu``), ``mu`` being that distance's mean over
    held-out good images (with k-fold calibration: every taught image, left out of the bank in
    turn) and ``scale`` putting it in patch-score units (:data:`TILE_WEIGHT` x the held-out patch
    scores' spread / the held-out distances' spread). A defect that changes a part's overall
    texture a little everywhere raises few single patches; its pooled features move. With
    ``prior`` (per taught image: its held-out part score minus their mean, times
    :data:`TILE_PRIOR`), the term also takes off the mean prior of the ``prior_knn`` nearest
    taught images: good parts of a kind that scores high (a brighter, rougher or more worn look) are judged
    against their own kind rather than against the smoothest taught parts."""

    lo: int
    hi: int
    k: int
    center: np.ndarray  # (G,) float32
    spread: np.ndarray  # (G,) float32, > 0
    tiles: np.ndarray  # (N, G) float32, standardised
    mu: float = 0.0
    scale: float = 0.0
    prior: np.ndarray | None = None  # (N,) float32, see the class's text; None: no prior
    prior_k: int = 0  # the prior's nearest taught images (0: k)

    def __post_init__(self) -> None:
        g = 2 * (self.hi - self.lo)
        if not (0 <= self.lo < self.hi) or self.k < 1 or self.tiles.ndim != 2 or self.tiles.shape[1] != g \
                or self.tiles.shape[0] < 1 or self.center.shape != (g,) or self.spread.shape != (g,):
            raise CalibrationError(f"image-level bank: channels {self.lo}:{self.hi}, k {self.k}, "
                                   f"descriptors {self.tiles.shape}, centre {self.center.shape} do not fit")
        if not (np.all(self.spread > 0) and math.isfinite(self.mu) and math.isfinite(self.scale)
                and self.scale >= 0):
            raise CalibrationError("image-level bank: bad spread or scale")
        if self.prior is not None and (self.prior.shape != (self.tiles.shape[0],) or self.prior_k < 0
                                       or not np.all(np.isfinite(self.prior))):
            raise CalibrationError(f"image-level bank: prior {self.prior.shape} does not fit "
                                   f"{self.tiles.shape[0]} taught images")
        object.__setattr__(self, "_tiles_sq", np.einsum("ij,ij->i", self.tiles, self.tiles))

    @classmethod
    def of(cls, descriptors: Sequence[np.ndarray], lo: int, hi: int, k: int) -> TileBank:
        d = np.stack(descriptors).astype(np.float64)
        center = d.mean(0)
        sd = d.std(0)
        spread = np.maximum(sd, 1e-3 * float(sd.mean()) + 1e-9)
        return cls(lo, hi, k, center.astype(np.float32), spread.astype(np.float32),
                   ((d - center) / spread).astype(np.float32))

    def nearest(self, descriptor: np.ndarray, *, exclude: int | Sequence[int] | np.ndarray | None = None,
                k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances) of the ``k`` (default: the bank's) taught images nearest to a
        descriptor (``exclude``: a taught image's own row, or the rows of all images of its part,
        left out)."""
        z = (descriptor.astype(np.float32) - self.center) / self.spread
        # |t - z|^2 = |t|^2 - 2 t.z + |z|^2: one matrix-vector product (BLAS)
        d = np.sqrt(np.maximum(self._tiles_sq - 2.0 * (self.tiles @ z) + float(z @ z), 0.0))  # type: ignore[attr-defined]
        left_out = 0
        if exclude is not None:
            rows = np.unique(np.atleast_1d(np.asarray(exclude, np.int64)))
            d[rows] = np.inf
            left_out = rows.size
        k = min(k or self.k, d.size - left_out)
        if k < 1:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        idx = np.argpartition(d, k - 1)[:k]
        return idx[np.argsort(d[idx], kind="stable")], np.sort(d[idx])

    def distance(self, descriptor: np.ndarray) -> float:
        return float(self.nearest(descriptor)[1].mean())

    @property
    def prior_knn(self) -> int:
        return self.prior_k or self.k

    def term(self, feats: np.ndarray, cover: np.ndarray | None = None,
             near: tuple[np.ndarray, np.ndarray] | None = None) -> float:
        """The part's term; ``near``: its nearest taught images already found (:meth:`nearest`, at
        least max(k, prior_knn) of them), so that a local bank and the term share one search."""
        idx, d = near if near is not None else self.nearest(tile_descriptor(feats, self.lo, self.hi, cover),
                                                            k=max(self.k, self.prior_knn))
        term = self.scale * (float(d[: self.k].mean()) - self.mu)
        return term if self.prior is None else term - float(self.prior[idx[: self.prior_knn]].mean())


@dataclass(frozen=True)
class GoodSetModel:
    """A taught good-set model: memory bank, threshold, and how images are prepared and scored.

    Patch features are centred and projected (``mean``, ``components``: PCA) before the
    nearest-neighbour search in the ``bank`` (already projected). With ``scales``, every slice of
    the channels (a tapped block) has its own projection and bank instead; a patch's anomaly is the
    sum of its slices' distances, each in units of its held-out good images' score spread
    ((d - mu) / sd), and ``bank``, ``mean``, ``components`` are the first slice's. With ``tile``,
    a part's score (:meth:`part_score`, what the threshold is compared with) adds an image-level
    term in the patch score's units (:class:`TileBank`); the anomaly map is the patches' alone."""

    bank: np.ndarray  # (M, D) float32, projected
    mean: np.ndarray  # (C,) float32
    components: np.ndarray  # (C, D) float32
    threshold: float
    frr: float
    short_side: int
    extractor: str  # name/version of the feature extractor the bank was made with
    calibration_scores: np.ndarray  # scores of the held-out good images
    contrast: str = "percentile"  # see normalise_contrast
    top_k: int = 1  # the image score is the mean of the k largest patch anomalies
    map_sigma: float = MAP_SIGMA  # blur of the localisation map, in patches (see heat_map)
    threshold_rule: str = "empirical"  # how the threshold came from calibration_scores (threshold_for)
    scales: tuple[ScaleBank, ...] = ()  # per-slice banks (empty: one bank of all channels)
    feature_channels: int = 0  # the extractor's channel count (with scales; else mean's length)
    tile: TileBank | None = None  # the image-level term of the score (None: the patches' alone)
    # local bank (bank_knn >= 1): ``bank`` holds every taught image's rows, image j's being
    # bank[bank_offsets[j]:bank_offsets[j + 1]] (the order of tile.tiles); a part's patches are
    # compared with the rows of its bank_knn nearest taught images only (see local_bank)
    bank_offsets: np.ndarray | None = None  # (N + 1,) int64
    bank_knn: int = 0
    # teach settings that differ from UNRECORDED_TEACH_SETTINGS, sorted by name (see there)
    taught: tuple[tuple[str, float], ...] = ()
    # the taught images' held-out patch anomalies per ring (EDGE_RINGS means, then as many spreads):
    # what display_map evens out; empty (models taught before it): the map is shown as it is
    edge_norm: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # (names this version does not know are kept: a newer version's model keeps its digest)
        if any(not isinstance(k, str) or not math.isfinite(v) for k, v in self.taught):
            raise CalibrationError(f"bad teach settings {dict(self.taught)}")
        e = self.edge_norm
        if e and (len(e) != 2 * EDGE_RINGS or not all(math.isfinite(v) for v in e)
                  or min(e[EDGE_RINGS:]) <= 0.0):
            raise CalibrationError(f"bad side-ring levels {list(e)}")
        if self.components.shape != (self.mean.shape[0], self.bank.shape[1]):
            raise CalibrationError(f"projection {self.components.shape} does not fit mean "
                                   f"{self.mean.shape} and bank {self.bank.shape}")
        if self.scales:
            if any(sc.hi > self.feature_channels for sc in self.scales):
                raise CalibrationError(f"feature slices {[(sc.lo, sc.hi) for sc in self.scales]} do not fit "
                                       f"{self.feature_channels} channels")
            if self.scales[0].bank is not self.bank and not np.array_equal(self.scales[0].bank, self.bank):
                raise CalibrationError("with scales, the model's bank is the first slice's")
        if self.tile is not None and self.tile.hi > self.channels:
            raise CalibrationError(f"image-level channels {self.tile.lo}:{self.tile.hi} do not fit "
                                   f"{self.channels} channels")
        if self.bank_knn or self.bank_offsets is not None:
            off = self.bank_offsets
            if self.bank_knn < 1 or off is None or self.tile is None or self.scales:
                raise CalibrationError("a local bank needs bank_knn >= 1, its offsets and the image-level "
                                       "descriptors, and one bank of all channels")
            if off.shape != (self.tile.tiles.shape[0] + 1,) or int(off[0]) != 0 \
                    or int(off[-1]) != self.bank.shape[0] or np.any(np.diff(off) < 1):
                raise CalibrationError(f"local bank: offsets {off.shape} do not fit {self.tile.tiles.shape[0]} "
                                       f"taught images and {self.bank.shape[0]} rows")
        object.__setattr__(self, "_bank_sq", np.einsum("ij,ij->i", self.bank, self.bank))

    @property
    def channels(self) -> int:
        return int(self.feature_channels) if self.scales else int(self.mean.shape[0])

    def teach_setting(self, name: str) -> float:
        """A teach setting the model was taught with (``UNRECORDED_TEACH_SETTINGS``' names; only those
        the model's arrays do not show). Those that did not apply to it (``tile_prior`` without a
        prior, ``tile_weight`` without the image-level term, ``max_patches`` with a local bank) read 0."""
        if name not in UNRECORDED_TEACH_SETTINGS:
            raise KeyError(f"not a recorded teach setting: {name!r}")
        if not _applied(self.tile, bool(self.bank_knn))[name]:
            return 0.0
        return dict(self.taught).get(name, UNRECORDED_TEACH_SETTINGS[name])

    def features(self, image: np.ndarray, extract: FeatureFn) -> np.ndarray:
        """The patch features (h, w, C) of a grey uint8 image, prepared as taught."""
        feats = extract(prepare_image(image, self.short_side, self.contrast))
        c = feats.shape[-1]
        if c != self.channels:
            raise CalibrationError(f"features have {c} channels, the model {self.channels}: taught "
                                   f"with another extractor ({self.extractor})")
        return feats

    @property
    def tile_rows(self) -> int:
        """With a local bank: the most rows any taught image keeps (its coreset's size); else 0."""
        return int(np.diff(self.bank_offsets).max()) if self.bank_offsets is not None else 0

    def neighbours(self, feats: np.ndarray, cover: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(indices, distances) of the taught images nearest to an image in the image-level
        descriptor (patches with ``cover`` >= 0.5 when given), as many as the term, the prior and a
        local bank use; None without the image-level bank. Found once per part and handed to
        :meth:`patch_map` and :meth:`part_score`."""
        if self.tile is None:
            return None
        t = self.tile
        return t.nearest(tile_descriptor(feats, t.lo, t.hi, cover), k=max(t.k, t.prior_knn, self.bank_knn))

    def local_bank(self, feats: np.ndarray, cover: np.ndarray | None = None,
                   near: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, their squared norms): the bank an image's patches are compared with. With a local
        bank, the rows of the ``bank_knn`` taught images nearest to the image (``near``, else
        :meth:`neighbours`); else the whole bank."""
        sq = self._bank_sq  # type: ignore[attr-defined]
        if not self.bank_knn or self.tile is None or self.bank_offsets is None:
            return self.bank, sq
        found = near if near is not None else self.neighbours(feats, cover)
        if found is None:  # (not reached: a local bank has an image-level bank)
            return self.bank, sq
        idx = found[0][: self.bank_knn]
        return _rows_of(self.bank, self.bank_offsets, idx), _rows_of(sq, self.bank_offsets, idx)

    def patch_map(self, feats: np.ndarray, extract: FeatureFn, cover: np.ndarray | None = None,
                  near: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Per-patch anomaly (h, w) of an image's features (:meth:`features`); ``cover``: the
        inspected share of each patch, ``near``: :meth:`neighbours` (both choose a local bank's
        taught images, see :meth:`local_bank`)."""
        h, w, c = feats.shape
        raw = feats.reshape(-1, c)
        if not self.scales:
            bank, sq = self.local_bank(feats, cover, near)
            return _distances(raw, self.mean, self.components, bank, extract, sq).reshape(h, w)
        return _combined(raw, self.scales, extract).reshape(h, w)

    def anomaly_map(self, image: np.ndarray, extract: FeatureFn) -> np.ndarray:
        """Per-patch anomaly (h, w) of a grey uint8 image."""
        return self.patch_map(self.features(image, extract), extract)

    def image_score(self, amap: np.ndarray) -> float:
        """Mean of the ``top_k`` largest patch anomalies (k=1: the maximum). Several patches rather
        than one make the score less sensitive to a single odd patch of a good part. The patches'
        part of :meth:`part_score` (all of it for a model without ``tile``)."""
        flat = amap.ravel()
        k = min(max(1, self.top_k), flat.size)
        return float(np.partition(flat, flat.size - k)[flat.size - k:].mean())

    def part_score(self, amap: np.ndarray, feats: np.ndarray, cover: np.ndarray | None = None,
                   near: tuple[np.ndarray, np.ndarray] | None = None) -> float:
        """The score the threshold is compared with: :meth:`image_score` of the (masked) map, plus
        the image-level term of the features (patches with ``cover`` >= 0.5 only, when given;
        ``near``: :meth:`neighbours` of the same features and cover, found once)."""
        score = self.image_score(amap)
        return score if self.tile is None else score + self.tile.term(feats, cover, near)

    def score(self, image: np.ndarray, extract: FeatureFn) -> tuple[np.ndarray, float]:
        """The anomaly map and the part's score of a grey uint8 image (the whole image inspected)."""
        feats = self.features(image, extract)
        near = self.neighbours(feats)
        amap = self.patch_map(feats, extract, near=near)
        return amap, self.part_score(amap, feats, near=near)

    def meta(self) -> dict[str, object]:
        meta: dict[str, object] = {
            "format": FORMAT, "threshold": self.threshold, "frr": self.frr, "short_side": self.short_side,
            "extractor": self.extractor, "contrast": self.contrast, "top_k": self.top_k,
            "map_sigma": self.map_sigma}
        if self.threshold_rule != "empirical":
            # only then: models taught before the rule existed keep their digests, which recipe
            # bundles and versions check when they load
            meta["threshold_rule"] = self.threshold_rule
        if self.scales:  # likewise
            meta["scales"] = [[sc.lo, sc.hi, sc.mu, sc.sd] for sc in self.scales]
            meta["feature_channels"] = self.feature_channels
        if self.tile is not None:  # likewise
            tile: list[float] = [self.tile.lo, self.tile.hi, self.tile.k, self.tile.mu, self.tile.scale]
            if self.tile.prior is not None or self.bank_knn:  # a sixth entry (the prior's k; 0: none):
                # versions that cannot apply it refuse the model instead of scoring without it
                tile.append(self.tile.prior_knn if self.tile.prior is not None else 0)
            if self.bank_knn:  # a seventh (the local bank's k): refused alike by versions before it
                tile.append(self.bank_knn)
            meta["tile"] = tile
        if self.taught:  # likewise (versions before it ignore it: scoring does not use it)
            meta["teach"] = dict(self.taught)
        if self.edge_norm:  # likewise (versions before it ignore it: the verdict does not use it)
            meta["edge_norm"] = list(self.edge_norm)
        return meta

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {"bank": self.bank, "mean": self.mean, "components": self.components,
               "calibration_scores": self.calibration_scores}
        for k, sc in enumerate(self.scales[1:], 1):
            out.update({f"bank_{k}": sc.bank, f"mean_{k}": sc.mean, f"components_{k}": sc.components})
        if self.tile is not None:
            out.update({"tile_center": self.tile.center, "tile_spread": self.tile.spread,
                        "tile_bank": self.tile.tiles})
            if self.tile.prior is not None:  # only then: models without it keep their digests
                out["tile_prior"] = self.tile.prior
        if self.bank_offsets is not None:
            out["bank_offsets"] = self.bank_offsets
        return out

    def to_bytes(self) -> bytes:
        """The model as an ``.npz`` archive (what :meth:`save` writes and a recipe bundle holds)."""
        buf = io.BytesIO()
        arrays: dict[str, Any] = dict(self._arrays(), meta=np.array(json.dumps(self.meta())))
        half = self.bank.astype(np.float16)
        if self.bank_offsets is not None and np.array_equal(half.astype(np.float32), self.bank):
            # a local bank keeps every taught part's rows (400 parts x 250 rows): taught as float16
            # values, stored as float16, read back as the same float32 values (same digest)
            arrays["bank"] = half
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    def digest(self) -> str:
        """SHA-256 of the model's arrays and settings (not of the archive's bytes, which carry
        timestamps): equal models have equal digests."""
        h = hashlib.sha256(json.dumps(self.meta(), sort_keys=True).encode())
        for a in self._arrays().values():  # the joint model's: bank, mean, components, scores
            arr = np.ascontiguousarray(a)
            h.update(repr((arr.dtype.str, arr.shape)).encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def heat_map(self, amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The localisation map at image resolution (h, w): :func:`pixel_map` with a blur of
        ``map_sigma`` patches (scale-free: the same share of the part whatever the image size).
        Chosen on the validation fold for pixel AUROC: defects on tiles span many patches, a wide
        blur joins their patches and quiets single odd ones."""
        sigma = self.map_sigma * shape[0] / max(1, amap.shape[0])
        return pixel_map(amap, shape, sigma=sigma)

    def display_map(self, amap: np.ndarray, cover: np.ndarray | None = None) -> np.ndarray:
        """The per-patch map the station shows and cuts findings from: each ring of patches by
        distance from the inspected region's side (:func:`side_rings`; ``cover``: the inspected share
        of each patch, None: the whole image) taken to the inner ring's level and spread, as the
        taught good images' held-out maps have them (``edge_norm``). Inner patches keep their values,
        so the threshold keeps its meaning; the verdict's score never uses this map. A model without
        ``edge_norm`` returns the map as it is."""
        if not self.edge_norm:
            return amap
        mu = np.asarray(self.edge_norm[:EDGE_RINGS], np.float32)
        sd = np.asarray(self.edge_norm[EDGE_RINGS:], np.float32)
        ring = side_rings(amap.shape, cover)
        inner = EDGE_RINGS - 1
        return (mu[inner] + sd[inner] * (amap - mu[ring]) / sd[ring]).astype(np.float32)

    def save(self, path: Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "good-set model") -> GoodSetModel:
        """A model from :meth:`to_bytes`'s archive; :class:`CalibrationError` when it is not one, its
        format tag is another (e.g. a newer version) or it is corrupt."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise CalibrationError(f"{source}: not a good-set model of format {FORMAT!r} "
                                           f"({meta.get('format')!r})")
                bank = z["bank"].astype(np.float32)
                mean = z["mean"].astype(np.float32)
                components = z["components"].astype(np.float32)
                scales: list[ScaleBank] = []
                for k, (lo, hi, mu, sd) in enumerate(meta.get("scales", [])):
                    arrays = (mean, components, bank) if k == 0 else (
                        z[f"mean_{k}"].astype(np.float32), z[f"components_{k}"].astype(np.float32),
                        z[f"bank_{k}"].astype(np.float32))
                    scales.append(ScaleBank(int(lo), int(hi), *arrays, mu=float(mu), sd=float(sd)))
                tile = None
                bank_knn, offsets = 0, None
                if "tile" in meta:
                    lo, hi, k, mu, scale = meta["tile"][:5]
                    n = len(meta["tile"])
                    prior_k = int(meta["tile"][5]) if n >= 6 else 0
                    if n > 7 or (prior_k > 0) != ("tile_prior" in z.files) \
                            or (n == 7) != ("bank_offsets" in z.files) or (n == 6 and prior_k < 1):
                        raise CalibrationError(f"{source}: image-level settings {meta['tile']} do not fit "
                                               "its arrays (a newer version's model?)")
                    if n == 7:
                        bank_knn, offsets = int(meta["tile"][6]), z["bank_offsets"].astype(np.int64)
                    tile = TileBank(int(lo), int(hi), int(k), z["tile_center"].astype(np.float32),
                                    z["tile_spread"].astype(np.float32), z["tile_bank"].astype(np.float32),
                                    mu=float(mu), scale=float(scale),
                                    prior=z["tile_prior"].astype(np.float32) if "tile_prior" in z.files
                                    else None, prior_k=prior_k)
                return cls(bank, mean, components, float(meta["threshold"]),
                           float(meta["frr"]), int(meta["short_side"]), str(meta["extractor"]),
                           z["calibration_scores"], str(meta["contrast"]), int(meta["top_k"]),
                           float(meta.get("map_sigma", MAP_SIGMA)),
                           str(meta.get("threshold_rule", "empirical")), tuple(scales),
                           int(meta.get("feature_channels", 0)), tile, offsets, bank_knn,
                           tuple(sorted((str(k), float(v)) for k, v in meta.get("teach", {}).items())),
                           tuple(float(v) for v in meta.get("edge_norm", ())))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise CalibrationError(f"cannot read {source}: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> GoodSetModel:
        try:
            # read the bytes first: np.load leaves its file open when the archive is corrupt
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CalibrationError(f"cannot read good-set model {path}: {exc}") from exc
        return cls.from_bytes(data, source=f"good-set model {path}")


def _rows_of(rows: np.ndarray, offsets: np.ndarray, images: Sequence[int] | np.ndarray) -> np.ndarray:
    """The rows of the given taught images (``offsets``: image j's rows are rows[offsets[j]:offsets[j + 1]])."""
    return np.concatenate([rows[int(offsets[j]):int(offsets[j + 1])] for j in images])


def _distances(raw: np.ndarray, mean: np.ndarray, components: np.ndarray, bank: np.ndarray,
               extract: FeatureFn, bank_sq: np.ndarray | None = None) -> np.ndarray:
    """Nearest-bank distances of raw patch features, through the extractor's fast path if it has one."""
    fast: NearestFn | None = getattr(extract, "nearest", None)
    if fast is not None:
        return np.asarray(fast(raw, mean, components, bank), np.float32)
    return nearest_distances((raw - mean) @ components, bank, bank_sq)


def _slice_distances(raw: np.ndarray, sc: ScaleBank, extract: FeatureFn) -> np.ndarray:
    return _distances(np.ascontiguousarray(raw[:, sc.lo:sc.hi]), sc.mean, sc.components, sc.bank, extract,
                      sc._bank_sq)  # type: ignore[attr-defined]


def _combined(raw: np.ndarray, scales: Sequence[ScaleBank], extract: FeatureFn) -> np.ndarray:
    """Sum over the slices of (distance - mu) / sd: one anomaly per patch row of ``raw``."""
    return _sum_scaled([_slice_distances(raw, sc, extract) for sc in scales], scales)


def _sum_scaled(distances: Sequence[np.ndarray], scales: Sequence[ScaleBank]) -> np.ndarray:
    total = np.zeros(distances[0].shape, np.float32)
    for d, sc in zip(distances, scales, strict=True):
        total += (d - np.float32(sc.mu)) / np.float32(sc.sd)
    return total


def side_rings(map_shape: tuple[int, int], cover: np.ndarray | None = None) -> np.ndarray:
    """Every patch's ring (0 .. EDGE_RINGS - 1): its distance in patches (chessboard) from the
    nearest patch outside the inspected region (``cover`` < 0.5) or beyond the map's side, less one,
    at most EDGE_RINGS - 1. Patches outside the region get ring 0."""
    h, w = int(map_shape[0]), int(map_shape[1])
    inside = np.ones((h, w), np.uint8) if cover is None else (np.asarray(cover) >= 0.5).astype(np.uint8)
    padded = np.pad(inside, 1)  # the map's side counts as outside
    dist = cv2.distanceTransform(padded, cv2.DIST_C, 3)[1:-1, 1:-1]
    return np.clip(dist.astype(np.int64) - 1, 0, EDGE_RINGS - 1)


def side_ring_levels(maps: Sequence[np.ndarray], covers: Sequence[np.ndarray | None]) -> tuple[float, ...]:
    """``GoodSetModel.edge_norm`` from good images' held-out patch maps: every ring's mean, then
    every ring's spread; empty when a ring has fewer than two patches or no spread (too few or too
    small images to say)."""
    parts: list[list[np.ndarray]] = [[] for _ in range(EDGE_RINGS)]
    for m, c in zip(maps, covers, strict=True):
        ring = side_rings(m.shape, c)
        inside = np.ones(m.shape, bool) if c is None else np.asarray(c) >= 0.5
        for r in range(EDGE_RINGS):
            parts[r].append(m[(ring == r) & inside].astype(np.float64))
    sums = [np.concatenate(p) if p else np.zeros(0) for p in parts]
    if any(v.size < 2 or float(v.std()) <= 1e-9 for v in sums):
        return ()
    return tuple(float(v.mean()) for v in sums) + tuple(float(v.std()) for v in sums)


def patch_cover(inspect: np.ndarray, map_shape: tuple[int, int]) -> np.ndarray:
    """The inspected share of each patch of a feature map (h, w) covering the whole image, from a
    mask at image resolution (> 0 inspected). Teaching and the good-set detector both use it, so
    taught and inspected parts pool the same patches."""
    return cv2.resize((np.asarray(inspect) > 0).astype(np.float32), (int(map_shape[1]), int(map_shape[0])),
                      interpolation=cv2.INTER_AREA)


def _top_k_mean(d: np.ndarray, top_k: int) -> float:
    flat = d.ravel()
    k = min(max(1, top_k), flat.size)
    return float(np.partition(flat, flat.size - k)[flat.size - k:].mean())


def teach(images: Sequence[np.ndarray], extract: FeatureFn, *, extractor: str, short_side: int = 224,
          bank_size: int = 5000, dims: int = 64, frr: float = 0.01, calibration_share: float = 0.1,
          folds: int = 0, seed: int = 0, max_patches: int = 1_000_000, contrast: str = "percentile",
          top_k: int = 50, threshold_rule: str = "empirical",
          scales: Sequence[tuple[int, int]] | None = None, progress: bool = False,
          held_out: list[tuple[int, float]] | None = None, tile_knn: int = 0,
          inspect: np.ndarray | None = None, tile_prior: float = 0.0,
          tile_prior_knn: int = TILE_PRIOR_KNN, tile_weight: float = TILE_WEIGHT,
          highlights: float = 0.0, bank_knn: int = 0,
          tile_rows: int = TILE_ROWS, groups: Sequence[object] | None = None,
          look_alikes: list[tuple[int, int, float]] | None = None) -> GoodSetModel:
    """Teach from good images: PCA to ``dims`` and a coreset bank of ``bank_size`` patches; the
    threshold from scores of good images the bank did not see, at false-reject rate ``frr``.

    Calibration: with ``folds`` >= 2, k-fold: every good image is scored by a bank taught from the
    other folds, and the final bank is taught from all of them (slower, but every good image gives
    a calibration score); otherwise a seeded ``calibration_share`` of the images is held out of the
    bank and scored. The threshold comes from those scores by ``threshold_rule``
    (:func:`threshold_for`). The coreset is chosen among at most ``max_patches`` patches (a seeded
    random sample). ``scales``: channel slices (lo, hi), e.g. :data:`LITE0_BLOCKS`, each with its
    own projection and bank (see :class:`GoodSetModel`); None: one bank of all channels.
    ``progress`` prints progress bars to stderr. ``held_out``, when given, receives (index in
    ``images``, calibration score) of every held-out image, in the order of ``calibration_scores``.
    ``tile_knn`` >= 1 adds the image-level term (:class:`TileBank`, over that many nearest taught
    images; channels :func:`tile_channels_for`), scaled by the held-out scores as the patch
    banks are calibrated (``tile_weight`` x the patch scores' held-out spread per unit of its
    own); with k-fold calibration its held-out distances are leave-one-out among all taught
    images (each to its nearest *other* taught images); the patch banks are the same with or
    without it. ``inspect`` (a mask
    at image resolution, > 0 inspected: the recipe's ROI without its ignore masks) limits the
    image-level descriptors to the patches the station pools at inspection (half inspected or
    more), so that taught and inspected parts are described alike. ``tile_prior`` > 0 (with the
    image-level term and k-fold calibration only, else not used): that share of the nearest taught
    images' held-out scores (above their mean) is taken off a part's score (:class:`TileBank`); the
    calibration scores are adjusted alike, each image's from its nearest other taught images;
    ``tile_prior_knn``: how many nearest taught images. ``highlights`` > 0: every taught image also
    enters the patch pool over-lit (:func:`brighten_to_clip`, a seeded share of its pixels from
    :data:`HIGHLIGHT_MIN` to ``highlights`` saturated; never in a bank that scores the image itself
    for calibration); the image-level descriptors stay the images' own.

    ``bank_knn`` >= 1 (needs ``tile_knn`` and one bank of all channels): a local bank instead of the
    coreset of all taught patches. Every taught image keeps ``tile_rows`` rows (a coreset of its
    projected patches and its over-lit copy's), and a part is compared with the rows of its
    ``bank_knn`` nearest taught images (:meth:`GoodSetModel.local_bank`). Calibration is then
    leave-one-out: every taught image is scored against its ``bank_knn`` nearest *other* taught
    images, as an inspected part meets them (``folds``, ``calibration_share``, ``bank_size`` and
    ``max_patches`` are not used; the prior applies as with k-fold calibration).

    ``groups`` (one label per image; k-fold or local calibration only): images of one physical part
    (the same part imaged twice, or under other light) share a label. Calibration then keeps them
    together: a k-fold calibration fold takes whole groups, and leave-one-out leaves out the whole
    group, so no image is calibrated against another image of its own part (which would score it
    lower than a new part, and set the threshold too low).

    ``look_alikes`` (a local bank only), when given, receives (index in ``images``, index of its
    look-alike, ratio) for every taught image whose patch score against one of its ``bank_knn``
    nearest taught images (other parts only, as calibrated) is below :data:`LOOK_ALIKE_RATIO` x
    the median of those scores, and that image's own likewise, lowest ratio first: undeclared images
    of one part (the same part imaged twice, under another light), which make the threshold too low
    for new parts unless ``groups`` names them. The model does not change."""
    n = len(images)
    if n < 2:
        raise CalibrationError(f"need at least 2 good images to teach, got {n}")
    if threshold_rule not in THRESHOLD_RULES:
        raise CalibrationError(f"threshold rule must be one of {THRESHOLD_RULES}, got {threshold_rule!r}")
    if folds >= 2 and n < folds:
        raise CalibrationError(f"{folds}-fold calibration needs at least {folds} good images, got {n}")
    if tile_knn < 0:
        raise CalibrationError(f"tile_knn must be 0 (off) or more, got {tile_knn}")
    if not (math.isfinite(tile_prior) and 0 <= tile_prior <= 1):
        raise CalibrationError(f"tile_prior must be within 0 (off) .. 1, got {tile_prior}")
    if tile_prior_knn < 1:
        raise CalibrationError(f"tile_prior_knn must be 1 or more, got {tile_prior_knn}")
    if not (math.isfinite(highlights) and 0 <= highlights < 1):
        raise CalibrationError(f"highlights must be a share of pixels within 0 (off) .. 1, got {highlights}")
    local = bank_knn >= 1
    if groups is not None and (len(groups) != n or (folds < 2 and not local)):
        raise CalibrationError(f"groups need one label per image ({len(groups)} for {n}) and k-fold or "
                               "local calibration")
    if bank_knn < 0 or (local and (tile_knn < 1 or scales is not None or tile_rows < 1)):
        raise CalibrationError(f"a local bank (bank_knn {bank_knn}) needs the image-level descriptors "
                               f"(tile_knn >= 1, got {tile_knn}), one bank of all channels and tile_rows >= 1 "
                               f"(got {tile_rows})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if folds >= 2 or local:
        fit_idx, cal_idx = order, np.zeros(0, np.int64)
    else:
        n_cal = min(n - 1, max(1, round(n * calibration_share)))
        cal_idx, fit_idx = order[:n_cal], order[n_cal:]
    # per fit image (fit order): the rows of all fit images of its part (``groups``; else itself)
    label = [groups[int(i)] for i in fit_idx] if groups is not None else list(range(len(fit_idx)))
    rows_of: dict[object, list[int]] = {}
    for k, g in enumerate(label):
        rows_of.setdefault(g, []).append(k)
    same = [np.array(rows_of[g], np.int64) for g in label]
    group_rank = {g: r for r, g in enumerate(rows_of)}  # in order of first appearance (seeded order)
    feats = []
    map_shapes: list[tuple[int, int]] = []
    bar = Progress(len(fit_idx), "teach: features", enabled=progress)
    for i in fit_idx:
        f = extract(prepare_image(images[int(i)], short_side, contrast))
        feats.append(np.ascontiguousarray(f.reshape(-1, f.shape[-1]), np.float32))
        map_shapes.append((int(f.shape[0]), int(f.shape[1])))
        bar.update()
    extra: list[np.ndarray] = []  # per fit image: its over-lit copy's patches (``highlights``)
    if highlights > 0:
        shares = np.random.default_rng([seed, 1]).uniform(min(HIGHLIGHT_MIN, highlights), highlights, len(fit_idx))
        bar = Progress(len(fit_idx), "teach: over-lit copies", enabled=progress)
        for i, share in zip(fit_idx, shares, strict=True):
            f = extract(prepare_image(brighten_to_clip(images[int(i)], float(share)), short_side, contrast))
            extra.append(np.ascontiguousarray(f.reshape(-1, f.shape[-1]), np.float32))
            bar.update()
    channels = feats[0].shape[1]
    slices = [(0, channels)] if scales is None else [(int(lo), int(hi)) for lo, hi in scales]
    if not slices or any(not (0 <= lo < hi <= channels) for lo, hi in slices):
        raise CalibrationError(f"feature slices {slices} do not fit the extractor's {channels} channels")
    tile_lo, tile_hi = tile_channels_for(channels)
    descriptors = [tile_descriptor(f, tile_lo, tile_hi, None if inspect is None else patch_cover(inspect, shape))
                   for f, shape in zip(feats, map_shapes, strict=True)] if tile_knn else []
    every = np.concatenate(feats)
    proj = [fit_projection(np.ascontiguousarray(every[:, lo:hi]), min(dims, hi - lo), seed=seed)
            for lo, hi in slices]
    del every

    def banks_of(members: Sequence[int], label: str) -> list[ScaleBank]:
        pool = np.concatenate([feats[k] for k in members] + [extra[k] for k in members if extra])
        if pool.shape[0] > max_patches:
            pool = pool[rng.choice(pool.shape[0], max_patches, replace=False)]
        out = []
        for (lo, hi), (mean, comp) in zip(slices, proj, strict=True):
            sub = (pool[:, lo:hi] - mean) @ comp
            tag = label if len(slices) == 1 else f"{label}, channels {lo}-{hi - 1}"
            b = Progress(min(bank_size, sub.shape[0]), tag, enabled=progress)
            out.append(ScaleBank(lo, hi, mean, comp,
                                 np.ascontiguousarray(sub[coreset(sub, bank_size, seed=seed, on_step=b.update)])))
        return out

    def distances(raw: np.ndarray, banks: Sequence[ScaleBank]) -> list[np.ndarray]:
        return [_slice_distances(raw, sc, extract) for sc in banks]

    held: list[list[np.ndarray]] = []  # per held-out image, per slice: patch distances
    held_index: list[int] = []  # the held-out images' indices in ``images``
    held_shape: list[tuple[int, int]] = []  # per held-out image: its patch map's (h, w)
    held_tile: list[float] = []  # per held-out image: its image-level distance (with tile_knn)
    tiles = TileBank.of(descriptors, tile_lo, tile_hi, tile_knn) if tile_knn else None
    offsets = None
    if local and tiles is not None:
        mean, comp = proj[0]
        kept: list[np.ndarray] = []
        bar = Progress(len(fit_idx), "teach: rows per part", enabled=progress)
        for k in range(len(fit_idx)):
            x = np.concatenate([feats[k], extra[k]]) if extra else feats[k]
            x = np.ascontiguousarray((x - mean) @ comp, np.float32)
            kept.append(np.ascontiguousarray(x[coreset(x, tile_rows, seed=seed + k)]) if x.shape[0] > tile_rows else x)
            bar.update()
        offsets = np.concatenate([[0], np.cumsum([r.shape[0] for r in kept])]).astype(np.int64)
        rows = np.concatenate(kept)
        if float(np.abs(rows).max(initial=0.0)) < 6e4:  # float16 values (the model file stores them
            rows = rows.astype(np.float16).astype(np.float32)  # so: half the size; distances ~1e-3 off)
        final = [ScaleBank(0, channels, mean, comp, rows)]
        rows_sq = final[0]._bank_sq  # type: ignore[attr-defined]
        bar = Progress(len(fit_idx), "teach: calibration (leave-one-out)", enabled=progress)
        alike: dict[int, tuple[int, float]] = {}  # fit row: (its closest of the nearest parts, ratio)
        for k in range(len(fit_idx)):
            # the part's bank_knn nearest *other* taught parts: what an inspected part meets, less itself
            idx, d = tiles.nearest(descriptors[k], exclude=same[k], k=max(bank_knn, tile_knn))
            near = idx[:bank_knn]
            held.append([_distances(feats[k], mean, comp, _rows_of(final[0].bank, offsets, near), extract,
                                    _rows_of(rows_sq, offsets, near))])
            held_index.append(int(fit_idx[k]))
            held_shape.append(map_shapes[k])
            held_tile.append(float(d[:tile_knn].mean()))
            if look_alikes is not None and near.size >= 3:
                proj_k = (feats[k] - mean) @ comp
                each = np.array([_top_k_mean(nearest_distances(proj_k, _rows_of(final[0].bank, offsets, [j])), top_k)
                                 for j in near])
                alike[k] = (int(near[int(np.argmin(each))]), float(each.min() / max(float(np.median(each)), 1e-12)))
            bar.update()
        if look_alikes is not None:  # an image and its look-alike both far closer to another image
            # than to the rest (a chance pair rarely is: MTD one image per tile 1.6%, every light 48%)
            look_alikes.extend(sorted(((int(fit_idx[k]), int(fit_idx[j]), r) for k, (j, r) in alike.items()
                                       if r < LOOK_ALIKE_RATIO and alike.get(j, (0, 1.0))[1] < LOOK_ALIKE_RATIO),
                                      key=lambda t: t[2]))
    elif folds >= 2:
        fold_of = np.array([group_rank[g] % folds for g in label])  # whole parts per fold
        for fold in range(folds):
            members = [k for k in range(len(fit_idx)) if fold_of[k] != fold]
            fold_banks = banks_of(members, f"teach: coreset, fold {fold + 1}/{folds}")
            for k in range(len(fit_idx)):
                if fold_of[k] == fold:
                    held.append(distances(feats[k], fold_banks))
                    held_index.append(int(fit_idx[k]))
                    held_shape.append(map_shapes[k])
                    if tiles is not None:
                        # leave-one-out among all taught images, as an inspected part meets them
                        # all: a fold's (k-1)/k of them are farther apart, and the term's held-out
                        # mean would then sit above what inspected good parts score
                        held_tile.append(float(tiles.nearest(descriptors[k], exclude=same[k])[1].mean()))
    if not local:
        final = banks_of(range(len(fit_idx)), "teach: coreset")
    if folds < 2 and not local:
        bar = Progress(len(cal_idx), "teach: calibration", enabled=progress)
        for i in cal_idx:
            f = extract(prepare_image(images[int(i)], short_side, contrast))
            held.append(distances(f.reshape(-1, f.shape[-1]), final))
            held_index.append(int(i))
            held_shape.append((int(f.shape[0]), int(f.shape[1])))
            if tiles is not None:
                cover = None if inspect is None else patch_cover(inspect, f.shape[:2])
                held_tile.append(tiles.distance(tile_descriptor(f, tile_lo, tile_hi, cover)))
            bar.update()
    if scales is not None:  # each slice's distances in units of its held-out image scores' spread
        for k, sc in enumerate(final):
            s = np.array([_top_k_mean(h[k], top_k) for h in held])
            sd = float(s.std()) if s.size > 1 else 0.0
            final[k] = replace(sc, mu=float(s.mean()), sd=sd if sd > 1e-6 * max(1.0, abs(float(s.mean()))) else 1.0)
    cal_scores = np.array([_top_k_mean(_sum_scaled(h, final), top_k) for h in held], np.float64)
    held_maps = [_sum_scaled(h, final).reshape(shape) for h, shape in zip(held, held_shape, strict=True)]
    edge_norm = side_ring_levels(held_maps, [None if inspect is None else patch_cover(inspect, shape)
                                             for shape in held_shape])
    if tiles is not None:  # the image-level term in patch-score units, 0 at its held-out mean
        t = np.array(held_tile, np.float64)
        t_sd, p_sd = (float(t.std()), float(cal_scores.std())) if t.size > 1 else (0.0, 0.0)
        scale = tile_weight * p_sd / t_sd if t_sd > 1e-9 and p_sd > 0 else 0.0
        tiles = replace(tiles, mu=float(t.mean()), scale=scale)
        cal_scores = cal_scores + scale * (t - float(t.mean()))
        if tile_prior > 0 and (folds >= 2 or local):  # every taught image has a held-out score: the prior
            row_of = {int(i): r for r, i in enumerate(fit_idx)}
            rows = np.array([row_of[i] for i in held_index])
            own = np.empty(len(fit_idx), np.float64)
            own[rows] = cal_scores
            prior = (tile_prior * (own - own.mean())).astype(np.float32)
            tiles = replace(tiles, prior=prior, prior_k=tile_prior_knn)
            cal_scores = cal_scores - np.array(
                [float(prior[tiles.nearest(descriptors[r], exclude=same[r], k=tile_prior_knn)[0]].mean())
                 for r in rows])
        elif tile_prior > 0:
            logger.info("the image-level prior needs k-fold calibration (folds >= 2): not used")
    if held_out is not None:
        held_out.extend(zip(held_index, (float(v) for v in cal_scores), strict=True))
    if cal_scores.size * frr < 1.0:
        logger.warning("only %d calibration score(s): the threshold at a %.1f%% false-reject rate is "
                       "their largest; the real false-reject rate may differ widely (more good images, "
                       "or k-fold calibration, give more scores)", cal_scores.size, 100 * frr)
    first = final[0]
    logger.info("taught from %d good images (%d bank(s) %d x %d), threshold from %d calibration scores",
                len(fit_idx), len(final), first.bank.shape[0], first.bank.shape[1], cal_scores.size)
    return GoodSetModel(first.bank, first.mean, first.components,
                        threshold_for(cal_scores, frr, threshold_rule), frr, short_side, extractor,
                        cal_scores, contrast, top_k, threshold_rule=threshold_rule,
                        scales=tuple(final) if scales is not None else (),
                        feature_channels=channels if scales is not None else 0, tile=tiles,
                        bank_offsets=offsets, bank_knn=bank_knn if local else 0,
                        taught=_recorded(tiles, local, tile_weight=tile_weight, tile_prior=tile_prior,
                                         highlights=highlights, max_patches=max_patches),
                        edge_norm=edge_norm)


def _applied(tiles: TileBank | None, local: bool) -> dict[str, bool]:
    """Which of :data:`UNRECORDED_TEACH_SETTINGS` applied to a model with this image-level bank and
    bank layout (the term's weight needs the term, the prior's share a prior, the pool a global bank)."""
    return {"tile_weight": tiles is not None, "tile_prior": tiles is not None and tiles.prior is not None,
            "highlights": True, "max_patches": not local}


def _recorded(tiles: TileBank | None, local: bool, **settings: float) -> tuple[tuple[str, float], ...]:
    """The teach settings a model records: those that applied to it and differ from
    :data:`UNRECORDED_TEACH_SETTINGS`."""
    applied = _applied(tiles, local)
    return tuple(sorted((k, float(v)) for k, v in settings.items()
                        if applied[k] and float(v) != UNRECORDED_TEACH_SETTINGS[k]))
