"""``inspection bench teach``: how long teaching takes, and whether its threshold keeps its promise.

1. Teach from N good production-like parts (:mod:`calibration.production`: shift, rotation, light
   gain/offset and gradient, focus, noise) with defective parts planted in the set; time it (wall
   and CPU seconds, one thread).
2. For each target false-reject rate, set the threshold from the taught scores, inspect M new good
   parts and D new defective parts through the station's pipeline: observed FRR (with its 95%
   upper bound) and detection rate, next to a single-golden-image recipe at the default threshold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.production import Variation, production_part
from calibration.teach import TeachParams, make_recipe, teach
from calibration.threshold import choose_threshold, frr_upper_bound
from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.result import ResultCode

KINDS = (DefectClass.MISSING, DefectClass.EXTRA, DefectClass.CRACK, DefectClass.DEFORMATION)


@dataclass(frozen=True)
class TeachBenchConfig:
    out: Path
    size: int = 640
    parts: int = 50
    planted: int = 1
    test: int = 500
    defective: int = 100
    defect_size: float = 8.0
    targets: tuple[float, ...] = (0.001, 0.01, 0.05)
    design: int = 7
    threads: int = 1
    progress: bool = True
    variation: Variation = field(default_factory=Variation)


def run(cfg: TeachBenchConfig) -> dict[str, Any]:
    cv2.setNumThreads(max(1, cfg.threads))
    shape = (cfg.size, cfg.size)
    images: list[tuple[str, np.ndarray]] = [
        (f"good{i:03d}", production_part(shape, design=cfg.design, index=i, variation=cfg.variation).image)
        for i in range(cfg.parts)
    ]
    for j in range(cfg.planted):
        img = production_part(
            shape,
            design=cfg.design,
            index=5000 + j,
            variation=cfg.variation,
            defects=(KINDS[j % len(KINDS)],),
            defect_size=cfg.defect_size,
        ).image
        images.insert(
            (j + 1) * len(images) // (cfg.planted + 1), (f"planted{j}_{KINDS[j % len(KINDS)].label}", img)
        )
    params = TeachParams(name="bench", detect=DetectParams(material="bright"), target_frr=cfg.targets[0])
    wall, cpu = time.perf_counter(), time.process_time()
    taught = teach(list(images), params, progress=cfg.progress)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    roi = taught.recipe.roi_rect
    recipes = {}
    choices = {}
    for target in cfg.targets:
        c = choose_threshold(
            taught.scores,
            target,
            confidence=params.confidence,
            lowest=params.lowest_k,
            highest=params.highest_k,
        )
        choices[target] = c
        recipes[f"taught FRR {target:g}"] = prepare(make_recipe(taught.variation, params, roi, c.threshold))
    baseline = Recipe("golden", images[0][1], detect=DetectParams(material="bright"), roi=roi)
    recipes["single golden image, default threshold"] = prepare(baseline)
    rejected = dict.fromkeys(recipes, 0)
    codes: dict[str, dict[str, int]] = {k: {} for k in recipes}
    detected = dict.fromkeys(recipes, 0)
    ms: dict[str, list[float]] = {k: [] for k in recipes}
    bar = Progress(cfg.test + cfg.defective, "inspecting new parts", enabled=cfg.progress)
    for i in range(cfg.test + cfg.defective):
        bad = i >= cfg.test
        kind = (KINDS[i % len(KINDS)],) if bad else ()
        img = production_part(
            shape,
            design=cfg.design,
            index=10_000 + i,
            variation=cfg.variation,
            defects=kind,
            defect_size=cfg.defect_size,
        ).image
        for name, prepared in recipes.items():
            t0 = time.perf_counter()
            r = inspect(prepared, img)
            ms[name].append((time.perf_counter() - t0) * 1e3)
            if bad:
                detected[name] += r.code != ResultCode.OK
            else:
                rejected[name] += r.code != ResultCode.OK
                codes[name][r.code.name] = codes[name].get(r.code.name, 0) + 1
        bar.update()
    rows = []
    for name in recipes:
        tgt = next((t for t in cfg.targets if name == f"taught FRR {t:g}"), None)
        ch = choices.get(tgt) if tgt is not None else None
        rows.append(
            {
                "recipe": name,
                "target_frr": tgt,
                "k": None if ch is None else ch.threshold,
                "method": None if ch is None else ch.method,
                "predicted_frr": None if ch is None else ch.frr_predicted,
                "guaranteed_frr": None if ch is None else ch.frr_guaranteed,
                "good_rejected": rejected[name],
                "good_total": cfg.test,
                "frr": rejected[name] / max(1, cfg.test),
                "frr_upper95": frr_upper_bound(rejected[name], cfg.test, 0.95),
                "codes": codes[name],
                "defective_detected": detected[name],
                "defective_total": cfg.defective,
                "detection": detected[name] / max(1, cfg.defective),
                "inspect_ms_mean": float(np.mean(ms[name])),
            }
        )
    summary = {
        "config": {
            "size": cfg.size,
            "parts": cfg.parts,
            "planted": cfg.planted,
            "test": cfg.test,
            "defective": cfg.defective,
            "defect_size": cfg.defect_size,
            "design": cfg.design,
            "threads": cfg.threads,
            "variation": cfg.variation.__dict__,
        },
        "teach": {
            "wall_s": wall,
            "cpu_s": cpu,
            "stages_s": taught.timings_s,
            "used": len(taught.good),
            "set_aside": {p.name: f"{p.status}: {p.reason}" for p in taught.set_aside},
            "planted_caught": sum(p.name.startswith("planted") for p in taught.set_aside),
            "scores": taught.scores.tolist(),
            "fit": taught.threshold.fit,
        },
        "rows": rows,
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def format_table(s: dict[str, Any]) -> str:
    t = s["teach"]
    c = s["config"]
    lines = [
        f"teaching {c['parts']} good {c['size']}x{c['size']} parts + {c['planted']} planted defective: "
        f"{t['wall_s']:.2f} s wall, {t['cpu_s']:.2f} s CPU (1 thread); "
        + ", ".join(f"{k} {v:.2f}" for k, v in t["stages_s"].items()),
        f"set aside: {len(t['set_aside'])} (planted caught {t['planted_caught']}/{c['planted']})",
    ]
    for name, why in t["set_aside"].items():
        lines.append(f"  {name}: {why[:150]}")
    lines.append("")
    head = (
        f"{'recipe':<40} {'k':>6} {'pred FRR':>9} {'guar FRR':>9} {'FRR obs':>14} {'<=95%':>7} "
        f"{'detect':>12} {'ms':>6}"
    )
    lines += [head, "-" * len(head)]
    for r in s["rows"]:
        k = "" if r["k"] is None else f"{r['k']:.3f}"
        pred = "" if r["predicted_frr"] is None else f"{r['predicted_frr']:.3%}"
        guar = "" if r["guaranteed_frr"] is None else f"{r['guaranteed_frr']:.2%}"
        det = (
            "-"
            if not r["defective_total"]
            else f"{r['defective_detected']}/{r['defective_total']} {r['detection']:.0%}"
        )
        lines.append(
            f"{r['recipe']:<40} {k:>6} {pred:>9} {guar:>9} "
            f"{r['good_rejected']:>4}/{r['good_total']:<4} {r['frr']:>5.1%} {r['frr_upper95']:>6.2%} "
            f"{det:>12} {r['inspect_ms_mean']:>6.1f}"
        )
    return "\n".join(lines)
