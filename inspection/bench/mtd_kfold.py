"""``inspection bench mtd-kfold``: good-set mode, k-fold by source image, settings chosen on one fold.

Tiles of the magnetic-tile set are crops of larger source images, and crops of one source look
alike: a split that puts crops of one source on both sides flatters the model. MTD's runs ``exp<k>``
are light settings: every physical tile is imaged in several runs (names with nearly the same
``_num_<n>``), so only ``group="tile"`` keeps a tile's images out of the model that scores it
(docs/benchmarks.md, round 8). This bench groups
the tiles by source (:func:`source_of`: the file name's ``exp<k>`` prefix by default, one group per
acquisition; a regular expression of the caller otherwise; or, with ``group="tile"``, by physical
tile, :func:`tile_groups`: MTD images every tile in several runs; or, with ``group="image"``, every
image alone, in name order, like a split of the files that ignores the runs: not held-out by tile,
but how a check taught from the whole good folder meets other lights of its tiles), deals the groups
into ``folds`` folds
(:func:`assign_folds`, largest group first into the smallest fold), and for every fold teaches a
model from the good tiles of the *other* folds only and scores every tile (good and defective) of
the fold. The fold that holds source ``val_source`` (MTD: ``exp1``; or fold number ``val_fold``)
is the validation fold: settings are chosen on it, and it is reported apart; the headline numbers
are over the other folds only ("reported").

Per fold: image AUROC overall and per defect folder, the threshold the model set from its good
training tiles alone (k-fold calibration inside :func:`~inspection.vision.goodset.teach`) and what
it rejects of the fold's good and defective tiles, pixel AUROC against the ``*.png`` masks, ms per
image, teach seconds. Over the reported folds: the mean and spread of the per-fold AUROCs, and
pooled numbers, scores divided by their fold's threshold so that folds are comparable.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import ConfigError
from inspection.imageio import read_image
from inspection.progress import Progress
from inspection.vision.goodset import FeatureFn, auroc, pixel_map, teach, threshold_for

#: MTD names its tiles exp<k>_num_<n>: <k> is the acquisition (the source images of one run)
SOURCE_PATTERN = r"^(exp\d+)_"
#: ... and <n> places the crop: the same physical tile imaged in several runs (under another light)
#: keeps nearly the same <n> (e.g. exp1_num_359448 ... exp6_num_359542). Sorted by <n>, a gap of at
#: least this much starts another physical tile (the gaps between consecutive names: 74% under 100,
#: 2% 100-200, 24% 200 or more)
TILE_GAP = 150
NUM_PATTERN = re.compile(r"_num_(\d+)$")
#: the heat map "points at" a defect when its hottest pixel lies within this many pixels of the
#: defect's mask (the pointing game of Zhang et al. 2016 uses 15 px; about one patch of the extractor
#: at MTD's own image size)
POINTING_TOLERANCE = 15
#: what a fold keeps together: "run" (MTD's acquisition), "tile" (one physical tile, all its runs) or
#: "image" (every image alone: another light of a scored tile may be taught, as in a random split of
#: the files, which is how a check taught from the whole of MT_Free meets other lights of its tiles)
GROUPINGS = ("run", "tile", "image")


def tile_groups(names: Sequence[str], gap: int = TILE_GAP) -> dict[str, str]:
    """Every file name's physical-tile group (``tile<n>``, <n> the group's smallest number): the names
    sorted by their ``_num_<n>``, a new group at every step of ``gap`` or more. Names without a
    number are each their own group (their stem)."""
    out: dict[str, str] = {}
    numbered = []
    for name in names:
        m = NUM_PATTERN.search(Path(name).stem)
        if m:
            numbered.append((int(m.group(1)), name))
        else:
            out[name] = Path(name).stem
    group, last = "", None
    for n, name in sorted(numbered):
        if last is None or n - last >= gap:
            group = f"tile{n}"
        out[name] = group
        last = n
    return out


def points_at(heat: np.ndarray, mask: np.ndarray, tolerance: int = POINTING_TOLERANCE) -> bool:
    """Whether the heat map's hottest pixel lies on the defect (``mask``) or within ``tolerance``
    pixels of it: what an operator's eye meets first on the overlay."""
    if heat.shape != mask.shape:
        raise ValueError(f"heat map {heat.shape} and mask {mask.shape} differ in size")
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return False
    return bool(np.min((ys - y) ** 2 + (xs - x) ** 2) <= tolerance ** 2)


