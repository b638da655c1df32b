"""Every recipe version a station ran, kept by its content hash, so that a stored verdict can be
re-inspected with exactly the recipe that made it (``inspection replay``).

A stored result names its recipe by ``model_hash`` (``"<name>@<first 12 hex of the content hash>"``,
:attr:`~inspection.recipe.definition.PreparedRecipe.recipe_id`). :class:`RecipeVersions` keeps one
folder per version under its root: ``<sha256>/recipe.json`` (parameters, ROI, scorer, and the
SHA-256 of every file of the version), ``<sha256>/arrays.npz`` (reference, ignore mask, variation
bands) and, for a recipe whose detector is "goodset", ``<sha256>/goodset.npz`` (its taught good-set
model), written to a temporary folder and renamed (a crash leaves a whole version or none).
Loading checks each file against its digest, rebuilds the :class:`Recipe` and checks its content
hash against the folder name: a version whose files differ (``recipe_version_mismatch``), that
lacks a file its detector needs (``recipe_version_incomplete``, e.g. a good-set version kept before
versions carried the model) or that does not rebuild to the same hash is refused, never judged with
another detector. A golden reference (or several), a good-set model and threshold overrides are
part of the recipe, so re-teaching or tuning makes a new version; old ones stay.

A good-set model is kept once however many versions carry it (a local bank of 400 parts is 12 MB, and
tuning its threshold makes a new version each time). A version's ``goodset.npz`` holds the model with
the threshold its calibration gave (:func:`as_taught`); the threshold the version ran with is
recipe.json's ``goodset.threshold``, applied on loading (a file whose threshold is neither is refused,
``recipe_version_mismatch``). Versions that differ in thresholds, ROI or alignment therefore hold the
same file: ``.models/<its model digest>.npz``, with the SHA-256 of its bytes beside it (``.sha256``),
hard-linked into each version (a copy where the file system has no hard links). A version stays a
folder of plain files: removing one leaves the others whole, and loading checks its files as before. A
shared copy whose bytes no longer match their SHA-256 is never linked again: the next version writes a
new one. Versions kept before this hold the model with their own threshold, and load as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import CalibrationError, RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams, params_from_dict, params_to_dict
from inspection.vision.goodset import GoodSetModel, threshold_for
from inspection.vision.scorer import Scorer

logger = logging.getLogger(__name__)

FORMAT = 1
_ARRAYS = ("reference", "ignore", "spread_dark", "spread_bright")
ARRAYS_FILE = "arrays.npz"
GOODSET_FILE = "goodset.npz"
MODELS_DIR = ".models"  # good-set models shared by the versions that carry them (hard links)
#: files a version needs besides arrays.npz, by the detector its recipe names
NEEDED_BY_DETECTOR = {"goodset": (GOODSET_FILE,)}


def short_hash(model_hash: str) -> str:
    """The hash part of a stored ``model_hash`` (``name@abc123...`` or a bare hash)."""
    return model_hash.rpartition("@")[2].strip().lower()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recipe_to_files(recipe: Recipe) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(recipe.json content, {file name: bytes} of the other files) of a recipe: ``arrays.npz``,
    and ``goodset.npz`` when it carries a good-set model. recipe.json names each file's SHA-256."""
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
    files = {ARRAYS_FILE: buf.getvalue()}
    if recipe.goodset is not None:
        taught = as_taught(recipe.goodset)
        files[GOODSET_FILE] = taught.to_bytes()
        meta["goodset"] = {"digest": recipe.goodset.digest(), "extractor": recipe.goodset.extractor,
                           "threshold": recipe.goodset.threshold, "file_digest": taught.digest()}
    meta["files"] = {name: sha256(data) for name, data in sorted(files.items())}
    return meta, files


def as_taught(model: GoodSetModel) -> GoodSetModel:
    """``model`` with the threshold its calibration scores give (what teaching set): what a version's
    goodset.npz holds, so that versions differing only in the tuned threshold hold the same file."""
    try:
        taught = threshold_for(model.calibration_scores, model.frr, model.threshold_rule)
    except CalibrationError:
        return model
    return model if taught == model.threshold else dataclasses.replace(model, threshold=taught)


