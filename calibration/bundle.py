"""Recipe bundles: a taught part type on disk, versioned and tamper-evident.

A bundle is a folder::

    manifest.json            schema, version, name, parameters, file list with SHA-256, content hash
    reference.png            the golden reference (median of the good parts)
    ignore.png               optional: nonzero = not inspected
    band/spread_dark.npy     the per-pixel widening of the tolerance band the recipe uses (float32)
    band/spread_bright.npy
    variation/*.npy          the taught variation model (mean, spreads): for re-tuning and the HMI
    thresholds.json          good-part scores, the chosen threshold and what it guarantees
    score_distribution.png   the scores as a plot
    models/goodset.npz       optional: the good-set model of a recipe whose detector is "goodset"
                             (memory bank, projection, threshold; format and extractor version
                             in the manifest's models.goodset)
    camera.json, scale.json  optional: the calibration the recipe was taught with

The station loads a bundle read-only and refuses it (:class:`RecipeError`) when the schema or its
version is unknown, a listed file is missing, or any file or the manifest itself differs from what
was written (SHA-256 of every file in the manifest, and of the manifest in ``content_hash``). Each
file is read once and checked from the same bytes it is decoded from.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibration.bundle_writer import (
    GOODSET_FILE,
    MANIFEST,
    SCHEMA,
    SCHEMA_VERSION,
    BundleContent,
    manifest_hash,
    write_bundle,
)
from calibration.camera import CameraCalibration
from calibration.scale import ScaleCalibration
from calibration.undistort import Undistorter
from inspection.errors import CalibrationError, InspectionError, RecipeError
from inspection.imageio import decode_image
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams, params_from_dict
from inspection.vision.goodset import FORMAT as GOODSET_FORMAT
from inspection.vision.goodset import GoodSetModel
from inspection.vision.scorer import Scorer

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "BundleContent",
    "RecipeBundle",
    "load_bundle",
    "load_variation",
    "manifest_hash",
    "read_manifest",
    "write_bundle",
]

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class RecipeBundle:
    """A loaded, verified bundle."""

    path: Path
    recipe: Recipe
    manifest: dict[str, Any]
    camera: CameraCalibration | None
    scale: ScaleCalibration | None
    thresholds: dict[str, Any] | None

    @property
    def undistort(self) -> bool:
        return bool(self.manifest.get("undistort"))

    def undistorter(self) -> Undistorter | None:
        """The per-frame undistortion the recipe was taught with (None when it was not)."""
        if not self.undistort or self.camera is None:
            return None
        return Undistorter(self.camera)


class _Reader:
    """Reads the files a manifest lists, each checked against its SHA-256."""

    def __init__(self, folder: Path, files: dict[str, str]) -> None:
        self.folder = folder
        self.files = files
        self._verified: dict[str, bytes] = {}

    def has(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> bytes:
        if name in self._verified:
            return self._verified[name]
        if name not in self.files:
            raise RecipeError(
                f"{self.folder}: {name} is not listed in the manifest", key="recipe_file_missing"
            )
        p = self.folder / name
        if ".." in Path(name).parts or not p.resolve().is_relative_to(self.folder.resolve()):
            raise RecipeError(
                f"{self.folder}: file name {name!r} points outside the bundle", key="recipe_bad"
            )
        try:
            data = p.read_bytes()
        except FileNotFoundError as exc:
            raise RecipeError(f"{self.folder}: {name} is missing", key="recipe_file_missing") from exc
        except OSError as exc:
            raise RecipeError(
                f"{self.folder}: cannot read {name}: {exc.strerror}", key="recipe_unreadable"
            ) from exc
        if hashlib.sha256(data).hexdigest() != self.files[name]:
            raise RecipeError(
                f"{self.folder}: {name} was modified after the recipe was written (SHA-256 "
                "mismatch); re-teach or restore the bundle",
                key="recipe_hash_mismatch",
            )
        self._verified[name] = data
        return data

    def image(self, name: str) -> np.ndarray:
        try:
            return decode_image(self.read(name), grey=True, path=str(self.folder / name))
        except InspectionError as exc:
            if isinstance(exc, RecipeError):
                raise
            raise RecipeError(f"{self.folder}: {name}: {exc}", key="recipe_bad") from exc

    def array(self, name: str) -> np.ndarray:
        try:
            arr = np.load(io.BytesIO(self.read(name)), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise RecipeError(
                f"{self.folder}: {name} is not a valid array file: {exc}", key="recipe_bad"
            ) from exc
        return np.asarray(arr, np.float32)

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{self.folder}: {name} is not valid JSON: {exc}", key="recipe_bad") from exc


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a bundle, its schema version and content hash checked."""
    path = Path(folder)
    if not path.is_dir():
        raise RecipeError(f"{path}: not a recipe folder", key="recipe_not_found")
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
    except FileNotFoundError as exc:
        raise RecipeError(f"{path}: no {MANIFEST} (not a recipe bundle)", key="recipe_not_found") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: {MANIFEST} is unreadable: {exc}", key="recipe_unreadable") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise RecipeError(
            f"{path}: {MANIFEST} is not a recipe manifest (schema {SCHEMA!r})", key="recipe_schema"
        )
    version = manifest.get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise RecipeError(
            f"{path}: recipe schema version {version!r} is not supported by this software (it reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}); update the station software or re-teach",
            key="recipe_schema_version",
        )
    if manifest.get("content_hash") != manifest_hash(manifest):
        raise RecipeError(
            f"{path}: {MANIFEST} was modified after the recipe was written (content hash mismatch)",
            key="recipe_hash_mismatch",
        )
    if not isinstance(manifest.get("files"), dict) or "reference.png" not in manifest["files"]:
        raise RecipeError(f"{path}: the manifest lists no reference image", key="recipe_bad")
    return manifest


