"""Choosing a threshold from good parts only, at a target false-reject rate, and saying how sure.

Each held-out good part has a *score*: the lowest detection threshold at which it passes (inf when
it fails at every threshold, e.g. it cannot be aligned). A threshold t falsely rejects exactly the
good parts whose score exceeds t, so the false-reject rate (FRR) at t is the survival function of
the scores.

What N good parts can tell (distribution-free, order statistics): if k of N held-out scores exceed
t, the FRR is below the Clopper-Pearson upper bound at the chosen confidence. With k = 0 that is
``1 - (1 - confidence) ** (1 / N)`` (about 3/N at 95%: 50 parts guarantee 5.8%, not 0.1%); to
guarantee an FRR f with no exceedance one needs ``ln(1 - confidence) / ln(1 - f)`` parts (2995 for
0.1% at 95%). Targets below what the data can show are reached by extrapolation: the score of a
part is the largest of many pixel deviations, so its upper tail is fitted with a Gumbel
(extreme-value) distribution (L-moments); the threshold is the larger of the fitted quantile and
the empirical one, and the report says which figure is guaranteed and which is extrapolated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspection.errors import ConfigError

EULER = 0.5772156649015329


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(0, min(k, n) + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        )
    return min(1.0, total)


def frr_upper_bound(exceed: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen ``exceed`` times in ``n`` trials."""
    if n <= 0:
        return 1.0
    if exceed >= n:
        return 1.0
    if exceed == 0:
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    lo, hi = exceed / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if binom_cdf(exceed, n, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def parts_needed(target_frr: float, confidence: float = 0.95) -> int:
    """Good parts needed, none falsely rejected, to guarantee ``target_frr`` at ``confidence``."""
    return math.ceil(math.log(1.0 - confidence) / math.log1p(-target_frr))


@dataclass(frozen=True)
class GumbelFit:
    mu: float
    beta: float

    def quantile(self, p: float) -> float:
        return self.mu - self.beta * math.log(-math.log(p))

    def survival(self, x: float) -> float:
        if self.beta <= 0:
            return 0.0 if x >= self.mu else 1.0
        return -math.expm1(-math.exp(-(x - self.mu) / self.beta))


def fit_gumbel(values: np.ndarray) -> GumbelFit:
    """Gumbel (maxima) fit by L-moments: robust and unbiased for small samples."""
    x = np.sort(np.asarray(values, np.float64))
    n = x.size
    if n < 2:
        return GumbelFit(float(x[0]) if n else 0.0, 0.0)
    b0 = float(x.mean())
    b1 = float(np.sum(np.arange(n) / (n - 1) * x) / n)
    l2 = 2 * b1 - b0
    beta = max(0.0, l2 / math.log(2))
    return GumbelFit(b0 - EULER * beta, beta)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    target_frr: float
    confidence: float
    n: int  # held-out good parts scored
    exceed: int  # of them, falsely rejected at the threshold
    frr_observed: float
    frr_guaranteed: float  # upper bound at `confidence`, distribution-free
    frr_predicted: float  # from the Gumbel fit (extrapolation)
    parts_needed: int
    method: str  # "empirical" or "extrapolated"
    fit: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "target_frr": self.target_frr,
            "confidence": self.confidence,
            "n": self.n,
            "exceed": self.exceed,
            "frr_observed": self.frr_observed,
            "frr_guaranteed": self.frr_guaranteed,
            "frr_predicted": self.frr_predicted,
            "parts_needed": self.parts_needed,
            "method": self.method,
            "fit": dict(self.fit),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ThresholdChoice:
        return cls(
            float(d["threshold"]),
            float(d["target_frr"]),
            float(d["confidence"]),
            int(d["n"]),
            int(d["exceed"]),
            float(d["frr_observed"]),
            float(d["frr_guaranteed"]),
            float(d["frr_predicted"]),
            int(d["parts_needed"]),
            str(d["method"]),
            {k: float(v) for k, v in dict(d.get("fit") or {}).items()},
            tuple(d.get("notes") or ()),
        )


def quantile_upper(fit: GumbelFit, n: int, p: float, level: float, *, replicates: int = 400) -> float:
    """An upper confidence bound (``level``) of the fitted ``p``-quantile, by parametric bootstrap:
    ``n`` samples from the fit, refitted, ``replicates`` times. ``level`` 0.5 is the point estimate."""
    q = fit.quantile(p)
    if level <= 0.5 or n < 2 or fit.beta <= 0:
        return q
    rng = np.random.default_rng(12345)
    sims = rng.gumbel(fit.mu, fit.beta, (replicates, n))
    qs = np.array([fit_gumbel(row).quantile(p) for row in sims])
    return q + float(np.quantile(qs, level)) - float(np.median(qs))


def choose_threshold(
    scores: np.ndarray | list[float],
    target_frr: float,
    *,
    confidence: float = 0.95,
    lowest: float = 0.0,
    highest: float = math.inf,
    tail_confidence: float = 0.8,
) -> ThresholdChoice:
    """The threshold for ``target_frr`` from held-out good-part scores (inf = rejected at any
    threshold), clamped to [lowest, highest]. Where the target lies beyond the data, the threshold
    is the ``tail_confidence`` upper bound of the fitted quantile (few parts: a wider margin)."""
    if not (0.0 < target_frr < 1.0):
        raise ConfigError(f"must be in (0, 1), got {target_frr}", field="target_frr")
    if not (0.5 <= confidence < 1.0):
        raise ConfigError(f"must be in [0.5, 1), got {confidence}", field="confidence")
    s = np.asarray(scores, np.float64)
    n = s.size
    if n == 0:
        raise ConfigError("no held-out good part was scored", field="scores")
    finite = np.sort(s[np.isfinite(s)])
    if finite.size == 0:
        raise ConfigError("no held-out good part passes at any threshold", field="scores")
    notes = []
    allowed = math.floor(target_frr * n)  # exceedances the empirical quantile may leave
    keep = n - allowed  # scores that must be <= t: the smallest such t is the keep-th smallest score
    if keep <= finite.size:
        empirical = float(finite[keep - 1])
    else:
        empirical = float(finite[-1])
        notes.append(
            f"{n - finite.size} of {n} good parts are rejected whatever the threshold (not aligned, not "
            "completely seen): the target cannot be met until that is fixed"
        )
    fit = fit_gumbel(finite[finite > lowest]) if np.count_nonzero(finite > lowest) >= 5 else None
    t = empirical
    method = "empirical"
    t_point = None
    if fit is not None and fit.beta > 0:
        t_point = fit.quantile(1.0 - target_frr)
        t_fit = quantile_upper(fit, int(np.count_nonzero(finite > lowest)), 1.0 - target_frr, tail_confidence)
        if t_fit > t:
            t, method = t_fit, "extrapolated"
    elif finite.size and np.count_nonzero(finite > lowest) < 5:
        notes.append(f"most good parts pass at the lowest threshold {lowest:g}: the tail cannot be fitted")
    if t > highest:
        notes.append(
            f"the target needs a threshold of {t:.3f}, above the highest allowed {highest:g}: good parts "
            "vary too much (check the fixture, the light and the focus), or accept a higher FRR"
        )
    t = float(min(highest, max(lowest, t)))
    exceed = int(np.count_nonzero(s > t))
    guaranteed = frr_upper_bound(exceed, n, confidence)
    predicted = fit.survival(t) if fit is not None else exceed / n
    needed = parts_needed(target_frr, confidence)
    if guaranteed > target_frr:
        notes.append(
            f"{n} good parts can guarantee an FRR of {guaranteed:.2%} at {confidence:.0%} confidence, not "
            f"the {target_frr:.2%} asked; {needed} good parts with none rejected would"
        )
    return ThresholdChoice(
        t,
        target_frr,
        confidence,
        n,
        exceed,
        exceed / n,
        guaranteed,
        float(predicted),
        needed,
        method,
        {}
        if fit is None
        else {
            "mu": fit.mu,
            "beta": fit.beta,
            "quantile_point": t_point or 0.0,
            "tail_confidence": tail_confidence,
        },
        tuple(notes),
    )
