"""``inspection bench photo-boards``: synthetic colour photographs of bare boards, the way
``inspection detect`` sees them (its default recipe settings plus an ROI margin).

The shared data has no photographs, so this bench makes them: random layouts
(:mod:`inspection.vision.board_synth`), green solder mask over copper (light-green tracks on dark
green, low contrast), gold pads, silkscreen, texture, blur, JPEG; planted defects weighted towards
thin breaks (open) and nicks (mouse-bite); every part moved (shift, rotation) and relit (gain,
offset) against its golden. Per board design: one defective part and one good part.

Reported: share of defective boards rejected, share of planted defects found (a reported finding
whose box, grown by ``hit_margin`` px, overlaps the defect), good boards rejected.

The generator is the one the ``change-cnn`` training uses for its synthetic boards (other seeds,
larger boards and scale); a bench on the same generator flatters a model trained on it, so this
is a check of the pipeline on photo-like input, not an independent test.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams, detect_defaults
from inspection.result import Verdict
from inspection.runtime import configure
from inspection.vision import board_synth as bs
from inspection.vision.detector import Detector
from inspection.vision.geometry import rigid_matrix

SEED_BASE = 1_000_003  # far from the training seeds
KIND_WEIGHTS = {bs.OPEN: 0.3, bs.MOUSEBITE: 0.3, bs.PINHOLE: 0.1, bs.SHORT: 0.1, bs.SPUR: 0.1, bs.COPPER: 0.1}


@dataclass(frozen=True)
class PhotoBenchConfig:
    out: Path
    boards: int = 100
    size: tuple[int, int] = (1000, 1200)  # h, w
    scale: float = 2.0
    roi_margin: int = 40
    max_shift: float = 15.0
    max_rotation_deg: float = 1.5
    seed: int = 0
    threads: int = 1
    hit_margin: int = 10
    progress: bool = True
    detect: DetectParams | None = None  # default: what 'inspection detect' uses (detect_defaults)


def _move(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_board(cfg: PhotoBenchConfig, i: int) -> dict[str, object]:
    """Golden, defective part, good part (colour) and the planted defects (golden coordinates)."""
    rng = np.random.default_rng(SEED_BASE + cfg.seed * 10_007 + i)
    h, w = cfg.size
    board = bs.random_board(rng, (h, w), scale=cfg.scale)
    style = bs.random_style(rng, "photo")
    extras = bs.design_extras(rng, board)
    tex = int(rng.integers(1 << 30))
    golden = bs.render(board, style, rng, extras=extras, texture_seed=tex)
    part = board
    planted: list[bs.Planted] = []
    used = np.zeros((h, w), bool)
    kinds = list(KIND_WEIGHTS)
    probs = np.array(list(KIND_WEIGHTS.values()))
    m = cfg.roi_margin + int(cfg.max_shift) + 20
    for _ in range(int(rng.integers(1, 4))):
        for _try in range(5):
            kind = int(rng.choice(kinds, p=probs / probs.sum()))
            res = bs.plant_defect(rng, part, kind, scale=cfg.scale, margin=m,
                                  avoid=cv2.dilate(used.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0)
            if res is not None:
                part, pl = res
                used |= pl.mask
                planted.append(pl)
                break
    out: dict[str, object] = {"golden": golden, "planted": planted}
    for tag, layout in (("defective", part), ("good", board)):
        pe = (extras[0] & layout, extras[1] & ~layout)
        img = bs.render(layout, style, rng, extras=pe, texture_seed=tex, gain=float(rng.uniform(0.85, 1.15)),
                        offset=float(rng.uniform(-15, 15)))
        dx, dy = rng.uniform(-cfg.max_shift, cfg.max_shift, 2)
        ang = rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg)
        mat = rigid_matrix(float(dx), float(dy), float(ang), center=((w - 1) / 2.0, (h - 1) / 2.0))
        out[tag] = _move(img, mat)
        out[tag + "_matrix"] = mat
    return out


def run(cfg: PhotoBenchConfig, detector: Detector | None = None) -> dict[str, object]:
    configure(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    bar = Progress(cfg.boards, "photo boards", enabled=cfg.progress)
    n_def = n_found = rejected_bad = rejected_good = 0
    per_kind: dict[str, list[int]] = {}
    ms: list[float] = []
    good_ids: list[int] = []
    missed: list[dict[str, object]] = []
    for i in range(cfg.boards):
        b = make_board(cfg, i)
        golden = b["golden"]
        assert isinstance(golden, np.ndarray)
        h, w = golden.shape[:2]
        mg = cfg.roi_margin
        recipe = Recipe(f"photo{i}", golden, align=AlignParams(), detect=cfg.detect or detect_defaults(),
                        roi=(mg, mg, w - 2 * mg, h - 2 * mg))
        prepared = prepare(recipe)
        for tag in ("defective", "good"):
            img = b[tag]
            assert isinstance(img, np.ndarray)
            t0 = time.perf_counter()
            res = inspect(prepared, img, detector=detector)
            ms.append((time.perf_counter() - t0) * 1e3)
            rej = res.verdict is not Verdict.PASS
            if tag == "good":
                rejected_good += int(rej)
                if rej:
                    good_ids.append(i)
                continue
            rejected_bad += int(rej)
            boxes = [f.box for f in res.findings if f.reported]
            planted = b["planted"]
            assert isinstance(planted, list)
            for pl in planted:
                x1, y1, x2, y2 = pl.box
                hm = cfg.hit_margin
                hit = any(bx1 - hm < x2 and x1 < bx2 + hm and by1 - hm < y2 and y1 < by2 + hm
                          for bx1, by1, bx2, by2 in boxes)
                n_def += 1
                n_found += int(hit)
                name = bs_name(pl.kind)
                per_kind.setdefault(name, [0, 0])
                per_kind[name][0] += 1
                per_kind[name][1] += int(hit)
                if not hit:
                    missed.append({"board": i, "kind": name, "box": list(pl.box), "verdict": res.verdict.value})
        bar.update()
    summary: dict[str, object] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "detector": getattr(detector, "name", "classical"),
        "defective_boards": cfg.boards, "defective_rejected": rejected_bad,
        "defective_rejected_share": rejected_bad / max(1, cfg.boards),
        "defects": n_def, "defects_found": n_found, "defects_found_share": n_found / max(1, n_def),
        "per_kind": {k: {"planted": v[0], "found": v[1]} for k, v in per_kind.items()},
        "good_boards": cfg.boards, "good_rejected": rejected_good, "good_rejected_ids": good_ids[:50],
        "ms_per_part_median": float(np.median(ms)) if ms else 0.0,
        "missed": missed[:50],
        "note": "same generator family as change-cnn's synthetic training boards (other seeds, size, scale)",
    }
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def bs_name(kind: int) -> str:
    return {1: "open", 2: "short", 3: "mousebite", 4: "spur", 5: "copper", 6: "pin-hole"}[kind]


def format_table(s: dict[str, object]) -> str:
    rows = [
        ("detector", str(s["detector"])),
        ("defective boards rejected", f"{s['defective_rejected']} / {s['defective_boards']} "
                                      f"({100 * float(s['defective_rejected_share']):.1f}%)"),  # type: ignore[arg-type]
        ("defects found", f"{s['defects_found']} / {s['defects']} "
                          f"({100 * float(s['defects_found_share']):.1f}%)"),  # type: ignore[arg-type]
    ]
    per = s["per_kind"]
    assert isinstance(per, dict)
    for k, v in sorted(per.items()):
        rows.append((f"  {k}", f"{v['found']} / {v['planted']}"))
    rows.append(("good boards rejected (moved + relit)", f"{s['good_rejected']} / {s['good_boards']}"))
    rows.append(("ms per part, median", f"{float(s['ms_per_part_median']):.1f}"))  # type: ignore[arg-type]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

