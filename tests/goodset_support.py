"""A tiny good-set model for tests (importable from any test): textured tiles, an 8x8 block-statistics
feature extractor instead of the CNN (milliseconds, no ONNX Runtime), and the station's good-set
detector running it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.teach_goodset import GoodSetTeachParams, teach_goodset
from inspection.recipe.definition import Recipe
from inspection.result import InspectionResult
from inspection.vision.goodset import feature_extractors

EXTRACTOR = "test-blocks"


class BlockFeatures:
    """Mean and spread of 8x8 blocks as a 2-channel patch feature grid."""

    name = f"{EXTRACTOR}@1"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        f = image.astype(np.float32)
        h, w = f.shape[0] // 8, f.shape[1] // 8
        b = f[: h * 8, : w * 8].reshape(h, 8, w, 8)
        return np.stack([b.mean((1, 3)), b.std((1, 3))], -1)


def texture_tile(rng: np.random.Generator, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A tile of fine random texture (grain): no structure to align on, every tile different."""
    return np.clip(rng.normal(128, 20, size), 0, 255).astype(np.uint8)


def with_defect(tile: np.ndarray, center: tuple[int, int] = (60, 30), radius: int = 12) -> np.ndarray:
    """The tile with a smooth spot (no grain, the tile's mean grey: the contrast stretch stays)."""
    out = tile.copy()
    cv2.circle(out, center, radius, 128, -1)
    return out


def goodset_recipe(seed: int = 0, *, parts: int = 12,
                   scales: tuple[tuple[int, int], ...] | None = None, bank_knn: int = 0,
                   tile_rows: int = 60, target_frr: float = 0.0, **settings: object) -> Recipe:
    """A good-set tile recipe taught without alignment (motion 'none') from ``parts`` tiles;
    ``scales``: one bank per channel slice of the test extractor (mean, spread: (0, 1), (1, 2)).
    One coreset bank of all taught patches with 2-fold calibration unless ``bank_knn`` >= 1 (a local
    bank, the product's default, calibrated leave-one-out: over 12 parts at a 0% target its threshold
    is the highest of 12 scores, tighter than 2-fold's, and some fresh good tiles exceed it; ``tile_rows``
    rows kept per part; ``target_frr`` above 0 with fewer than 1 / target_frr parts: the teach report's
    few-parts warning; ``settings``: other GoodSetTeachParams fields)."""
    rng = np.random.default_rng(seed)
    tiles = [(f"t{i}.png", texture_tile(rng)) for i in range(parts)]
    params = GoodSetTeachParams(name="tiles", short_side=96, bank_size=200, dims=2, top_k=3, folds=2,
                                align_parts=False, target_frr=target_frr, scales=scales, bank_knn=bank_knn,
                                tile_rows=tile_rows)
    params = dataclasses.replace(params, **settings)  # type: ignore[arg-type]
    return teach_goodset(tiles, params, BlockFeatures(), extractor=BlockFeatures.name).recipe


def use_block_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the station's good-set detector create the test extractor by name (undone after the test)."""
    monkeypatch.setitem(feature_extractors._loaded, EXTRACTOR, lambda **_: BlockFeatures())


def inspected_tiles(monkeypatch: pytest.MonkeyPatch, recipe: Recipe, defects: list[bool],
                    seed: int = 11) -> list[tuple[InspectionResult, np.ndarray]]:
    """Tiles (with a smooth spot at (60, 30) where ``defects`` says so) inspected by the station's
    pipeline and good-set detector: real results carrying their anomaly maps, with their images."""
    from inspection.pipeline import inspect
    from inspection.recipe.definition import prepare
    from inspection.station.recipes import make_detector

    use_block_features(monkeypatch)
    det = make_detector(recipe)
    prepared = prepare(recipe)
    rng = np.random.default_rng(seed)
    out = []
    for bad in defects:
        tile = texture_tile(rng)
        image = with_defect(tile) if bad else tile
        out.append((inspect(prepared, image, detector=det), image))
    return out


def write_tiles(folder: Path, defects: list[bool], *, seed: int = 21, parts: int = 0) -> None:
    """A replay camera's folder: one textured tile per entry of ``defects`` (``part_NNN.png``, a dark
    blob on those marked True), served in name order. ``parts`` >= 1: only that many different tiles,
    in turn (the same parts presented again and again)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    distinct = [texture_tile(rng) for _ in range(parts)]
    for k, bad in enumerate(defects):
        tile = distinct[k % parts] if parts else texture_tile(rng)
        cv2.imwrite(str(folder / f"part_{k:03d}.png"), with_defect(tile) if bad else tile)
