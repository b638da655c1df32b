"""Parts for the demo station: a generated part type (golden reference plus a camera folder of good
and defective parts, moved and relit as on a real line), generated surface tiles for the good-set
detector (a camera folder of tiles, some with a pore, crack or scratch, and good tiles to teach
from), or the tested images of a DeepPCB-layout folder (one recipe per pair, selected by the PLC
before each part)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.deeppcb_data import Pair, bench_recipe, load_pairs
from inspection.errors import RecipeError
from inspection.imageio import read_image
from inspection.recipe.catalog import LoadedRecipe, RecipeEntry
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams
from inspection.vision.defect_synth import machined_surface
from inspection.vision.synth import KINDS, make_part, make_reference

DEMO_SHAPE = (480, 640)
ROI_MARGIN = 32


def generate_parts(folder: Path, *, count: int = 30, defect_share: float = 0.3, seed: int = 7,
                   shape: tuple[int, int] = DEMO_SHAPE) -> tuple[np.ndarray, list[bool]]:
    """Write ``count`` part images (``part-NNNN.png``, served in name order) into ``folder``;
    returns the golden reference and, per part, whether a defect was planted."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.png"):
        old.unlink()
    rng = np.random.default_rng(seed)
    reference = make_reference(shape, seed=seed)
    planted = []
    for k in range(count):
        bad = bool(rng.random() < defect_share)
        kinds = tuple(rng.choice(len(KINDS), size=int(rng.integers(1, 3)), replace=False)) if bad else ()
        part = make_part(shape, seed=seed, part_seed=1000 + k, defects=tuple(KINDS[i] for i in kinds),
                         defect_size=float(rng.uniform(7, 12)), dx=float(rng.uniform(-10, 10)),
                         dy=float(rng.uniform(-10, 10)), angle_deg=float(rng.uniform(-2, 2)),
                         gain=float(rng.uniform(0.85, 1.15)), offset=float(rng.uniform(-15, 15)),
                         noise=3.0)
        cv2.imwrite(str(folder / f"part-{k:04d}.png"), part.image)
        planted.append(bad)
    return reference, planted


TILE_SHAPE = (240, 320)
#: the defects the good-set demo plants on its tiles (in turn)
TILE_DEFECTS = ("pore", "crack", "scratch")


def surface_defect(tile: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """``tile`` with one defect an operator can see: a dark pore (7-11 px), a dark crack or a bright
    scratch (a 2-px wandering line, 60-140 px long)."""
    h, w = tile.shape
    f = tile.astype(np.float32)
    mask = np.zeros((h, w), np.uint8)
    if kind == "pore":
        r = rng.uniform(7, 11)
        centre = (int(rng.uniform(20, w - 20)), int(rng.uniform(20, h - 20)))
        axes = (round(r * rng.uniform(0.7, 1.3)), round(r * rng.uniform(0.7, 1.3)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        return np.clip(f * (1 - cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0) * rng.uniform(0.5, 0.7)),
                       0, 255).astype(np.uint8)
    if kind not in TILE_DEFECTS:
        raise ValueError(f"unknown defect {kind!r}; one of {TILE_DEFECTS}")
    length, angle = rng.uniform(60, 140), rng.uniform(0, np.pi)
    p = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    points = [p.copy()]
    for _ in range(6):
        angle += rng.normal(0, 0.35)
        p = p + length / 6 * np.array([np.cos(angle), np.sin(angle)])
        points.append(p.copy())
    cv2.polylines(mask, [np.round(np.array(points)).astype(np.int32)], False, 1, 2, cv2.LINE_AA)
    line = np.clip(1.5 * cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7), 0, 1)
    f = f * (1 - line * rng.uniform(0.45, 0.6)) if kind == "crack" else f + line * rng.uniform(60, 90)
    return np.clip(f, 0, 255).astype(np.uint8)


def generate_tiles(folder: Path, *, count: int = 30, defect_share: float = 0.3, seed: int = 7,
                   shape: tuple[int, int] = TILE_SHAPE) -> list[str | None]:
    """Write ``count`` surface tiles (``part-NNNN.png``, served in name order) into ``folder``;
    returns, per tile, the defect planted on it (None: a good tile)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.png"):
        old.unlink()
    rng = np.random.default_rng([seed, 1])
    planted: list[str | None] = []
    for k in range(count):
        tile = machined_surface(rng, shape)
        kind = TILE_DEFECTS[len([p for p in planted if p]) % len(TILE_DEFECTS)] \
            if rng.random() < defect_share else None
        cv2.imwrite(str(folder / f"part-{k:04d}.png"), tile if kind is None else surface_defect(tile, rng, kind))
        planted.append(kind)
    return planted


def good_tiles(count: int, *, seed: int = 7, shape: tuple[int, int] = TILE_SHAPE) -> list[tuple[str, np.ndarray]]:
    """``count`` good tiles to teach the good-set demo recipe from (other tiles than the camera's)."""
    rng = np.random.default_rng([seed, 2])
    return [(f"good-{k:04d}", machined_surface(rng, shape)) for k in range(count)]


def generated_recipe(reference: np.ndarray, *, number: int = 1) -> Recipe:
    h, w = reference.shape[:2]
    m = ROI_MARGIN
    return Recipe("Demo part", reference, align=AlignParams(motion="similarity"),
                  detect=DetectParams(material="bright"), roi=(m, m, w - 2 * m, h - 2 * m),
                  number=number)


class DeepPcbCatalog:
    """Each DeepPCB pair as its own recipe (numbers 1..N in index order): its golden is the recipe's
    reference; the camera folder holds the tested images in the same order."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        if not pairs:
            raise RecipeError("no DeepPCB pairs to replay", key="recipe_not_found")
        if len(pairs) > 999:
            raise RecipeError("at most 999 pairs (PLC recipe numbers 1-999)", key="recipe_bad")
        self.pairs = list(pairs)

    @classmethod
    def from_folder(cls, folder: str | Path, *, limit: int | None = None) -> DeepPcbCatalog:
        return cls(load_pairs(folder, limit=min(limit or 999, 999)))

    def entries(self) -> list[RecipeEntry]:
        return [RecipeEntry(f"pcb-{p.id}", k + 1, f"DeepPCB {p.id}") for k, p in enumerate(self.pairs)]

    def load(self, number: int) -> LoadedRecipe:
        if not 1 <= number <= len(self.pairs):
            raise RecipeError(f"no recipe number {number}; known: 1-{len(self.pairs)}",
                              key="recipe_not_found")
        pair = self.pairs[number - 1]
        # DeepPCB crops are registered only to a few pixels: inspect inside a margin, so that every
        # part is seen completely (a part not seen completely is never a pass)
        recipe = bench_recipe(read_image(pair.golden), name=f"DeepPCB {pair.id}", roi_margin=12)
        recipe = dataclasses.replace(recipe, number=number)
        return LoadedRecipe(RecipeEntry(f"pcb-{pair.id}", number, recipe.name), recipe)

    def write_camera_folder(self, folder: Path) -> None:
        """The tested images as ``part-NNNN.png`` (lossless, served in name order)."""
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.png"):
            old.unlink()
        for k, pair in enumerate(self.pairs):
            cv2.imwrite(str(folder / f"part-{k:04d}.png"), read_image(pair.tested))
