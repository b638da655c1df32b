"""``inspection bench deeppcb``: the golden-reference detector on DeepPCB-layout data.

Every pair goes through the whole station path (prepare the golden as a recipe, align, detect,
decide); nothing assumes the pairs are registered. Optionally the tested images are perturbed
(seeded shift, rotation, gain/offset, noise; boxes moved with them), and good parts (the golden
perturbed as if it were the tested part) are checked for false rejects.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from inspection.bench import perturb as pt
from inspection.bench.deeppcb_data import Pair, bench_recipe, load_pairs, read_truth
from inspection.bench.metrics import Det, Gt, Scores
from inspection.imageio import read_image
from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import prepare
from inspection.result import InspectionResult, Verdict
from inspection.runtime import configure
from inspection.vision.detector import Detector
from inspection.vision.geometry import transform_box


@dataclass(frozen=True)
class BenchConfig:
    folder: Path
    out: Path
    threads: int = 1
    limit: int | None = None
    split: str = "all"
    perturb: pt.PerturbSpec | None = None
    good_parts: bool = False
    seed: int = 0
    roi_margin: int | None = None
    progress: bool = True


@dataclass
class _Run:
    """Accumulators of one evaluation (clean, perturbed or good parts)."""

    aware: Scores = field(default_factory=lambda: Scores(class_aware=True))
    agnostic: Scores = field(default_factory=lambda: Scores(class_aware=False))
    pair_ms: list[float] = field(default_factory=list)
    inspect_ms: list[float] = field(default_factory=list)
    prepare_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    align_failures: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ignored_gt: int = 0

    def timing(self) -> dict[str, object]:
        def stats(v: list[float]) -> dict[str, float]:
            a = np.array(v) if v else np.zeros(1)
            return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
                    "mean": float(a.mean())}
        pair = stats(self.pair_ms)
        return {"pair_ms": pair, "inspect_ms": stats(self.inspect_ms), "prepare_ms": stats(self.prepare_ms),
                "pair_cpu_ms": stats(self.cpu_ms),
                "pairs_per_s": 1000.0 / pair["mean"] if pair["mean"] > 0 else 0.0}


def _pair_seed(seed: int, pid: str, salt: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(f"{pid}:{salt}".encode())) & 0x7FFFFFFF


def _dets(result: InspectionResult) -> list[Det]:
    """Findings as detections in the tested image's coordinates."""
    if result.alignment is None or not result.alignment.ok:
        return []  # nothing was seen in the reference frame
    m = result.alignment.matrix
    return [Det(transform_box(m, f.box), f.score, int(f.defect_class)) for f in result.findings]


def _in_roi(box: tuple[float, float, float, float], roi: tuple[int, int, int, int] | None) -> bool:
    if roi is None:
        return True
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x, y, w, h = roi
    return x <= cx < x + w and y <= cy < y + h


def _write(path: Path, dets: list[Det]) -> None:
    lines = [f"{round(d.box[0])},{round(d.box[1])},{round(d.box[2])},{round(d.box[3])},"
             f"{d.score:.4f},{d.cls}" for d in sorted(dets, key=lambda d: -d.score)]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def _evaluate(run: _Run, golden: np.ndarray, tested: np.ndarray, gts: list[Gt],
              detector: Detector | None, margin: int, out_file: Path | None,
              good: bool = False) -> None:
    c0 = time.thread_time()
    t0 = time.perf_counter()
    prepared = prepare(bench_recipe(golden, roi_margin=margin))
    t1 = time.perf_counter()
    result = inspect(prepared, tested, detector=detector)
    t2 = time.perf_counter()
    run.cpu_ms.append((time.thread_time() - c0) * 1e3)
    run.prepare_ms.append((t1 - t0) * 1e3)
    run.inspect_ms.append((t2 - t1) * 1e3)
    run.pair_ms.append((t2 - t0) * 1e3)
    if result.alignment is None or not result.alignment.ok:
        run.align_failures.append(out_file.stem if out_file else "?")
    if result.verdict is not Verdict.PASS:
        run.rejected.append(out_file.stem if out_file else "?")
    dets = _dets(result)
    if out_file is not None:
        _write(out_file, dets)
    if not good:
        run.aware.add(dets, gts)
        run.agnostic.add(dets, gts)


