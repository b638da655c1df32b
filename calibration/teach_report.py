"""What a teaching run produced, for people (the summary) and for the bundle (thresholds.json, plot)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from calibration.bundle import BundleContent
from calibration.camera import CameraCalibration
from calibration.part_report import describe_box
from calibration.plot import png_bytes, score_plot
from calibration.scale import ScaleCalibration
from calibration.teach import TeachResult

EXPLANATION = (
    "Each good part was scored against a model taught without it (cross-validation): its score is the "
    "smallest band multiplier k at which the station passes it. The recipe's k is set so that the "
    "expected false-reject rate is the target; 'guaranteed' is what the number of parts can prove "
    "(order statistics, distribution-free), 'predicted' comes from the fitted Gumbel tail."
)


def thresholds_data(result: TeachResult) -> dict[str, Any]:
    scores = result.scores
    finite = scores[np.isfinite(scores)]
    edges = np.linspace(0.0, max([result.threshold.threshold, *finite.tolist(), 1e-3]) * 1.15, 31)
    counts, _ = np.histogram(finite, bins=edges)
    return {
        "quantity": "band multiplier k",
        "explanation": EXPLANATION,
        "choice": result.threshold.to_dict(),
        "scores": [
            {
                "name": p.name,
                "score": p.score if p.score is None or math.isfinite(p.score) else "inf",
                "fold": p.fold,
            }
            for p in result.good
        ],
        "histogram": {"edges": [round(float(e), 5) for e in edges], "counts": counts.tolist()},
        "parts": [p.to_dict() for p in result.parts],
    }


def bundle_content(
    result: TeachResult,
    *,
    camera: CameraCalibration | None = None,
    scale: ScaleCalibration | None = None,
    undistort: bool = False,
) -> BundleContent:
    v = result.variation
    plot = score_plot(
        result.scores, result.threshold, title=f"{result.recipe.name}: held-out good-part scores"
    )
    teach = {
        "parts_seen": len(result.parts),
        "parts_used": len(result.good),
        "set_aside": {p.name: f"{p.status}: {p.reason}" for p in result.set_aside},
        "roi": result.roi_note,
        "timings_s": {k: round(t, 3) for k, t in result.timings_s.items()},
    }
    return BundleContent(
        variation={"mean": v.mean, "spread_dark": v.spread_dark, "spread_bright": v.spread_bright},
        variation_params={**asdict(result.variation_params), "count": v.count},
        thresholds=thresholds_data(result),
        plot_png=png_bytes(plot),
        camera=camera,
        scale=scale,
        undistort=undistort,
        teach=teach,
    )


def summary(result: TeachResult) -> str:
    c = result.threshold
    r = result.recipe
    lines = [
        f"recipe          {r.name} (number {r.number}), {r.shape[1]}x{r.shape[0]} px",
        f"good parts      {len(result.good)} used, {len(result.set_aside)} set aside, of {len(result.parts)}",
    ]
    for p in result.set_aside:
        lines.append(f"  set aside     {p.name}: {p.status}: {p.reason}")
    for p in result.highest(3):
        where = describe_box(p.worst_box)
        lines.append(
            f"  highest       {p.name}: k {p.score:.3f}" + (f", fails on {where} below that" if where else "")
        )
    scores = result.scores
    finite = scores[np.isfinite(scores)]
    if finite.size:
        lines.append(
            f"scores (k)      median {np.median(finite):.3f}, 90% {np.quantile(finite, 0.9):.3f}, "
            f"max {finite.max():.3f}"
            + (f", {scores.size - finite.size} never pass" if finite.size < scores.size else "")
        )
    lines += [
        f"threshold       k = {c.threshold:.3f} spreads ({c.method}) for a target FRR of {c.target_frr:.3%}",
        f"  observed      {c.exceed}/{c.n} held-out good parts rejected at k",
        f"  guaranteed    FRR <= {c.frr_guaranteed:.2%} at {c.confidence:.0%} confidence by {c.n} parts "
        f"({c.parts_needed} parts would guarantee {c.target_frr:.2%})",
        f"  predicted     FRR {c.frr_predicted:.3%} from the Gumbel tail fit",
        f"band            max({result.variation_params.abs_dark:g} grey levels, k x spread) beyond the "
        f"reference, then {r.detect.threshold:g} x contrast",
        f"ROI             {r.roi_rect}: {result.roi_note}",
    ]
    for note in c.notes:
        lines.append(f"note            {note}")
    if r.mm_per_px:
        lines.append(f"scale           {r.mm_per_px:.5f} mm/px")
    t = result.timings_s
    lines.append("time            " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    return "\n".join(lines)
