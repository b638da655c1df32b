"""Training windows of the ``change-cnn`` detector: change, not boards.

Two sources, every window tagged with the board group it comes from (so that a leave-one-group-out
fold drops its group completely):

- **DeepPCB-layout pairs**: each pair aligned by the station's own path (prepare, align, warp; once
  clean, once after a seeded perturbation with blur), the changed pixels inside the ground-truth
  boxes are the targets, typed by the box; changed pixels elsewhere are registration residue and
  must be ignored by the detector.
- **Synthetic boards**: random layouts (:func:`inspection.vision.board_synth.random_board`) and the
  goldens' own layouts, with planted defects of all six types, rendered in random styles (binarised
  scans, grey camera images of any contrast, colour photograph-like boards with low-contrast tracks,
  texture, blur, JPEG), the part under other light and moved by registration residue and scale
  drift.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.bench import perturb as pt
from inspection.bench.deeppcb_data import Pair, bench_recipe, group_of, load_pairs, read_truth
from inspection.imageio import read_image, to_grey8
from inspection.progress import Progress
from inspection.recipe.definition import prepare
from inspection.vision import board_synth as bs
from inspection.vision.change import warp_to_reference
from inspection.vision.change_features import excess, network_input, reference_stats
from inspection.vision.geometry import invert, transform_box

logger = logging.getLogger(__name__)

SYNTH_GROUP = "synth"


@dataclass(frozen=True)
class WindowSet:
    inputs: np.ndarray  # (N, 4, S, S) float16
    change: np.ndarray  # (N, S, S) uint8: 1 change, 0 none, 255 ignore
    types: np.ndarray  # (N, S, S) uint8: 0 none, 1..6 type
    groups: np.ndarray  # (N,) str: board group (or "synth")

    def __len__(self) -> int:
        return int(self.change.shape[0])

    def subset(self, mask: np.ndarray) -> WindowSet:
        return WindowSet(self.inputs[mask], self.change[mask], self.types[mask], self.groups[mask])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, inputs=self.inputs, change=self.change, types=self.types, groups=self.groups)

    @classmethod
    def load(cls, path: Path) -> WindowSet:
        with np.load(path) as z:
            return cls(z["inputs"], z["change"], z["types"], z["groups"])

    @staticmethod
    def concat(parts: list[WindowSet]) -> WindowSet:
        return WindowSet(np.concatenate([p.inputs for p in parts]), np.concatenate([p.change for p in parts]),
                         np.concatenate([p.types for p in parts]), np.concatenate([p.groups for p in parts]))


class _Collector:
    def __init__(self, size: int) -> None:
        self.size = size
        self.x: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.t: list[np.ndarray] = []
        self.g: list[str] = []

    def add_windows(self, inp: np.ndarray, change: np.ndarray, types: np.ndarray, group: str,
                    centres: list[tuple[int, int]], rng: np.random.Generator, jitter: int) -> None:
        s = self.size
        _, h, w = inp.shape
        for cx, cy in centres:
            x0 = int(np.clip(cx - s // 2 + rng.integers(-jitter, jitter + 1), 0, w - s))
            y0 = int(np.clip(cy - s // 2 + rng.integers(-jitter, jitter + 1), 0, h - s))
            k = int(rng.integers(8))
            xi, ci, ti = inp[:, y0:y0 + s, x0:x0 + s], change[y0:y0 + s, x0:x0 + s], types[y0:y0 + s, x0:x0 + s]
            xi, ci, ti = _dihedral(xi, k), _dihedral(ci, k), _dihedral(ti, k)
            self.x.append(xi.astype(np.float16))
            self.c.append(ci.astype(np.uint8))
            self.t.append(ti.astype(np.uint8))
            self.g.append(group)

    def result(self) -> WindowSet:
        s = self.size
        if not self.x:
            return WindowSet(np.zeros((0, 4, s, s), np.float16), np.zeros((0, s, s), np.uint8),
                             np.zeros((0, s, s), np.uint8), np.zeros(0, "<U8"))
        return WindowSet(np.stack(self.x), np.stack(self.c), np.stack(self.t), np.array(self.g, "<U8"))


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    if k & 1:
        a = a[..., :, ::-1]
    if k & 2:
        a = a[..., ::-1, :]
    if k & 4:
        a = np.swapaxes(a, -1, -2)
    return np.ascontiguousarray(a)


def _hard_negatives(bright: np.ndarray, dark: np.ndarray, n: int, rng: np.random.Generator,
                    gate: float) -> list[tuple[int, int]]:
    """Centres where the band excess fires (what the gate will send to the network), else random."""
    ys, xs = np.nonzero(np.maximum(bright, dark) >= gate)
    h, w = bright.shape
    out = []
    for _ in range(n):
        if len(xs) and rng.random() < 0.7:
            i = int(rng.integers(len(xs)))
            out.append((int(xs[i]), int(ys[i])))
        else:
            out.append((int(rng.integers(w)), int(rng.integers(h))))
    return out


def pair_windows(pair: Pair, col: _Collector, rng: np.random.Generator, *, tolerance_px: float,
                 gate: float, perturb: bool, negatives: int = 4) -> None:
    golden = read_image(pair.golden)
    tested = read_image(pair.tested)
    gts = read_truth(pair.truth)
    h, w = golden.shape
    matrix = None
    if perturb:
        p = pt.draw(pt.PerturbSpec(), int(rng.integers(1 << 30)), (h, w))
        tested = pt.apply(tested, p)
        if rng.random() < 0.5:
            tested = cv2.GaussianBlur(tested, (0, 0), float(rng.uniform(0.3, 1.0)))
        matrix = p.matrix
    prepared = prepare(bench_recipe(golden))
    from inspection.pipeline import _align

    alignment = _align(prepared, tested)
    if not alignment.ok:
        return
    aligned, valid = warp_to_reference(tested, alignment, prepared.shape)
    stats = reference_stats(golden, tolerance_px=tolerance_px)
    bright, dark = excess(stats, aligned)
    inp = network_input(stats, aligned, bright, dark)
    level = prepared.material_level
    changed = (aligned < level) != (golden < level)
    change = np.zeros((h, w), np.uint8)
    types = np.zeros((h, w), np.uint8)
    back = invert(alignment.matrix)
    centres = []
    in_boxes = np.zeros((h, w), bool)
    for g in gts:
        box = g.box
        if matrix is not None:
            box = transform_box(matrix, box)
        x1, y1, x2, y2 = (round(v) for v in transform_box(back, box))
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 <= x1 or y2 <= y1:
            continue
        in_boxes[y1:y2, x1:x2] = True
        sub = changed[y1:y2, x1:x2]
        change[y1:y2, x1:x2][sub] = 1
        types[y1:y2, x1:x2][sub] = g.cls
        centres.append(((x1 + x2) // 2, (y1 + y2) // 2))
    # inside a box, only pixels beyond the tolerance band are the defect: the rest of the changed
    # pixels there is edge residue (sub-pixel shift, scale drift), which outside the boxes counts as
    # "no change"; inside them it is ignored, and so are band excesses the binarisation misses
    beyond = np.maximum(bright, dark) >= gate
    residue = in_boxes & (change == 1) & ~beyond
    change[residue] = 255
    types[residue] = 0
    soft = in_boxes & (change == 0) & beyond
    change[soft] = 255
    change[valid == 0] = 255
    group = group_of(pair.id)
    col.add_windows(inp, change, types, group, centres + centres, rng, jitter=col.size // 4)
    col.add_windows(inp, change, types, group, _hard_negatives(bright, dark, negatives, rng, gate), rng, 0)


def synth_windows(col: _Collector, rng: np.random.Generator, *, copper: np.ndarray | None, group: str,
                  tolerance_px: float, gate: float, shape: tuple[int, int] = (160, 160)) -> None:
    """One synthetic board (random layout, or a crop of ``copper``) with planted defects."""
    if copper is not None:
        shape = (min(shape[0], copper.shape[0]), min(shape[1], copper.shape[1]))
    h, w = shape
    if copper is None:
        scale = float(rng.choice([1.0, 1.0, 1.5, 2.0]))
        board = bs.random_board(rng, shape, scale=scale)
    else:
        scale = 1.0
        y0, x0 = int(rng.integers(0, copper.shape[0] - h + 1)), int(rng.integers(0, copper.shape[1] - w + 1))
        board = copper[y0:y0 + h, x0:x0 + w].copy()
    part = board
    planted: list[bs.Planted] = []
    used = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.choice(bs.KINDS))
        res = bs.plant_defect(rng, part, kind, scale=scale, avoid=cv2.dilate(used.astype(np.uint8),
                                                                               np.ones((9, 9), np.uint8)) > 0)
        if res is None:
            continue
        part, pl = res
        used |= pl.mask
        planted.append(pl)
    style = bs.random_style(rng)
    extras = bs.design_extras(rng, board) if style.kind == "photo" else None
    tex = int(rng.integers(1 << 30))
    ref_img = to_grey8(bs.render(board, style, rng, extras=extras, texture_seed=tex))
    part_extras = None if extras is None else (extras[0] & part, extras[1] & ~part)
    gain, offset = float(rng.uniform(0.92, 1.08)), float(rng.uniform(-8, 8))
    part_img = to_grey8(bs.render(part, style, rng, extras=part_extras, texture_seed=tex, gain=gain,
                                  offset=offset))
    part_img = bs.residue(part_img, rng)
    stats = reference_stats(ref_img, tolerance_px=tolerance_px)
    bright, dark = excess(stats, part_img)
    inp = network_input(stats, part_img, bright, dark)
    change = np.zeros(shape, np.uint8)
    types = np.zeros(shape, np.uint8)
    centres = []
    for pl in planted:
        change[pl.mask] = 1
        types[pl.mask] = pl.kind
        x1, y1, x2, y2 = pl.box
        centres.append(((x1 + x2) // 2, (y1 + y2) // 2))
    # a margin of one pixel around planted changes: blur spreads them, neither change nor none
    ring = (cv2.dilate(change, np.ones((3, 3), np.uint8)) > 0) & (change == 0)
    change[ring] = 255
    col.add_windows(inp, change, types, group, centres, rng, jitter=col.size // 4)
    col.add_windows(inp, change, types, group, _hard_negatives(bright, dark, 1, rng, gate), rng, 0)


def collect(folder: Path | None, *, size: int = 48, seed: int = 0, synthetic: int = 3000,
            tolerance_px: float = 1.0, gate: float = 0.3, exclude_groups: tuple[str, ...] = (),
            perturbed_copies: int = 1, progress: bool = True) -> WindowSet:
    """Windows of every pair in ``folder`` (minus ``exclude_groups``; None: synthetic only) and of
    ``synthetic`` synthetic boards (half random layouts, half the layouts of the included goldens)."""
    rng = np.random.default_rng(seed)
    col = _Collector(size)
    pairs = [] if folder is None else load_pairs(folder, exclude_groups=exclude_groups)
    bar = Progress(len(pairs) * (1 + perturbed_copies) + synthetic, "change windows", enabled=progress)
    goldens: list[tuple[str, np.ndarray]] = []
    for k, pair in enumerate(pairs):
        for copy in range(1 + perturbed_copies):
            pair_windows(pair, col, rng, tolerance_px=tolerance_px, gate=gate, perturb=copy > 0)
            bar.update()
        if k % 4 == 0:
            g = read_image(pair.golden)
            goldens.append((group_of(pair.id), g < 128))
    for i in range(synthetic):
        if goldens and i % 2 == 1:
            group, cu = goldens[int(rng.integers(len(goldens)))]
            synth_windows(col, rng, copper=cu, group=group, tolerance_px=tolerance_px, gate=gate)
        else:
            synth_windows(col, rng, copper=None, group=SYNTH_GROUP, tolerance_px=tolerance_px, gate=gate)
        bar.update()
    data = col.result()
    logger.info("%d windows (%d pairs, %d synthetic boards)", len(data), len(pairs), synthetic)
    return data