def run(cfg: BenchConfig, detector: Detector | None = None,
        on_pair: Callable[[str], None] | None = None) -> dict[str, object]:
    configure(cfg.threads)
    pairs: list[Pair] = load_pairs(cfg.folder, split=cfg.split, limit=cfg.limit)
    cfg.out.mkdir(parents=True, exist_ok=True)
    margin = cfg.roi_margin
    main, clean, good = _Run(), _Run(), _Run()
    if cfg.perturb is not None:
        (cfg.out / "clean").mkdir(exist_ok=True)
    if cfg.good_parts:
        (cfg.out / "good").mkdir(exist_ok=True)
    bar = Progress(len(pairs), "deeppcb", enabled=cfg.progress)
    for pair in pairs:
        golden = read_image(pair.golden)
        tested = read_image(pair.tested)
        h, w = golden.shape
        if margin is None:
            margin = 0 if cfg.perturb is None else math.ceil(cfg.perturb.max_displacement((h, w)))
        roi = None if margin <= 0 else (margin, margin, w - 2 * margin, h - 2 * margin)
        all_gts = read_truth(pair.truth)
        gts = [g for g in all_gts if _in_roi(g.box, roi)]
        main.ignored_gt += len(all_gts) - len(gts)
        if cfg.perturb is None:
            _evaluate(main, golden, tested, gts, detector, margin, cfg.out / f"{pair.id}.txt")
        else:
            _evaluate(clean, golden, tested, gts, detector, margin, cfg.out / "clean" / f"{pair.id}.txt")
            p = pt.draw(cfg.perturb, _pair_seed(cfg.seed, pair.id, "test"), (h, w))
            moved = []
            for g in gts:
                box = pt.move_box(g.box, p, (h, w))
                if box is not None:
                    moved.append(Gt(box, g.cls))
            _evaluate(main, golden, pt.apply(tested, p), moved, detector, margin,
                      cfg.out / f"{pair.id}.txt")
        if cfg.good_parts:
            spec = cfg.perturb or pt.PerturbSpec()
            p = pt.draw(spec, _pair_seed(cfg.seed, pair.id, "good"), (h, w))
            _evaluate(good, golden, pt.apply(golden, p), [], detector, margin,
                      cfg.out / "good" / f"{pair.id}.txt", good=True)
        if on_pair:
            on_pair(pair.id)
        bar.update(note=f"F={main.agnostic.summary()['f_score']:.3f}" if main.agnostic.n_gt else "")
    summary: dict[str, object] = {
        "dataset": str(cfg.folder), "split": cfg.split, "pairs": len(pairs),
        "detector": getattr(detector, "name", "classical"), "threads": cfg.threads,
        "providers": list(getattr(detector, "providers", ())),
        "model_version": getattr(detector, "version", None),
        "perturbation": None if cfg.perturb is None else asdict(cfg.perturb), "seed": cfg.seed,
        "roi_margin_px": margin or 0, "ignored_ground_truth": main.ignored_gt,
        "timing": main.timing(), "alignment_failures": len(main.align_failures),
        "alignment_failure_ids": main.align_failures[:50],
        "class_aware": main.aware.summary(), "class_agnostic": main.agnostic.summary(),
    }
    if cfg.perturb is not None:
        summary["clean"] = {"class_aware": clean.aware.summary(),
                            "class_agnostic": clean.agnostic.summary(),
                            "alignment_failures": len(clean.align_failures), "timing": clean.timing()}
    if cfg.good_parts:
        n = len(good.pair_ms)
        summary["good_parts"] = {"checked": n, "false_rejects": len(good.rejected),
                                 "false_reject_rate": len(good.rejected) / n if n else 0.0,
                                 "alignment_failures": len(good.align_failures),
                                 "rejected_ids": good.rejected[:50]}
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_table(summary: dict[str, object]) -> str:
    """The summary as a plain-text table."""
    rows: list[tuple[str, str]] = []

    def metrics(label: str, block: dict[str, object]) -> None:
        aware, agn = block["class_aware"], block["class_agnostic"]
        assert isinstance(aware, dict) and isinstance(agn, dict)
        rows.append((f"{label} class-aware   P / R / F",
                     f"{aware['precision']:.4f} / {aware['recall']:.4f} / {aware['f_score']:.4f}"))
        rows.append((f"{label} class-aware   mAP", f"{aware['map']:.4f}"))
        rows.append((f"{label} class-agnostic P / R / F", f"{agn['precision']:.4f} / {agn['recall']:.4f} / "
                     f"{agn['f_score']:.4f}"))
        rows.append((f"{label} class-agnostic AP", f"{agn['ap']:.4f}"))

    pert = summary.get("perturbation")
    rows.append(("pairs (split)", f"{summary['pairs']} ({summary['split']})"))
    rows.append(("detector / threads", f"{summary['detector']} / {summary['threads']}"))
    if summary.get("providers"):
        rows.append(("ONNX Runtime providers (in use)", ", ".join(summary["providers"])))  # type: ignore[arg-type]
    rows.append(("ROI margin px (ignored GT)",
                 f"{summary['roi_margin_px']} ({summary['ignored_ground_truth']})"))
    if isinstance(summary.get("clean"), dict):
        metrics("clean    ", summary["clean"])  # type: ignore[arg-type]
    metrics("perturbed" if pert else "clean    ", summary)
    if isinstance(summary.get("clean"), dict):
        c = summary["clean"]["class_agnostic"]["f_score"]  # type: ignore[index]
        p = summary["class_agnostic"]["f_score"]  # type: ignore[index]
        ca = summary["clean"]["class_aware"]["f_score"]  # type: ignore[index]
        pa = summary["class_aware"]["f_score"]  # type: ignore[index]
        rows.append(("F drop (agnostic / aware), points", f"{100 * (c - p):.2f} / {100 * (ca - pa):.2f}"))
    rows.append(("alignment failures", str(summary["alignment_failures"])))
    t = summary["timing"]
    assert isinstance(t, dict)
    rows.append(("ms per pair, median / p95 (prepare+inspect)",
                 f"{t['pair_ms']['median']:.2f} / {t['pair_ms']['p95']:.2f}"))
    rows.append(("  inspect only (reference prepared once)",
                 f"{t['inspect_ms']['median']:.2f} / {t['inspect_ms']['p95']:.2f}"))
    rows.append(("  CPU time of the thread, median / p95",
                 f"{t['pair_cpu_ms']['median']:.2f} / {t['pair_cpu_ms']['p95']:.2f}"))
    rows.append(("pairs/s", f"{t['pairs_per_s']:.1f}"))
    good = summary.get("good_parts")
    if isinstance(good, dict):
        rows.append(("good parts: false rejects", f"{good['false_rejects']} / {good['checked']} "
                     f"({100 * good['false_reject_rate']:.2f}%)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
