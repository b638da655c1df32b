"""Writing recipe bundles (the format: :mod:`calibration.bundle`)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.camera import CameraCalibration
from calibration.scale import ScaleCalibration
from inspection.errors import ConfigError, RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import params_to_dict
from inspection.vision.goodset import FORMAT as GOODSET_FORMAT

SCHEMA = "inspection-recipe"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
GOODSET_FILE = "models/goodset.npz"


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def manifest_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest without its ``content_hash`` (canonical JSON)."""
    return hashlib.sha256(_canonical({k: v for k, v in manifest.items() if k != "content_hash"})).hexdigest()


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RecipeError("cannot encode an image as PNG")
    return buf.tobytes()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array, np.float32), allow_pickle=False)
    return out.getvalue()


@dataclass(frozen=True)
class BundleContent:
    """What goes into a bundle besides the recipe (all optional)."""

    variation: dict[str, np.ndarray] | None = None  # name -> float32 array
    variation_params: dict[str, Any] | None = None
    thresholds: dict[str, Any] | None = None
    plot_png: bytes | None = None
    camera: CameraCalibration | None = None
    scale: ScaleCalibration | None = None
    undistort: bool = False
    teach: dict[str, Any] | None = None  # summary of the teaching run


def write_bundle(
    recipe: Recipe, folder: str | Path, content: BundleContent | None = None, *, overwrite: bool = False
) -> dict[str, Any]:
    """Write ``recipe`` as a bundle (atomically: a temporary folder renamed into place; the files
    are made read-only). Refuses to replace an existing folder unless ``overwrite``. Returns the
    manifest."""
    content = content or BundleContent()
    out = Path(folder)
    if out.exists() and not overwrite:
        raise RecipeError(f"{out} already exists (choose another folder, or overwrite)", key="recipe_exists")
    if content.undistort and content.camera is None:
        raise ConfigError("undistortion needs a camera calibration", field="undistort")
    files: dict[str, bytes] = {"reference.png": _png(recipe.reference)}
    if recipe.ignore is not None:
        files["ignore.png"] = _png(np.where(recipe.ignore > 0, 255, 0).astype(np.uint8))
    if recipe.spread_dark is not None:
        files["band/spread_dark.npy"] = _npy(recipe.spread_dark)
    if recipe.spread_bright is not None:
        files["band/spread_bright.npy"] = _npy(recipe.spread_bright)
    for name, arr in (content.variation or {}).items():
        files[f"variation/{name}.npy"] = _npy(arr)
    if content.thresholds is not None:
        files["thresholds.json"] = json.dumps(content.thresholds, indent=1).encode()
    if content.plot_png is not None:
        files["score_distribution.png"] = content.plot_png
    if content.camera is not None:
        files["camera.json"] = json.dumps(content.camera.to_dict(), indent=2).encode()
    if content.scale is not None:
        files["scale.json"] = json.dumps(content.scale.to_dict(), indent=2).encode()
    if recipe.goodset is not None:
        files[GOODSET_FILE] = recipe.goodset.to_bytes()
    if recipe.scorer is not None:
        files["models/scorer.json"] = json.dumps(recipe.scorer.to_dict(), indent=2).encode()
    h, w = recipe.shape
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": recipe.name,
        "number": recipe.number,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "image_size": [w, h],
        "roi": None if recipe.roi is None else list(recipe.roi),
        "min_coverage": recipe.min_coverage,
        "detector": recipe.detector,
        "align": params_to_dict(recipe.align),
        "detect": params_to_dict(recipe.detect),
        "mm_per_px": recipe.mm_per_px,
        "undistort": content.undistort,
        "variation": content.variation_params,
        "models": {"scorer": "models/scorer.json" if recipe.scorer is not None else None,
                   **({} if recipe.goodset is None else {"goodset": {
                       "file": GOODSET_FILE, "format": GOODSET_FORMAT,
                       "extractor": recipe.goodset.extractor, "digest": recipe.goodset.digest(),
                       "threshold": recipe.goodset.threshold, "frr": recipe.goodset.frr}})},
        "teach": content.teach,
        "recipe_hash": recipe.content_hash(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest["content_hash"] = manifest_hash(manifest)
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            p = tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            p.chmod(0o444)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RecipeError(f"cannot write the bundle {out}: {exc}", key="recipe_write_failed") from exc
    os.chmod(out, 0o755)
    return manifest
