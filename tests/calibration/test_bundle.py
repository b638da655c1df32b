"""Recipe bundles: round trip, versioning, tamper refusal, read-only files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from calibration.bundle import BundleContent, load_bundle, load_variation, manifest_hash, write_bundle
from calibration.camera import CameraCalibration
from calibration.production import production_part
from calibration.teach import TeachParams, teach
from calibration.teach_report import bundle_content
from inspection.errors import ConfigError, RecipeError
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams

SHAPE = (160, 160)


@pytest.fixture(scope="module")
def taught():
    images = [(f"p{i:02d}.png", production_part(SHAPE, design=5, index=i).image) for i in range(12)]
    return teach(
        images, TeachParams(name="clip", number=42, detect=DetectParams(material="bright"), mm_per_px=0.02)
    )


@pytest.fixture()
def bundle(tmp_path: Path, taught) -> Path:
    out = tmp_path / "clip"
    write_bundle(taught.recipe, out, bundle_content(taught))
    return out


def _make_writable(folder: Path) -> None:
    for p in folder.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


def test_round_trip_gives_the_same_recipe_and_verdicts(bundle: Path, taught):
    b = load_bundle(bundle)
    r = b.recipe
    assert r.content_hash() == taught.recipe.content_hash() == b.manifest["recipe_hash"]
    assert (r.name, r.number, r.mm_per_px, r.roi) == ("clip", 42, 0.02, taught.recipe.roi)
    assert b.thresholds is not None and b.thresholds["choice"]["threshold"] == taught.threshold.threshold
    assert len(b.thresholds["scores"]) == len(taught.good)
    part = production_part(SHAPE, design=5, index=99).image
    a, c = inspect(prepare(taught.recipe), part), inspect(prepare(r), part)
    assert a.code == c.code and a.recipe_id == c.recipe_id
    v = load_variation(b)
    assert set(v) == {"mean", "spread_dark", "spread_bright"} and np.array_equal(
        v["mean"], taught.variation.mean
    )
    assert (bundle / "score_distribution.png").stat().st_size > 1000


def test_files_are_written_read_only(bundle: Path):
    for p in bundle.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o222 == 0, p


def test_a_modified_file_is_refused(bundle: Path):
    _make_writable(bundle)
    ref = bundle / "reference.png"
    data = bytearray(ref.read_bytes())
    data[-20] ^= 0x01  # one bit in the image data
    ref.write_bytes(bytes(data))
    with pytest.raises(RecipeError) as err:
        load_bundle(bundle)
    assert err.value.key == "recipe_hash_mismatch" and "reference.png" in str(err.value)


def test_a_modified_band_file_is_refused(bundle: Path):
    _make_writable(bundle)
    p = bundle / "band" / "spread_dark.npy"
    arr = np.load(p)
    arr[10, 10] += 50  # a wider band where a defect would be
    np.save(p, arr)
    with pytest.raises(RecipeError, match=r"spread_dark\.npy"):
        load_bundle(bundle)


def test_an_edited_manifest_is_refused(bundle: Path):
    _make_writable(bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    m["detect"]["threshold"] = 0.9  # a hand-edited, far less sensitive threshold
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RecipeError) as err:
        load_bundle(bundle)
    assert err.value.key == "recipe_hash_mismatch" and "manifest" in str(err.value)


def test_an_unknown_schema_version_is_refused(bundle: Path):
    _make_writable(bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    m["schema_version"] = 2
    m["content_hash"] = manifest_hash(m)  # consistent, just newer
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RecipeError) as err:
        load_bundle(bundle)
    assert err.value.key == "recipe_schema_version" and "2" in str(err.value)


def test_missing_and_foreign_files(bundle: Path, tmp_path: Path):
    _make_writable(bundle)
    (bundle / "thresholds.json").unlink()
    with pytest.raises(RecipeError) as err:
        load_bundle(bundle)
    assert err.value.key == "recipe_file_missing"
    with pytest.raises(RecipeError) as err:
        load_bundle(tmp_path / "nowhere")
    assert err.value.key == "recipe_not_found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError) as err:
        load_bundle(tmp_path / "empty")
    assert err.value.key == "recipe_not_found"


def test_a_file_list_pointing_outside_the_bundle_is_refused(bundle: Path):
    _make_writable(bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    m["files"]["../../etc/passwd"] = "0" * 64
    m["content_hash"] = manifest_hash(m)
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RecipeError) as err:
        load_bundle(bundle)
    assert err.value.key == "recipe_bad"


def test_existing_folder_is_not_overwritten_unless_asked(bundle: Path, taught):
    with pytest.raises(RecipeError) as err:
        write_bundle(taught.recipe, bundle)
    assert err.value.key == "recipe_exists"
    write_bundle(taught.recipe, bundle, overwrite=True)
    assert load_bundle(bundle).thresholds is None  # the new, plain content


def test_undistortion_travels_with_the_camera(tmp_path: Path, camera):
    ref = production_part((camera.size[1], camera.size[0]), design=2, index=0).image
    recipe = Recipe("cam", ref)
    cal = CameraCalibration(camera.matrix, camera.dist, camera.size, 0.1)
    with pytest.raises(ConfigError):
        write_bundle(recipe, tmp_path / "a", BundleContent(undistort=True))
    write_bundle(recipe, tmp_path / "b", BundleContent(camera=cal, undistort=True))
    b = load_bundle(tmp_path / "b")
    und = b.undistorter()
    assert und is not None and np.allclose(b.camera.matrix, camera.matrix)  # type: ignore[union-attr]
    assert und(ref).shape == ref.shape
    write_bundle(recipe, tmp_path / "c", BundleContent(camera=cal))
    assert load_bundle(tmp_path / "c").undistorter() is None
