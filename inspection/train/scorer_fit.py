"""Fitting the logistic confidence model (:class:`inspection.vision.scorer.Scorer`) with numpy."""

from __future__ import annotations

import numpy as np

from inspection.vision.scorer import Scorer


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 50,
                 name: str = "fitted") -> Scorer:
    """L2-regularised logistic regression by Newton's method on standardised features."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = l2 * len(x) * np.eye(z.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (p - y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + reg
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Scorer(tuple(float(v) for v in w[:-1]), float(w[-1]), tuple(float(v) for v in mean),
                  tuple(float(v) for v in scale), name)
