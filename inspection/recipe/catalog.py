"""Where a station's recipes come from: a catalog of part types by PLC recipe number.

The station asks its catalog for the list (for the HMI) and, when the PLC or an engineer selects a
recipe, for one recipe by number; it prepares it then (``inspection.recipe.definition.prepare``) between
cycles. Catalogs are given to the station by whoever builds it: recipe bundles on disk
(``calibration.catalog.BundleCatalog``), a folder of DeepPCB pairs in the demo, recipes in memory in
tests (:class:`MemoryCatalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from inspection.errors import RecipeError
from inspection.recipe.definition import Recipe

Preprocess = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RecipeEntry:
    recipe_id: str
    number: int
    name: str
    model_hash: str = ""
    detector: str = "classical"  # the detector the recipe file names ("goodset": taught from N good parts)


@dataclass(frozen=True)
class LoadedRecipe:
    """A recipe and what the station applies to each frame before inspecting it with that recipe
    (lens undistortion when the recipe was taught on undistorted images)."""

    entry: RecipeEntry
    recipe: Recipe
    preprocess: Preprocess | None = None


class RecipeCatalog(Protocol):
    def entries(self) -> Sequence[RecipeEntry]:
        ...

    def load(self, number: int) -> LoadedRecipe:
        """The recipe with PLC number ``number``; RecipeError (stable key) when it cannot be used."""
        ...


class MemoryCatalog:
    """Recipes held in memory (tests, generated demo parts)."""

    def __init__(self, recipes: Sequence[Recipe], *, preprocess: Preprocess | None = None) -> None:
        numbers = [r.number for r in recipes]
        if len(set(numbers)) != len(numbers):
            raise RecipeError("recipe numbers must be unique", key="recipe_duplicate")
        self._recipes = {r.number: r for r in recipes}
        self._entries = {r.number: RecipeEntry(_slug(r.name, r.number), r.number, r.name,
                                               r.content_hash()[:12], r.detector) for r in recipes}
        self._preprocess = preprocess

    def entries(self) -> list[RecipeEntry]:
        return [self._entries[n] for n in sorted(self._entries)]

    def load(self, number: int) -> LoadedRecipe:
        if number not in self._recipes:
            raise RecipeError(f"no recipe number {number}; known: {sorted(self._recipes)}",
                              key="recipe_not_found")
        return LoadedRecipe(self._entries[number], self._recipes[number], self._preprocess)


def _slug(name: str, number: int) -> str:
    text = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")
    return text or f"recipe-{number}"
