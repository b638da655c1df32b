"""``inspection bench speed``: time per part of a detector against a naive absdiff baseline.

Interleaved in one run, one thread: per 640x640 DeepPCB-layout pair (from the folder) the whole
station path (prepare the golden, align, detect, decide) and a naive baseline (the same preparation
and alignment, then absolute difference, threshold, connected components, boxes; the absdiff of the
unaligned images alone is reported too); then a 5 MP part (2448x2048
synthetic board, moved by a few pixels, one planted defect) inspected against its prepared recipe.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.deeppcb_data import bench_recipe, load_pairs
from inspection.imageio import read_image
from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams
from inspection.result import ResultCode
from inspection.runtime import configure
from inspection.vision import board_synth as bs
from inspection.vision.detector import Detector
from inspection.vision.geometry import rigid_matrix


@dataclass(frozen=True)
class SpeedConfig:
    folder: Path
    out: Path
    pairs: int = 200
    large_parts: int = 10
    threads: int = 1
    progress: bool = True


def naive_absdiff(golden: np.ndarray, part: np.ndarray, threshold: int = 64) -> list[tuple[int, int, int, int]]:
    """The baseline: |part - golden| > threshold, connected components, their boxes (no alignment)."""
    diff = cv2.absdiff(golden, part)
    _, binary = cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    return [(int(s[0]), int(s[1]), int(s[0] + s[2]), int(s[1] + s[3])) for s in stats[1:n] if s[4] >= 8]


def aligned_absdiff(golden: np.ndarray, part: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The baseline a station needs at least: prepare the golden, align the part (the same alignment
    as the station), then :func:`naive_absdiff` in the reference frame."""
    from inspection.pipeline import _align
    from inspection.vision.change import warp_to_reference

    prepared = prepare(bench_recipe(golden))
    alignment = _align(prepared, part)
    if not alignment.ok:
        return []
    aligned, _ = warp_to_reference(part, alignment, prepared.shape)
    return naive_absdiff(golden, aligned)


def _stats(v: list[float]) -> dict[str, float]:
    a = np.array(v) if v else np.full(1, np.nan)  # nothing timed: NaN, never a fake 0 ms
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "n": len(v)}


# Results that say the part was not (completely) inspected: not timed as detector runs.
_FAILED = (ResultCode.NG_RUNTIME, ResultCode.NG_RECIPE, ResultCode.NG_DEADLINE, ResultCode.NG_ACQUISITION)


