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
from inspection.bench.deeppcb_data import TYPE_NAMES, Pair, bench_recipe, group_of, load_pairs, read_truth
from inspection.bench.metrics import Det, Gt, Scores
from inspection.imageio import read_image
from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import prepare
from inspection.result import InspectionResult, Verdict
from inspection.runtime import configure
from inspection.vision.detector import Detector
from inspection.vision.geometry import transform_box
from inspection.vision.scorer import Scorer


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
    groups: tuple[str, ...] | None = None  # only these board groups


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
    last_dets: list[Det] = field(default_factory=list)
    last_failed: bool = False
    last_rejected: bool = False

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
              good: bool = False, scorer: Scorer | None = None) -> None:
    c0 = time.thread_time()
    t0 = time.perf_counter()
    prepared = prepare(bench_recipe(golden, roi_margin=margin, scorer=scorer))
    t1 = time.perf_counter()
    result = inspect(prepared, tested, detector=detector)
    t2 = time.perf_counter()
    run.cpu_ms.append((time.thread_time() - c0) * 1e3)
    run.prepare_ms.append((t1 - t0) * 1e3)
    run.inspect_ms.append((t2 - t1) * 1e3)
    run.pair_ms.append((t2 - t0) * 1e3)
    run.last_failed = result.alignment is None or not result.alignment.ok
    run.last_rejected = result.verdict is not Verdict.PASS
    if run.last_failed:
        run.align_failures.append(out_file.stem if out_file else "?")
    if run.last_rejected:
        run.rejected.append(out_file.stem if out_file else "?")
    dets = _dets(result)
    run.last_dets = dets
    if out_file is not None:
        _write(out_file, dets)
    if not good:
        run.aware.add(dets, gts)
        run.agnostic.add(dets, gts)


@dataclass(frozen=True)
class Fold:
    """What evaluates one board group: a detector (None = classical) and the classical confidence
    model, both fitted without that group when ``held_out`` is true."""

    detector: Detector | None
    scorer: Scorer | None = None
    held_out: bool = False
    source: str = ""


def run(cfg: BenchConfig, detector: Detector | None = None,
        on_pair: Callable[[str], None] | None = None,
        folds: Callable[[str], Fold] | None = None) -> dict[str, object]:
    """Run the bench. ``cfg.split == "logo"``: leave-one-group-out, every board group evaluated by
    ``folds(group)`` (default: ``detector`` for every group, which is then *not* held out), with
    per-group and pooled figures."""
    configure(cfg.threads)
    logo = cfg.split == "logo"
    pairs: list[Pair] = load_pairs(cfg.folder, split=cfg.split, limit=cfg.limit, groups=cfg.groups)
    cfg.out.mkdir(parents=True, exist_ok=True)
    margin = cfg.roi_margin
    main, clean, good = _Run(), _Run(), _Run()
    per_group: dict[str, tuple[_Run, _Run]] = {}
    fold_info: dict[str, dict[str, object]] = {}
    if cfg.perturb is not None:
        (cfg.out / "clean").mkdir(exist_ok=True)
    if cfg.good_parts:
        (cfg.out / "good").mkdir(exist_ok=True)
    bar = Progress(len(pairs), "deeppcb", enabled=cfg.progress)
    current: str | None = None
    fold = Fold(detector)
    for pair in pairs:
        group = group_of(pair.id)
        if logo and group != current:
            current = group
            fold = folds(group) if folds is not None else Fold(detector, None, False, "shared")
            fold_info[group] = {"held_out": fold.held_out, "source": fold.source,
                                "detector": getattr(fold.detector, "name", "classical"),
                                "typing": getattr(fold.detector, "typing", None),
                                "tta": getattr(fold.detector, "tta", None)}
        det, scorer = fold.detector, fold.scorer
        g_main, g_good = per_group.setdefault(group, (_Run(), _Run()))
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
            target_gts, target_img, target_file = gts, tested, cfg.out / f"{pair.id}.txt"
        else:
            _evaluate(clean, golden, tested, gts, det, margin, cfg.out / "clean" / f"{pair.id}.txt",
                      scorer=scorer)
            p = pt.draw(cfg.perturb, _pair_seed(cfg.seed, pair.id, "test"), (h, w))
            target_gts = []
            for g in gts:
                box = pt.move_box(g.box, p, (h, w))
                if box is not None:
                    target_gts.append(Gt(box, g.cls))
            target_img, target_file = pt.apply(tested, p), cfg.out / f"{pair.id}.txt"
        n_before = len(main.pair_ms)
        _evaluate(main, golden, target_img, target_gts, det, margin, target_file, scorer=scorer)
        _copy_last(main, g_main, target_gts, n_before)
        if cfg.good_parts:
            spec = cfg.perturb or pt.PerturbSpec()
            p = pt.draw(spec, _pair_seed(cfg.seed, pair.id, "good"), (h, w))
            n_before = len(good.pair_ms)
            _evaluate(good, golden, pt.apply(golden, p), [], det, margin,
                      cfg.out / "good" / f"{pair.id}.txt", good=True, scorer=scorer)
            _copy_last(good, g_good, [], n_before)
        if on_pair:
            on_pair(pair.id)
        bar.update(note=f"F={main.agnostic.summary()['f_score']:.3f}" if main.agnostic.n_gt else "")
    summary: dict[str, object] = {
        "dataset": str(cfg.folder), "split": cfg.split, "pairs": len(pairs),
        "detector": getattr(detector, "name", "classical"), "threads": cfg.threads,
        "providers": list(getattr(detector, "providers", ())),
        "model_version": getattr(detector, "version", None),
        "typing": getattr(detector, "typing", None), "tta": getattr(detector, "tta", None),
        "perturbation": None if cfg.perturb is None else asdict(cfg.perturb), "seed": cfg.seed,
        "roi_margin_px": margin or 0, "ignored_ground_truth": main.ignored_gt,
        "timing": main.timing(), "alignment_failures": len(main.align_failures),
        "alignment_failure_ids": main.align_failures[:50],
        "class_aware": main.aware.summary(), "class_agnostic": main.agnostic.summary(),
    }
    if logo:
        summary["folds"] = fold_info
        summary["all_groups_held_out"] = bool(fold_info) and all(
            bool(v["held_out"]) for v in fold_info.values())
        groups_out: dict[str, object] = {}
        for gname, (gm, gg) in per_group.items():
            block: dict[str, object] = {"pairs": len(gm.pair_ms), "class_aware": gm.aware.summary(),
                                        "class_agnostic": gm.agnostic.summary(),
                                        "alignment_failures": len(gm.align_failures),
                                        **fold_info.get(gname, {})}
            if cfg.good_parts:
                block["good_parts"] = {"checked": len(gg.pair_ms), "false_rejects": len(gg.rejected)}
            groups_out[gname] = block
        summary["groups"] = groups_out
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


