"""A station's recipes as a folder of recipe bundles (one sub-folder each, written by
``inspection teach --out``); the PLC selects them by the number in their manifest."""

from __future__ import annotations

import logging
from pathlib import Path

from calibration.bundle import load_bundle, read_manifest
from inspection.errors import RecipeError
from inspection.recipe.catalog import LoadedRecipe, RecipeEntry

logger = logging.getLogger(__name__)


class BundleCatalog:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise RecipeError(f"recipe folder {self.folder} does not exist", key="recipe_not_found")
        self._paths: dict[int, Path] = {}
        self._entries: dict[int, RecipeEntry] = {}
        self.rescan()

    def rescan(self) -> None:
        """Read the manifests (not the images) of every bundle in the folder; unreadable or
        duplicate ones are logged and left out."""
        paths: dict[int, Path] = {}
        entries: dict[int, RecipeEntry] = {}
        for sub in sorted(p for p in self.folder.iterdir() if (p / "manifest.json").is_file()):
            try:
                m = read_manifest(sub)
                number = int(m.get("number", 0))
            except (RecipeError, ValueError, TypeError) as exc:
                logger.error("recipe bundle %s left out: %s", sub, exc)
                continue
            if number in paths:
                logger.error("recipe bundle %s left out: number %d is also %s", sub, number, paths[number])
                continue
            paths[number] = sub
            entries[number] = RecipeEntry(sub.name, number, str(m.get("name", sub.name)),
                                          str(m.get("content_hash", ""))[:12],
                                          str(m.get("detector", "classical")))
        self._paths, self._entries = paths, entries

    def entries(self) -> list[RecipeEntry]:
        return [self._entries[n] for n in sorted(self._entries)]

    def load(self, number: int) -> LoadedRecipe:
        path = self._paths.get(number)
        if path is None:
            self.rescan()  # a bundle may have been added since
            path = self._paths.get(number)
        if path is None:
            raise RecipeError(f"no recipe bundle with number {number} in {self.folder}; known: "
                              f"{sorted(self._paths)}", key="recipe_not_found")
        bundle = load_bundle(path)
        undistorter = bundle.undistorter()
        return LoadedRecipe(self._entries[number], bundle.recipe,
                            None if undistorter is None else undistorter)