def source_of(name: str, pattern: str = SOURCE_PATTERN) -> str:
    """The source group of a tile file name: group 1 of ``pattern`` (searched in the file name
    without its folder), or the whole stem when it does not match (each file its own source)."""
    stem = Path(name).stem
    m = re.search(pattern, stem)
    return m.group(1) if m else stem


def assign_folds(groups: dict[str, int], folds: int) -> dict[str, int]:
    """Fold (0..folds-1) of every group, given each group's image count: groups in order of size
    (largest first, ties by name) go to the fold with the fewest images so far (ties: lowest
    index). Deterministic; no group is ever split."""
    if folds < 2:
        raise ConfigError(f"need at least 2 folds, got {folds}", field="folds")
    if len(groups) < folds:
        raise ConfigError(f"{len(groups)} source group(s) cannot fill {folds} folds", field="folds")
    load = [0] * folds
    out: dict[str, int] = {}
    for g in sorted(groups, key=lambda g: (-groups[g], g)):
        f = min(range(folds), key=lambda i: (load[i], i))
        out[g] = f
        load[f] += groups[g]
    return out


@dataclass(frozen=True)
class KFoldConfig:
    data: Path  # folders of *.jpg (+ *.png masks), the good one named good_folder
    out: Path
    good_folder: str = "MT_Free"
    folds: int = 6
    val_source: str | None = "exp1"  # the validation fold is the one holding this source ...
    val_fold: int = 0  # ... or, when val_source is None, this fold
    pattern: str = SOURCE_PATTERN
    # "run": groups by ``pattern`` (MTD: the acquisition run); "tile": by physical tile
    # (:func:`tile_groups`: all runs' images of one tile in one fold); "image": every image alone
    group: str = "run"
    # with group "tile": the taught tiles' calibration keeps each physical tile's images together too
    # (goodset.teach's ``groups``), as the folds do; False: every image calibrated alone
    group_calibration: bool = True
    only: tuple[int, ...] = ()  # run only these folds (empty: all)
    max_train: int = 0  # teach from at most this many good tiles per fold (seeded sample); 0: all
    teach_args: dict[str, object] = field(default_factory=dict)  # passed to goodset.teach
    threads: int = 1
    pixel_step: int = 4
    seed: int = 0
    progress: bool = True
    heatmaps: int = 0  # write the heat-map overlay of this many defective tiles per fold (OUT/heatmaps)


def dataset(cfg: KFoldConfig) -> list[tuple[Path, str, int]]:
    """(path, folder, fold) of every image."""
    items, _ = _dataset(cfg)
    return items


def _dataset(cfg: KFoldConfig) -> tuple[list[tuple[Path, str, int]], int]:
    """(path, folder, fold) of every image, and the validation fold."""
    if not (cfg.data / cfg.good_folder).is_dir():
        raise ConfigError(f"{cfg.data / cfg.good_folder} is not a folder", field="DIR")
    if cfg.group not in GROUPINGS:
        raise ConfigError(f"group must be one of {GROUPINGS}, got {cfg.group!r}", field="group")
    files = sorted(p for p in cfg.data.glob("*/*.jpg"))
    tiles = tile_groups([p.name for p in files]) if cfg.group == "tile" else {}

    def group_of(p: Path) -> str:
        if cfg.group == "image":
            return p.stem
        return tiles[p.name] if tiles else source_of(p.name, cfg.pattern)

    counts: dict[str, int] = defaultdict(int)
    for p in files:
        counts[group_of(p)] += 1
    fold_of = assign_folds(dict(counts), cfg.folds)
    if cfg.val_source is not None:
        if cfg.val_source not in fold_of:
            raise ConfigError(f"no tile of source {cfg.val_source!r} (sources: "
                              f"{', '.join(sorted(fold_of))})", field="val_source")
        val = fold_of[cfg.val_source]
    else:
        if not (0 <= cfg.val_fold < cfg.folds):
            raise ConfigError(f"validation fold must be in 0..{cfg.folds - 1}", field="val_fold")
        val = cfg.val_fold
    return [(p, p.parent.name, fold_of[group_of(p)]) for p in files], val