def needed_files(meta: dict[str, Any]) -> list[str]:
    """The files a version with recipe.json ``meta`` cannot be rebuilt without."""
    need = [ARRAYS_FILE, *NEEDED_BY_DETECTOR.get(str(meta.get("detector", "classical")), ())]
    if meta.get("goodset") is not None and GOODSET_FILE not in need:
        need.append(GOODSET_FILE)
    return [*need, *(n for n in (meta.get("files") or {}) if n not in need)]


def recipe_from_files(meta: dict[str, Any], npz: bytes, goodset: bytes | None = None) -> Recipe:
    """The recipe of recipe.json ``meta``, arrays.npz ``npz`` and goodset.npz ``goodset``;
    RecipeError ``recipe_version_incomplete`` when its detector needs the good-set model and it is
    not given."""
    model = None
    if goodset is not None:
        try:
            model = GoodSetModel.from_bytes(goodset, source=f"recipe version {meta.get('name')!r} {GOODSET_FILE}")
        except CalibrationError as exc:
            raise RecipeError(str(exc), key="recipe_version_unreadable") from exc
        ran = (meta.get("goodset") or {}).get("threshold")
        if ran is not None and float(ran) != model.threshold:  # the file holds the taught threshold
            if model.threshold != as_taught(model).threshold:
                raise RecipeError(f"recipe version of {meta.get('name')!r}: {GOODSET_FILE}'s threshold "
                                  f"{model.threshold:g} is neither the one it ran with nor the taught one: "
                                  f"not the model that ran", key="recipe_version_mismatch")
            model = dataclasses.replace(model, threshold=float(ran))
    elif meta.get("detector") == "goodset" or meta.get("goodset") is not None:
        raise RecipeError(f"recipe version of {meta.get('name')!r} names detector {meta.get('detector')!r} "
                          f"but holds no {GOODSET_FILE} (kept before versions carried the good-set model?): "
                          f"it cannot be judged with its own detector", key="recipe_version_incomplete")
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
                  variant_names=names, goodset=model)


