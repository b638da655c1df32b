"""DeepPCB-layout folders: index, golden/tested pairs, ground truth, splits, and the bench recipe."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from inspection.bench.metrics import Gt
from inspection.errors import ConfigError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams
from inspection.vision.scorer import Scorer

TYPE_NAMES = {1: "open", 2: "short", 3: "mousebite", 4: "spur", 5: "copper", 6: "pin-hole"}
SPLITS = ("all", "train", "val", "logo")
GROUP_CHARS = 5  # the board group (design) is the first 5 characters of a pair id
_VAL_EVERY = 5  # every 5th pair of each board group (index order) is held out for validation


@dataclass(frozen=True)
class Pair:
    id: str
    golden: Path
    tested: Path
    truth: Path | None


def group_of(pair_id: str) -> str:
    """The board group (design) of a pair: the first 5 characters of its id."""
    return pair_id[:GROUP_CHARS]


def load_pairs(folder: str | Path, *, split: str = "all", limit: int | None = None,
               groups: Collection[str] | None = None,
               exclude_groups: Collection[str] = ()) -> list[Pair]:
    """The pairs listed in ``folder/index.txt`` (or found by name), in index order.

    ``split``: "val" is every 5th pair of each board group (the first 5 digits of the id), "train"
    the others, "all" and "logo" everything (leave-one-group-out folds are made by the caller with
    ``groups`` / ``exclude_groups``). "train"/"val" split by position within the group, so both
    halves cover every board design (val pairs are near-duplicates of training pairs).
    ``groups``: keep only these board groups; ``exclude_groups``: drop these.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", field="DIR")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}", field="split")
    index = root / "index.txt"
    if index.is_file():
        ids = [line.strip() for line in index.read_text().splitlines() if line.strip()]
    else:
        ids = sorted(p.name[: -len("_temp.jpg")] for p in root.glob("*_temp.jpg"))
    if not ids:
        raise ConfigError(f"{root} holds no pairs (no index.txt and no *_temp.jpg)", field="DIR")
    counters: dict[str, int] = {}
    pairs = []
    for pid in ids:
        group = group_of(pid)
        k = counters.get(group, 0)
        counters[group] = k + 1
        is_val = k % _VAL_EVERY == _VAL_EVERY - 1
        if (split == "val" and not is_val) or (split == "train" and is_val):
            continue
        if (groups is not None and group not in groups) or group in exclude_groups:
            continue
        golden, tested = root / f"{pid}_temp.jpg", root / f"{pid}_test.jpg"
        truth = root / f"{pid}.txt"
        pairs.append(Pair(pid, golden, tested, truth if truth.is_file() else None))
    return pairs[:limit] if limit else pairs


def list_groups(folder: str | Path) -> list[str]:
    """The board groups of a DeepPCB-layout folder, sorted."""
    return sorted({group_of(p.id) for p in load_pairs(folder)})


def read_truth(path: Path | None) -> list[Gt]:
    """Ground truth ``x1 y1 x2 y2 type`` per line (commas also accepted)."""
    if path is None:
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 5:
            raise ConfigError(f"{path}:{n}: expected 'x1 y1 x2 y2 type', got {line!r}")
        x1, y1, x2, y2, t = (int(float(v)) for v in parts)
        out.append(Gt((float(x1), float(y1), float(x2), float(y2)), t))
    return out


def shipped_scorer() -> Scorer | None:
    """The confidence model fitted on DeepPCB's training split (``inspection train scorer``)."""
    ref = resources.files("inspection.models").joinpath("deeppcb_scorer.json")
    if not ref.is_file():
        return None
    return Scorer.from_dict(json.loads(ref.read_text()))


def deeppcb_params() -> tuple[AlignParams, DetectParams]:
    """Alignment and detection settings for DeepPCB: binarised images, dark copper, affine
    registration (line-scan scale drift), DeepPCB's classes and box style."""
    return (AlignParams(motion="affine", finest_level=1),
            DetectParams(tolerance_px=1, threshold=0.35, min_area_px=12, merge_gap_px=4,
                         material="dark", classes="pcb", box_margin_px=10))


def bench_recipe(golden: np.ndarray, *, roi_margin: int = 0, scorer: Scorer | None = None,
                 name: str = "deeppcb") -> Recipe:
    align, detect = deeppcb_params()
    h, w = golden.shape[:2]
    roi = None if roi_margin <= 0 else (roi_margin, roi_margin, w - 2 * roi_margin, h - 2 * roi_margin)
    return Recipe(name, golden, align=align, detect=detect, roi=roi,
                  scorer=scorer if scorer is not None else shipped_scorer())
