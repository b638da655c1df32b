"""Every recipe version a station ran, kept by its content hash, so that a stored verdict can be
re-inspected with exactly the recipe that made it (``inspection replay``).

A stored result names its recipe by ``model_hash`` (``"<name>@<first 12 hex of the content hash>"``,
:attr:`~inspection.recipe.definition.PreparedRecipe.recipe_id`). :class:`RecipeVersions` keeps one
folder per version under its root: ``<sha256>/recipe.json`` (parameters, ROI, scorer) and
``<sha256>/arrays.npz`` (reference, ignore mask, variation bands), written to a temporary folder and
renamed (a crash leaves a whole version or none). Loading rebuilds the :class:`Recipe` and checks its
content hash against the folder name: a version that does not rebuild to the same hash is refused.
A golden reference (or several) and threshold overrides are part of the recipe, so re-teaching or
tuning makes a new version; old ones stay.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams, params_from_dict, params_to_dict
from inspection.vision.scorer import Scorer

logger = logging.getLogger(__name__)

FORMAT = 1
_ARRAYS = ("reference", "ignore", "spread_dark", "spread_bright")


def short_hash(model_hash: str) -> str:
    """The hash part of a stored ``model_hash`` (``name@abc123...`` or a bare hash)."""
    return model_hash.rpartition("@")[2].strip().lower()


def recipe_to_files(recipe: Recipe) -> tuple[dict[str, Any], bytes]:
    """(recipe.json content, arrays.npz bytes) of a recipe."""
    meta = {"format": FORMAT, "name": recipe.name, "align": params_to_dict(recipe.align),
            "detect": params_to_dict(recipe.detect),
            "roi": None if recipe.roi is None else list(recipe.roi), "min_coverage": recipe.min_coverage,
            "detector": recipe.detector, "number": recipe.number, "mm_per_px": recipe.mm_per_px,
            "scorer": None if recipe.scorer is None else recipe.scorer.to_dict(),
            "variant_names": list(recipe.variant_names), "content_hash": recipe.content_hash()}
    arrays = {k: getattr(recipe, k) for k in _ARRAYS if getattr(recipe, k) is not None}
    arrays.update({f"variant_{k}": v for k, v in enumerate(recipe.variants)})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return meta, buf.getvalue()


def recipe_from_files(meta: dict[str, Any], npz: bytes) -> Recipe:
    with np.load(io.BytesIO(npz), allow_pickle=False) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    roi = meta.get("roi")
    names = tuple(str(n) for n in meta.get("variant_names", []))
    return Recipe(str(meta["name"]), arrays["reference"],
                  align=params_from_dict(AlignParams, meta.get("align")),
                  detect=params_from_dict(DetectParams, meta.get("detect")),
                  roi=None if roi is None else (int(roi[0]), int(roi[1]), int(roi[2]), int(roi[3])),
                  ignore=arrays.get("ignore"), spread_dark=arrays.get("spread_dark"),
                  spread_bright=arrays.get("spread_bright"),
                  scorer=None if meta.get("scorer") is None else Scorer.from_dict(meta["scorer"]),
                  min_coverage=float(meta.get("min_coverage", 1.0)),
                  detector=str(meta.get("detector", "classical")), number=int(meta.get("number", 0)),
                  mm_per_px=None if meta.get("mm_per_px") is None else float(meta["mm_per_px"]),
                  variants=tuple(arrays[f"variant_{k}"] for k in range(len(names))),
                  variant_names=names)


class RecipeVersions:
    """The recipe versions under ``root``, addressed by content hash (full, or any unique prefix of
    at least 8 hex digits, as stored results carry 12)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cache: dict[str, Recipe] = {}

    def keep(self, recipe: Recipe) -> str:
        """Store ``recipe`` unless that version is already kept; returns its content hash."""
        digest = recipe.content_hash()
        target = self.root / digest
        with self._lock:
            if (target / "recipe.json").is_file():
                return digest
            meta, npz = recipe_to_files(recipe)
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{digest}.tmp-{os.getpid()}-{threading.get_ident()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            (tmp / "arrays.npz").write_bytes(npz)
            (tmp / "recipe.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            try:
                os.replace(tmp, target)
            except OSError:  # another process kept the same version first
                shutil.rmtree(tmp, ignore_errors=True)
                if not (target / "recipe.json").is_file():
                    raise
            self._cache[digest] = recipe
        logger.info("recipe version %s (%s) kept in %s", digest[:12], recipe.name, self.root)
        return digest

    def hashes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / "recipe.json").is_file())

    def resolve(self, key: str) -> str:
        """The full hash of a stored ``model_hash`` or hash prefix; RecipeError when unknown."""
        prefix = short_hash(key)
        if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
            raise RecipeError(f"{key!r} does not name a recipe version (need >= 8 hex digits)",
                              key="recipe_version_unknown")
        found = [h for h in self.hashes() if h.startswith(prefix)]
        if len(found) != 1:
            raise RecipeError(f"recipe version {prefix} is {'ambiguous' if found else 'not kept'} in "
                              f"{self.root}", key="recipe_version_unknown")
        return found[0]

    def load(self, key: str) -> Recipe:
        """The recipe version named by ``key`` (see :meth:`resolve`), hash-checked."""
        digest = self.resolve(key)
        with self._lock:
            if digest in self._cache:
                return self._cache[digest]
        folder = self.root / digest
        try:
            meta = json.loads((folder / "recipe.json").read_text())
            recipe = recipe_from_files(meta, (folder / "arrays.npz").read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RecipeError(f"recipe version {digest[:12]} cannot be read: {exc}",
                              key="recipe_version_unreadable") from exc
        if recipe.content_hash() != digest:
            raise RecipeError(f"recipe version {digest[:12]} rebuilds to a different hash "
                              f"({recipe.content_hash()[:12]}): not the recipe that ran",
                              key="recipe_version_mismatch")
        with self._lock, contextlib.suppress(Exception):
            self._cache[digest] = recipe
        return recipe
