"""Memory bank of good patch features: coreset selection, projection, nearest-neighbour distances.

Pure numpy. :func:`coreset` keeps the bank small while every good patch stays close to some entry;
:func:`fit_projection` reduces the feature dimension (PCA) so that the nearest-neighbour search,
the dominant cost of scoring, is cheaper.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def coreset(features: np.ndarray, m: int, *, seed: int = 0, project: int = 64,
            on_step: Callable[[], None] | None = None) -> np.ndarray:
    """Indices of ``m`` rows chosen by greedy k-center (farthest-point) selection, on a seeded
    random projection to ``project`` dimensions for speed (as PatchCore does). ``on_step`` is
    called after each chosen row (progress output)."""
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
        if on_step:
            on_step()
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


def fit_projection(features: np.ndarray, dims: int, *, seed: int = 0,
                   sample: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """(mean (C,), components (C, dims)) of a PCA fitted on a seeded sample of ``features``.
    ``dims`` >= C gives the identity (no reduction)."""
    c = features.shape[1]
    mean = features.mean(0).astype(np.float32)
    if dims <= 0 or dims >= c:
        return mean, np.eye(c, dtype=np.float32)
    rng = np.random.default_rng(seed)
    x = features if features.shape[0] <= sample else features[rng.choice(features.shape[0], sample,
                                                                          replace=False)]
    _, _, vt = np.linalg.svd(x.astype(np.float64) - mean, full_matrices=False)
    return mean, np.ascontiguousarray(vt[:dims].T.astype(np.float32))