def _copy_last(src: _Run, dst: _Run, gts: list[Gt], n_before: int) -> None:
    """Repeat the last evaluation of ``src`` into the per-group accumulator ``dst``."""
    if len(src.pair_ms) == n_before:
        return
    dst.pair_ms.append(src.pair_ms[-1])
    if src.last_failed:
        dst.align_failures.append(src.align_failures[-1])
    if src.last_rejected:
        dst.rejected.append(src.rejected[-1])
    dets = src.last_dets
    dst.aware.add(dets, gts)
    dst.agnostic.add(dets, gts)


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
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    groups = summary.get("groups")
    if isinstance(groups, dict):
        text += "\n\n" + format_groups(summary)
    return text


def format_groups(summary: dict[str, object]) -> str:
    """Leave-one-group-out: one row per held-out board group, then the pooled row."""
    groups = summary["groups"]
    assert isinstance(groups, dict)
    head = (f"{'group':<8} {'pairs':>5} {'held out':>8}  {'aware P / R / F':<22} {'mAP':>6}  "
            f"{'agnostic F':>10} {'AP':>6}")
    lines = [head, "-" * len(head)]

    def row(name: str, n: object, held: str, block: dict[str, object]) -> str:
        aw, ag = block["class_aware"], block["class_agnostic"]
        assert isinstance(aw, dict) and isinstance(ag, dict)
        return (f"{name:<8} {n!s:>5} {held:>8}  {aw['precision']:.4f} / {aw['recall']:.4f} / "
                f"{aw['f_score']:.4f} {aw['map']:.4f}  {ag['f_score']:>10.4f} {ag['ap']:.4f}")

    for g, block in groups.items():
        assert isinstance(block, dict)
        lines.append(row(g, block["pairs"], "yes" if block.get("held_out") else "NO", block))
    lines.append(row("pooled", summary["pairs"], "yes" if summary.get("all_groups_held_out") else "NO",
                     summary))
    aw = summary["class_aware"]
    assert isinstance(aw, dict)
    per = aw.get("ap_per_class", {})
    assert isinstance(per, dict)
    prf = aw.get("per_class", {})
    assert isinstance(prf, dict)
    lines.append("")
    lines.append(f"{'class (pooled)':<14} {'GT':>5}  {'P':>6} {'R':>6} {'F':>6} {'AP':>6}")
    for c, v in per.items():
        q = prf.get(c, {})
        lines.append(f"{TYPE_NAMES.get(int(c), c):<14} {q.get('ground_truth', 0):>5}  "
                     f"{q.get('precision', 0):.4f} {q.get('recall', 0):.4f} {q.get('f_score', 0):.4f} "
                     f"{v:.4f}")
    return "\n".join(lines)