def run(cfg: SpeedConfig, detector: Detector | None) -> dict[str, object]:
    configure(cfg.threads)
    pairs = load_pairs(cfg.folder)[:: max(1, len(load_pairs(cfg.folder)) // cfg.pairs)][: cfg.pairs]
    full, base, cpu, base_cpu, raw = [], [], [], [], []
    failed = {"pair_640": 0, "part_5mp": 0}
    reasons: dict[str, str] = {}
    bar = Progress(len(pairs) + cfg.large_parts, "speed", enabled=cfg.progress)
    for pair in pairs:
        golden, tested = read_image(pair.golden), read_image(pair.tested)
        t0 = time.perf_counter()
        naive_absdiff(golden, tested)
        raw.append((time.perf_counter() - t0) * 1e3)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        aligned_absdiff(golden, tested)
        base.append((time.perf_counter() - t0) * 1e3)
        base_cpu.append((time.thread_time() - c0) * 1e3)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        result = inspect(prepare(bench_recipe(golden)), tested, detector=detector)
        ms, cms = (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3
        if result.code in _FAILED:  # a failed inspection is not a timing of the detector
            failed["pair_640"] += 1
            reasons.setdefault("pair_640", result.message)
        else:
            full.append(ms)
            cpu.append(cms)
        bar.update()
    rng = np.random.default_rng(7)
    big_ms, big_cpu, big_prep = [], [], []
    h, w = 2048, 2448
    board = bs.random_board(rng, (h, w), scale=2.0)
    style = bs.random_style(rng, "grey")
    golden5 = bs.render(board, style, rng, texture_seed=3)
    prep_t0 = time.perf_counter()
    prepared = prepare(Recipe("5mp", golden5, align=AlignParams(), detect=DetectParams(),
                              roi=(40, 40, w - 80, h - 80)))
    big_prep.append((time.perf_counter() - prep_t0) * 1e3)
    for i in range(cfg.large_parts):
        res = bs.plant_defect(rng, board, int(bs.KINDS[i % 6]), scale=2.0, margin=80)
        layout = board if res is None else res[0]
        img = bs.render(layout, style, rng, texture_seed=3, gain=float(rng.uniform(0.9, 1.1)))
        m = rigid_matrix(float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)), float(rng.uniform(-0.5, 0.5)),
                         center=((w - 1) / 2, (h - 1) / 2))
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        result = inspect(prepared, img, detector=detector)
        ms, cms = (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3
        if result.code in _FAILED:
            failed["part_5mp"] += 1
            reasons.setdefault("part_5mp", result.message)
        else:
            big_ms.append(ms)
            big_cpu.append(cms)
        bar.update()
    f, b = _stats(full), _stats(base)
    summary: dict[str, object] = {
        "detector": getattr(detector, "name", "classical"), "threads": cfg.threads,
        "pair_640_ms": f, "pair_640_cpu_ms": _stats(cpu), "absdiff_baseline_ms": b,
        "absdiff_baseline_cpu_ms": _stats(base_cpu), "absdiff_unaligned_ms": _stats(raw),
        "ratio_to_baseline": f["median"] / max(1e-9, b["median"]),
        "cpu_ratio_to_baseline": _stats(cpu)["median"] / max(1e-9, _stats(base_cpu)["median"]),
        "part_5mp_inspect_ms": _stats(big_ms), "part_5mp_cpu_ms": _stats(big_cpu),
        "part_5mp_prepare_ms": big_prep[0],
        "failed_inspections": failed, "failure_reasons": reasons,
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_table(s: dict[str, object]) -> str:
    def g(key: str) -> dict[str, float]:
        v = s[key]
        assert isinstance(v, dict)
        return v

    rows = [("detector / threads", f"{s['detector']} / {s['threads']}"),
            ("640x640 pair, prepare+align+detect: median / p95 ms",
             f"{g('pair_640_ms')['median']:.2f} / {g('pair_640_ms')['p95']:.2f}"),
            ("  CPU time of the thread, median ms", f"{g('pair_640_cpu_ms')['median']:.2f}"),
            ("baseline (prepare+align+absdiff): median / p95 ms",
             f"{g('absdiff_baseline_ms')['median']:.2f} / {g('absdiff_baseline_ms')['p95']:.2f}"),
            ("  CPU time of the thread, median ms", f"{g('absdiff_baseline_cpu_ms')['median']:.2f}"),
            ("  absdiff alone (no alignment), median ms", f"{g('absdiff_unaligned_ms')['median']:.2f}"),
            ("ratio to the baseline: wall / CPU", f"{float(s['ratio_to_baseline']):.2f}x / "  # type: ignore[arg-type]
             f"{float(s['cpu_ratio_to_baseline']):.2f}x"),  # type: ignore[arg-type]
            ("2448x2048 part, align+detect: median / p95 ms",
             f"{g('part_5mp_inspect_ms')['median']:.1f} / {g('part_5mp_inspect_ms')['p95']:.1f}"),
            ("  CPU time of the thread, median ms", f"{g('part_5mp_cpu_ms')['median']:.1f}"),
            ("  recipe preparation (once), ms", f"{float(s['part_5mp_prepare_ms']):.1f}")]  # type: ignore[arg-type]
    failed = s.get("failed_inspections") or {}
    reasons = s.get("failure_reasons") or {}
    assert isinstance(failed, dict) and isinstance(reasons, dict)
    for key, label in (("pair_640", "640x640 pairs"), ("part_5mp", "2448x2048 parts")):
        if failed.get(key):
            rows.append((f"FAILED inspections ({label}, not timed)", f"{failed[key]}: {reasons.get(key, '')}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