class RecipeVersions:
    """The recipe versions under ``root``, addressed by content hash (full, or any unique prefix of
    at least 8 hex digits, as stored results carry 12)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cache: dict[str, Recipe] = {}

    def keep(self, recipe: Recipe) -> str:
        """Store ``recipe`` unless that version is already kept whole; returns its content hash. A
        kept folder of the same hash that lacks a file the recipe needs (kept by an older station,
        before versions carried the good-set model) is replaced by a whole one."""
        digest = recipe.content_hash()
        target = self.root / digest
        with self._lock:
            need = [ARRAYS_FILE, *((GOODSET_FILE,) if recipe.goodset is not None else ())]
            if (target / "recipe.json").is_file() and all((target / n).is_file() for n in need):
                return digest  # kept whole already (checked without serialising the recipe)
            meta, files = recipe_to_files(recipe)
            self.root.mkdir(parents=True, exist_ok=True)
            tag = f"{os.getpid()}-{threading.get_ident()}"
            tmp = self.root / f".{digest}.tmp-{tag}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for name, data in files.items():
                if name == GOODSET_FILE and recipe.goodset is not None:
                    shared = self._shared_model(str(meta["goodset"]["file_digest"]), data, tag)
                    if shared is not None:
                        try:
                            os.link(shared[0], tmp / name)
                        except OSError:  # no hard links on this file system: the version holds a copy
                            pass
                        else:  # the digest of the shared file's bytes (another archive of the same
                            meta["files"][name] = shared[1]  # model: the timestamps differ)
                            continue
                (tmp / name).write_bytes(data)
            (tmp / "recipe.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            old = None
            if target.exists():  # incomplete: set aside, then replaced
                old = self.root / f".{digest}.incomplete-{tag}"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                logger.warning("recipe version %s lacked files its detector needs: kept whole again",
                               digest[:12])
            try:
                os.replace(tmp, target)
            except OSError:  # another process kept the same version first
                shutil.rmtree(tmp, ignore_errors=True)
                if not (target / "recipe.json").is_file():
                    raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            self._cache[digest] = recipe
        logger.info("recipe version %s (%s) kept in %s", digest[:12], recipe.name, self.root)
        return digest

    def _shared_model(self, model_digest: str, data: bytes, tag: str) -> tuple[Path, str] | None:
        """(path, SHA-256 of its bytes) of the shared copy of the good-set model ``model_digest``
        (``data``: the model's archive, written when there is no sound copy yet); None when it cannot
        be written (the version then holds its own copy)."""
        store = self.root / MODELS_DIR
        path, side = store / f"{model_digest}.npz", store / f"{model_digest}.sha256"
        try:
            if path.is_file() and side.is_file():
                want = side.read_text().strip()
                if sha256(path.read_bytes()) == want:
                    return path, want
                logger.warning("shared good-set model %s does not match its SHA-256: written again",
                               model_digest[:12])
            store.mkdir(parents=True, exist_ok=True)
            digest = sha256(data)
            for target, content in ((path, data), (side, digest.encode())):
                tmp = store / f".{target.name}.tmp-{tag}"
                tmp.write_bytes(content)
                os.replace(tmp, target)  # a new file: versions linked to a changed one keep theirs
            return path, digest
        except OSError as exc:
            logger.warning("cannot keep a shared copy of good-set model %s (%s): the version holds its own",
                           model_digest[:12], exc)
            return None

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
        """The recipe version named by ``key`` (see :meth:`resolve`), checked: every file against
        the digest recipe.json names (``recipe_version_mismatch``), every file the recipe's detector
        needs present (``recipe_version_incomplete``), the rebuilt recipe against the hash
        (``recipe_version_mismatch``)."""
        digest = self.resolve(key)
        with self._lock:
            if digest in self._cache:
                return self._cache[digest]
        folder = self.root / digest
        try:
            meta = json.loads((folder / "recipe.json").read_text())
            if not isinstance(meta, dict):
                raise ValueError("recipe.json is not an object")
        except (OSError, ValueError) as exc:
            raise RecipeError(f"recipe version {digest[:12]} cannot be read: {exc}",
                              key="recipe_version_unreadable") from exc
        missing = [n for n in needed_files(meta) if not (folder / n).is_file()]
        if missing:
            raise RecipeError(f"recipe version {digest[:12]} ({meta.get('name')}, detector "
                              f"{meta.get('detector', 'classical')!r}) lacks {', '.join(missing)}: it cannot "
                              f"be rebuilt as it ran", key="recipe_version_incomplete")
        try:
            data = {n: (folder / n).read_bytes() for n in needed_files(meta)}
        except OSError as exc:
            raise RecipeError(f"recipe version {digest[:12]} cannot be read: {exc}",
                              key="recipe_version_unreadable") from exc
        for name, want in (meta.get("files") or {}).items():
            if sha256(data[name]) != str(want).lower():
                raise RecipeError(f"recipe version {digest[:12]}: {name} does not match its digest "
                                  f"(changed after it was kept): not the recipe that ran",
                                  key="recipe_version_mismatch")
        try:
            recipe = recipe_from_files(meta, data[ARRAYS_FILE], data.get(GOODSET_FILE))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RecipeError(f"recipe version {digest[:12]} cannot be read: {exc}",
                              key="recipe_version_unreadable") from exc
        want_model = (meta.get("goodset") or {}).get("digest")
        if want_model and (recipe.goodset is None or recipe.goodset.digest() != want_model):
            raise RecipeError(f"recipe version {digest[:12]}: its good-set model is not the one kept",
                              key="recipe_version_mismatch")
        if recipe.content_hash() != digest:
            raise RecipeError(f"recipe version {digest[:12]} rebuilds to a different hash "
                              f"({recipe.content_hash()[:12]}): not the recipe that ran",
                              key="recipe_version_mismatch")
        with self._lock, contextlib.suppress(Exception):
            self._cache[digest] = recipe
        return recipe