def run(cfg: KFoldConfig, extract: FeatureFn, *, extractor: str,
        info: dict[str, object] | None = None,
        on_fold: Callable[[dict[str, object]], None] | None = None) -> dict[str, object]:
    """Every fold (or ``cfg.only``); writes OUT/scores.csv, OUT/summary.json; returns the summary."""
    cv2.setNumThreads(cfg.threads)
    items, val_fold = _dataset(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    tile_of = tile_groups([p.name for p, _, _ in items]) if cfg.group == "tile" and cfg.group_calibration else {}
    fold_summaries: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    pix: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    pix_shown: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for fold in range(cfg.folds):
        if cfg.only and fold not in cfg.only:
            continue
        train = [p for p, folder, f in items if f != fold and folder == cfg.good_folder]
        test = [(p, folder) for p, folder, f in items if f == fold]
        if cfg.max_train and len(train) > cfg.max_train:
            train = [train[int(i)] for i in sorted(rng.choice(len(train), cfg.max_train, replace=False))]
        t0 = time.perf_counter()
        held_out: list[tuple[int, float]] = []
        groups = [tile_of[p.name] for p in train] if tile_of else None
        model = teach([read_image(p) for p in train], extract, extractor=extractor, progress=cfg.progress,
                      held_out=held_out, groups=groups, **cfg.teach_args)  # type: ignore[arg-type]
        teach_s = time.perf_counter() - t0
        # the other threshold rule on the same held-out scores: both rules' rates from one run
        alt_rule = "empirical" if model.threshold_rule == "robust" else "robust"
        alt = threshold_for(model.calibration_scores, model.frr, alt_rule)
        ms: list[float] = []
        scores: list[float] = []
        ps: list[np.ndarray] = []
        pl: list[np.ndarray] = []
        bar = Progress(len(test), f"fold {fold}: score", enabled=cfg.progress)
        drawn = 0
        # defect folder -> [tiles the map points at, tiles]: the station's map, the wide-blur map
        pointing: dict[str, list[int]] = {}
        pointing_wide: dict[str, list[int]] = {}
        pss: list[np.ndarray] = []
        for p, folder in test:
            image = read_image(p)
            t1 = time.perf_counter()
            amap, score = model.score(image, extract)
            ms.append((time.perf_counter() - t1) * 1e3)
            scores.append(score)
            rows.append({"path": f"{folder}/{p.name}", "fold": fold, "score": score,
                         "threshold": model.threshold, "threshold_alt": alt})
            mask_path = p.with_suffix(".png")
            if mask_path.is_file():
                full = model.heat_map(amap, image.shape[:2])
                mask = read_image(mask_path) > 127
                s = cfg.pixel_step
                # the map the station stores and the HMI draws (display_map, the detector's light
                # blur), beside the bench's wide-blur map (rounds 2-11's pixel AUROC)
                shown = pixel_map(model.display_map(amap), image.shape[:2])
                ps.append((full[::s, ::s] / model.threshold).ravel())
                pl.append(mask[::s, ::s].ravel())
                pss.append((shown[::s, ::s] / model.threshold).ravel())
                if folder != cfg.good_folder and mask.any():
                    for tallies, heat in ((pointing, shown), (pointing_wide, full)):
                        tally = tallies.setdefault(folder, [0, 0])
                        tally[0] += points_at(heat, mask)
                        tally[1] += 1
                if drawn < cfg.heatmaps and folder != cfg.good_folder:
                    out = cfg.out / "heatmaps" / f"fold{fold}_{folder}_{p.stem}.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(out), heat_overlay(image, full / model.threshold, mask))
                    drawn += 1
            bar.update()
        pix[fold] = (ps, pl)
        pix_shown[fold] = (pss, pl)
        fs = _fold_summary(cfg, fold, [f for _, f in test], np.array(scores), model.threshold, ps, pl)
        good = np.array([f == cfg.good_folder for _, f in test])
        fs.update({"threshold_rule": model.threshold_rule,
                   "alt": {"rule": alt_rule, "threshold": alt,
                           "good_rejected": int((np.array(scores)[good] > alt).sum()),
                           "defective_rejected": int((np.array(scores)[~good] > alt).sum())}})
        # the held-out good scores the threshold came from, so that other threshold rules can be
        # judged on the same run (docs/benchmarks.md, round 7)
        fs["calibration_scores"] = [round(float(v), 6) for v in model.calibration_scores]
        fs["pointing"] = {k: pointing[k] for k in sorted(pointing)}
        fs["pointing_wide"] = {k: pointing_wide[k] for k in sorted(pointing_wide)}
        labels = np.concatenate(pl) if pl else np.zeros(0, bool)
        fs["pixel_auroc_station"] = auroc(np.concatenate(pss), labels) if labels.any() else None
        fs["calibration_tiles"] = [train[i].name for i, _ in held_out]
        fs.update({"train_images": len(train), "teach_seconds": teach_s,
                   "ms_per_image": {"median": float(np.median(ms)), "p95": float(np.percentile(ms, 95))},
                   "sources": sorted({source_of(p.name, cfg.pattern) for p, _ in test})})
        fold_summaries.append(fs)
        if on_fold:
            on_fold(fs)
    with (cfg.out / "scores.csv").open("w") as fh:
        fh.write("path,fold,score,threshold,threshold_other_rule\n")
        for r in rows:
            fh.write(f"{r['path']},{r['fold']},{r['score']:.6f},{r['threshold']:.6f},"
                     f"{r['threshold_alt']:.6f}\n")
    summary: dict[str, object] = {
        "data": str(cfg.data), "folds": cfg.folds, "val_fold": val_fold, "pattern": cfg.pattern,
        "group": cfg.group, "group_calibration": bool(tile_of),
        "extractor": extractor, "teach_args": cfg.teach_args, "max_train": cfg.max_train,
        "threads": cfg.threads, "per_fold": fold_summaries,
        "validation": next((f for f in fold_summaries if f["fold"] == val_fold), None),
        "reported": _pooled(cfg, val_fold, rows, fold_summaries, pix, pix_shown),
    }
    summary.update(info or {})
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def heat_overlay(image: np.ndarray, heat: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """BGR picture of a grey image with its heat map (``heat``: 1.0 = the threshold) blended in,
    and the true defect outlined in white when given. Colours run from the map's own median (blue)
    to the threshold and beyond (red): the blurred map of a small defect stays below the threshold,
    and a fixed scale would show it as one flat colour."""
    low = float(np.median(heat))
    high = max(1.0, float(heat.max()))
    level = np.clip((heat - low) / max(high - low, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(level, cv2.COLORMAP_JET)
    grey = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    out = cv2.addWeighted(grey, 0.55, colour, 0.45, 0.0)
    if mask is not None and mask.any():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


def _fold_summary(cfg: KFoldConfig, fold: int, folders: Sequence[str], scores: np.ndarray,
                  threshold: float, ps: list[np.ndarray], pl: list[np.ndarray]) -> dict[str, object]:
    f = np.array(folders)
    good = f == cfg.good_folder
    out: dict[str, object] = {"fold": fold, "images": int(f.size), "good": int(good.sum()),
                              "threshold": threshold,
                              "image_auroc": auroc(scores, ~good),
                              "good_rejected": int((scores[good] > threshold).sum()),
                              "defective_rejected": int((scores[~good] > threshold).sum()),
                              "defective": int((~good).sum())}
    per: dict[str, float] = {}
    for name in sorted(set(folders) - {cfg.good_folder}):
        sel = (f == name) | good
        per[name] = auroc(scores[sel], ~good[sel])
    out["per_defect_auroc"] = per
    if ps:
        labels = np.concatenate(pl)
        out["pixel_auroc"] = auroc(np.concatenate(ps), labels) if labels.any() else None
    return out


def _pooled(cfg: KFoldConfig, val_fold: int, rows: list[dict[str, object]], folds: list[dict[str, object]],
            pix: dict[int, tuple[list[np.ndarray], list[np.ndarray]]],
            pix_shown: dict[int, tuple[list[np.ndarray], list[np.ndarray]]]) -> dict[str, object] | None:
    rep = [f for f in folds if f["fold"] != val_fold]
    if not rep:
        return None
    rep_ids = {int(f["fold"]) for f in rep}  # type: ignore[call-overload]
    rr = [r for r in rows if r["fold"] in rep_ids]
    norm = np.array([float(r["score"]) / float(r["threshold"]) for r in rr])  # type: ignore[arg-type]
    alt = np.array([float(r["score"]) > float(r["threshold_alt"]) for r in rr])  # type: ignore[arg-type]
    folder = np.array([str(r["path"]).split("/")[0] for r in rr])
    good = folder == cfg.good_folder

    def stats(values: list[float]) -> dict[str, float]:
        v = np.array([x for x in values if x == x])
        return {"mean": float(v.mean()), "std": float(v.std())} if v.size else {"mean": float("nan"),
                                                                                 "std": float("nan")}

    per_mean = {name: stats([f["per_defect_auroc"][name] for f in rep  # type: ignore[index]
                             if name in f["per_defect_auroc"]])  # type: ignore[operator]
                for name in sorted(set(folder) - {cfg.good_folder})}
    pooled_per = {name: auroc(norm[(folder == name) | good], ~good[(folder == name) | good])
                  for name in sorted(set(folder) - {cfg.good_folder})}
    out: dict[str, object] = {
        "folds": sorted(rep_ids),
        "image_auroc_mean": stats([float(f["image_auroc"]) for f in rep]),  # type: ignore[arg-type]
        "per_defect_auroc_mean": per_mean,
        "image_auroc_pooled": auroc(norm, ~good),
        "per_defect_auroc_pooled": pooled_per,
        "good": int(good.sum()), "defective": int((~good).sum()),
        "false_reject_rate": float((norm[good] > 1.0).mean()) if good.any() else None,
        "defect_detection_rate": float((norm[~good] > 1.0).mean()) if (~good).any() else None,
        "per_defect_detection_rate": {name: float((norm[folder == name] > 1.0).mean())
                                      for name in sorted(set(folder) - {cfg.good_folder})},
        "other_rule": {"rule": folds[0].get("alt", {}).get("rule"),  # type: ignore[attr-defined]
                       "false_reject_rate": float(alt[good].mean()) if good.any() else None,
                       "defect_detection_rate": float(alt[~good].mean()) if (~good).any() else None,
                       "per_defect_detection_rate": {name: float(alt[folder == name].mean())
                                                     for name in sorted(set(folder) - {cfg.good_folder})}},
        "ms_per_image_median": float(np.median([f["ms_per_image"]["median"]  # type: ignore[index]
                                                for f in rep])),
        "teach_seconds_mean": float(np.mean([f["teach_seconds"] for f in rep])),
        "train_images_mean": float(np.mean([f["train_images"] for f in rep])),
    }
    for key in ("pointing", "pointing_wide"):
        tallies: dict[str, list[int]] = {}
        for f in rep:
            for name, (hits, n) in f.get(key, {}).items():  # type: ignore[attr-defined]
                t = tallies.setdefault(name, [0, 0])
                t[0] += hits
                t[1] += n
        if tallies:
            total = [sum(t[0] for t in tallies.values()), sum(t[1] for t in tallies.values())]
            out[key] = {"tolerance_px": POINTING_TOLERANCE, "hits": total[0], "defective": total[1],
                        "rate": total[0] / total[1], "per_defect": tallies}
    for suffix, maps, key in (("", pix, "pixel_auroc"), ("_station", pix_shown, "pixel_auroc_station")):
        ps = [a for i in rep_ids for a in maps[i][0]]
        pl = [a for i in rep_ids for a in maps[i][1]]
        if ps:
            labels = np.concatenate(pl)
            out[f"pixel_auroc{suffix}_pooled"] = auroc(np.concatenate(ps), labels) if labels.any() else None
            out[f"pixel_auroc{suffix}_mean"] = stats([float(f[key]) for f in rep  # type: ignore[arg-type]
                                                      if f.get(key) is not None])
    return out


def _pct(rate: float | None) -> str:
    """A rate as a percentage; "-" where it has no tiles to count (e.g. a run of good tiles only)."""
    return "-" if rate is None else f"{rate:.2%}"


def format_table(summary: dict[str, object]) -> str:
    """Per fold one line, then the reported folds' means (+- spread) and pooled numbers."""
    lines = []
    folds = summary["per_fold"]
    assert isinstance(folds, list)
    names = sorted({n for f in folds for n in f["per_defect_auroc"]})
    head = ["fold", "sources", "AUROC", *[n.removeprefix("MT_") for n in names], "pixel",
            "good rej", "defect rej", "ms", "teach s"]
    lines.append(" | ".join(head))
    for f in folds:
        tag = f"{f['fold']}{' (val)' if f['fold'] == summary['val_fold'] else ''}"
        per = f["per_defect_auroc"]
        pix = f.get("pixel_auroc")
        lines.append(" | ".join([
            tag, ",".join(f["sources"]), f"{f['image_auroc']:.4f}",
            *[f"{per[n]:.3f}" if n in per else "-" for n in names],
            "-" if pix is None else f"{pix:.3f}",
            f"{f['good_rejected']}/{f['good']}", f"{f['defective_rejected']}/{f['defective']}",
            f"{f['ms_per_image']['median']:.1f}", f"{f['teach_seconds']:.0f}"]))
    rep = summary.get("reported")
    if isinstance(rep, dict):
        m = rep["image_auroc_mean"]
        per_m = rep["per_defect_auroc_mean"]
        lines.append(" | ".join([
            "mean of reported", "", f"{m['mean']:.4f}+-{m['std']:.3f}",
            *[f"{per_m[n]['mean']:.3f}+-{per_m[n]['std']:.3f}" if n in per_m else "-" for n in names],
            f"{rep['pixel_auroc_mean']['mean']:.3f}" if "pixel_auroc_mean" in rep else "-",
            _pct(rep["false_reject_rate"]), _pct(rep["defect_detection_rate"]),
            f"{rep['ms_per_image_median']:.1f}", f"{rep['teach_seconds_mean']:.0f}"]))
        per_p = rep["per_defect_auroc_pooled"]
        lines.append(" | ".join([
            "pooled (score/threshold)", "", f"{rep['image_auroc_pooled']:.4f}",
            *[f"{per_p[n]:.3f}" if n in per_p else "-" for n in names],
            f"{rep['pixel_auroc_pooled']:.3f}" if rep.get("pixel_auroc_pooled") is not None else "-",
            "", "", "", ""]))
        det = rep["per_defect_detection_rate"]
        lines.append("rejected at the threshold (reported folds): good "
                     f"{_pct(rep['false_reject_rate'])} of {rep['good']}, defective "
                     f"{_pct(rep['defect_detection_rate'])} of {rep['defective']} ("
                     + ", ".join(f"{n.removeprefix('MT_')} {v:.0%}" for n, v in det.items()) + ")")
        if rep.get("pixel_auroc_station_pooled") is not None:
            lines.append(f"pixel AUROC, the map the station shows (4-px blur): mean "
                         f"{rep['pixel_auroc_station_mean']['mean']:.3f}, pooled "
                         f"{rep['pixel_auroc_station_pooled']:.3f}; the column above: the bench's wide-blur map")
        for key, what in (("pointing", "the station's map"), ("pointing_wide", "the wide-blur map")):
            point = rep.get(key)
            if isinstance(point, dict):
                lines.append(f"hottest point on the defect (within {point['tolerance_px']} px), {what}, reported "
                             f"folds: {point['hits']} of {point['defective']} ({point['rate']:.0%}; "
                             + ", ".join(f"{n.removeprefix('MT_')} {h}/{k}"
                                         for n, (h, k) in point["per_defect"].items()) + ")")
        other = rep.get("other_rule")
        if isinstance(other, dict) and other.get("rule"):
            det = other["per_defect_detection_rate"]
            lines.append(f"at the {other['rule']} rule's threshold instead: good "
                         f"{_pct(other['false_reject_rate'])}, defective {_pct(other['defect_detection_rate'])} ("
                         + ", ".join(f"{n.removeprefix('MT_')} {v:.0%}" for n, v in det.items()) + ")")
    return "\n".join(lines)