def _goodset(path: Path, m: dict[str, Any], r: _Reader) -> GoodSetModel | None:
    """The bundle's good-set model (hash already checked by the reader), its format version and
    digest checked against the manifest."""
    if not r.has(GOODSET_FILE):
        return None
    entry = (m.get("models") or {}).get("goodset") or {}
    if entry.get("format") != GOODSET_FORMAT:
        raise RecipeError(
            f"{path}: good-set model format {entry.get('format')!r} is not supported by this software "
            f"(it reads {GOODSET_FORMAT!r}); update the station software or re-teach",
            key="recipe_schema_version",
        )
    try:
        model = GoodSetModel.from_bytes(r.read(GOODSET_FILE), source=f"{path}/{GOODSET_FILE}")
    except CalibrationError as exc:
        raise RecipeError(str(exc), key="recipe_bad") from exc
    if model.digest() != entry.get("digest") or model.extractor != entry.get("extractor"):
        raise RecipeError(f"{path}: the good-set model differs from what the manifest describes",
                          key="recipe_hash_mismatch")
    return model


def load_bundle(folder: str | Path) -> RecipeBundle:
    """Load and verify a bundle (read-only). Raises :class:`RecipeError` with a stable key:
    recipe_not_found, recipe_unreadable, recipe_schema, recipe_schema_version, recipe_hash_mismatch,
    recipe_file_missing, recipe_bad."""
    path = Path(folder)
    m = read_manifest(path)
    r = _Reader(path, {str(k): str(v) for k, v in m["files"].items()})
    for name in r.files:  # every listed file must be intact, used now or not
        r.read(name)
    try:
        align = params_from_dict(AlignParams, m.get("align"))
        detect = params_from_dict(DetectParams, m.get("detect"))
        scorer = Scorer.from_dict(r.json("models/scorer.json")) if r.has("models/scorer.json") else None
        roi = m.get("roi")
        goodset = _goodset(path, m, r)
        recipe = Recipe(
            str(m["name"]),
            r.image("reference.png"),
            align=align,
            detect=detect,
            roi=None if roi is None else (int(roi[0]), int(roi[1]), int(roi[2]), int(roi[3])),
            ignore=r.image("ignore.png") if r.has("ignore.png") else None,
            spread_dark=r.array("band/spread_dark.npy") if r.has("band/spread_dark.npy") else None,
            spread_bright=r.array("band/spread_bright.npy") if r.has("band/spread_bright.npy") else None,
            scorer=scorer,
            min_coverage=float(m.get("min_coverage", 1.0)),
            detector=str(m.get("detector", "classical")),
            number=int(m.get("number", 0)),
            mm_per_px=None if m.get("mm_per_px") is None else float(m["mm_per_px"]),
            goodset=goodset,
        )
        camera = (
            CameraCalibration.from_dict(r.json("camera.json"), source=str(path / "camera.json"))
            if r.has("camera.json")
            else None
        )
        scale = (
            ScaleCalibration.from_dict(r.json("scale.json"), source=str(path / "scale.json"))
            if r.has("scale.json")
            else None
        )
    except RecipeError:
        raise
    except (InspectionError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise RecipeError(f"{path}: the recipe cannot be built: {exc}", key="recipe_bad") from exc
    size = m.get("image_size")
    if size is not None and list(size) != [recipe.shape[1], recipe.shape[0]]:
        raise RecipeError(
            f"{path}: reference is {recipe.shape[1]}x{recipe.shape[0]} px, the manifest says {size}",
            key="recipe_bad",
        )
    if m.get("undistort") and camera is None:
        raise RecipeError(
            f"{path}: the recipe was taught on undistorted images but holds no camera calibration",
            key="recipe_bad",
        )
    if camera is not None and m.get("undistort") and camera.image_size != (recipe.shape[1], recipe.shape[0]):
        raise RecipeError(
            f"{path}: camera calibrated at {camera.image_size}, the reference is {recipe.shape[::-1]}",
            key="recipe_bad",
        )
    if recipe.content_hash() != m.get("recipe_hash"):
        logger.warning(
            "%s: the recipe rebuilt from the bundle hashes differently than when written (software "
            "changed how recipes are built?)",
            path,
        )
    thresholds = r.json("thresholds.json") if r.has("thresholds.json") else None
    return RecipeBundle(path, recipe, m, camera, scale, thresholds)


def load_variation(bundle: RecipeBundle) -> dict[str, np.ndarray]:
    """The taught variation model's arrays (mean, spread_dark, spread_bright), verified."""
    r = _Reader(bundle.path, {str(k): str(v) for k, v in bundle.manifest["files"].items()})
    return {Path(name).stem: r.array(name) for name in r.files if name.startswith("variation/")}
