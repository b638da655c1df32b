"""Good-set mode in the station pipeline: taught from good parts, a defect rejects, a good part passes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspection.errors import DetectorError
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.result import ResultCode
from inspection.vision.detector import detectors
from inspection.vision.goodset import teach
from plugins.detectors.patch_features import OnnxPatchFeatures


def _pitted_tile(rng: np.random.Generator) -> np.ndarray:
    """A tile with a dark pit (radius 7 px at (100, 35)): the defect every test plants."""
    img = _tile(rng)
    cv2.circle(img, (100, 35), 7, 10, -1)
    return img


def _tile(rng: np.random.Generator) -> np.ndarray:
    """A tile: dark edges, a light gradient and a groove (so it can be aligned) plus fine texture."""
    img = np.full((128, 160), 120.0) + np.linspace(-15, 15, 160)[None, :]
    img[:, :12] = img[:, -12:] = 40.0
    img[60:64, 12:-12] -= 30.0
    img += rng.normal(0, 4, img.shape)
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    rng = np.random.default_rng(0)
    extract = OnnxPatchFeatures(device="cpu")
    model = teach([_tile(rng) for _ in range(12)], extract, extractor=extract.name, short_side=128,
                  bank_size=400, top_k=3, frr=0.0, calibration_share=0.25)
    path = tmp_path_factory.mktemp("gs") / "model.npz"
    model.save(path)
    return path, rng


def test_defect_rejects_and_good_part_passes(taught):
    path, rng = taught
    det = detectors.create("goodset", path, device="cpu")
    assert det.providers == ("CPUExecutionProvider",)
    reference = _tile(rng)
    prepared = prepare(Recipe("tile", reference, roi=(8, 8, 144, 112)))
    good = inspect(prepared, _tile(rng), detector=det)
    assert good.code is ResultCode.OK, good.message
    bad_img = _pitted_tile(rng)
    bad = inspect(prepared, bad_img, detector=det)
    assert bad.code is ResultCode.NG_DEFECT, bad.message
    top = bad.reported[0]
    assert top.box[0] - 8 <= 100 <= top.box[2] + 8 and top.box[1] - 8 <= 35 <= top.box[3] + 8
    assert 0.5 <= top.score <= 1.0
    if top.contour is not None:  # the outline of the anomalous region, for the HMI's overlay
        cx, cy = top.contour[:, 0], top.contour[:, 1]
        assert cx.min() >= top.box[0] - 1 and cx.max() <= top.box[2] and cy.min() >= top.box[1] - 1
    # the result carries the anomaly map (the store keeps it, the HMI draws it): above the model's
    # threshold at the defect, not on the rest of the tile
    from inspection.vision.heatmap import THRESHOLD_LEVEL

    hm = bad.heat_map
    assert hm is not None and hm.kind == "anomaly" and hm.levels.shape == (128, 160)
    above = hm.levels >= THRESHOLD_LEVEL
    ys, xs = np.nonzero(above)
    assert xs.min() <= 100 <= xs.max() and ys.min() <= 35 <= ys.max() and above.mean() < 0.25
    py, px = np.unravel_index(int(np.argmax(hm.levels)), hm.levels.shape)
    assert np.hypot(px - 100, py - 35) < 12  # the peak on the defect (the CNN's reach blurs it)
    assert good.heat_map is not None and (good.heat_map.levels >= THRESHOLD_LEVEL).mean() < 0.02


def test_bad_model_files(tmp_path):
    with pytest.raises(DetectorError):
        detectors.create("goodset", tmp_path / "missing.npz", device="cpu")
    corrupt = tmp_path / "bad.npz"
    corrupt.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DetectorError):
        detectors.create("goodset", corrupt, device="cpu")


def test_defect_outside_the_roi_is_ignored(taught):
    path, rng = taught
    det = detectors.create("goodset", path, device="cpu")
    reference = _tile(rng)
    prepared = prepare(Recipe("tile", reference, roi=(8, 88, 144, 32)))  # the bottom quarter only
    bad_img = _tile(rng)
    cv2.circle(bad_img, (100, 28), 6, 10, -1)  # near the top, beyond the features' reach
    assert inspect(prepare(Recipe("tile", reference, roi=(8, 8, 144, 112))), bad_img,
                   detector=det).code is ResultCode.NG_DEFECT
    assert inspect(prepared, bad_img, detector=det).code is ResultCode.OK


def test_model_of_another_extractor_version_is_refused(taught):
    from dataclasses import replace

    from inspection.vision.goodset import GoodSetModel

    path, _ = taught
    model = GoodSetModel.load(path)
    old = replace(model, extractor=model.extractor.split("@")[0] + "@1.0.0-blocks4+7")
    with pytest.raises(DetectorError) as err:
        detectors.create("goodset", old, device="cpu")
    assert err.value.key == "model_mismatch"


def test_station_builds_the_goodset_detector_from_the_recipe(taught):
    from inspection.station.recipes import make_detector
    from inspection.vision.goodset import GoodSetModel

    path, rng = taught
    recipe = Recipe("tile", _tile(rng), roi=(8, 8, 144, 112), detector="goodset",
                    goodset=GoodSetModel.load(path))
    det = make_detector(recipe)
    assert det.name == "goodset"
    prepared = prepare(recipe)
    assert inspect(prepared, _tile(rng), detector=det).code is ResultCode.OK
    bad_img = _pitted_tile(rng)
    assert inspect(prepared, bad_img, detector=det).code is ResultCode.NG_DEFECT


def test_a_local_bank_model_judges_in_the_station(tmp_path):
    """A model with a local bank (each part against the patches of its 4 nearest taught parts, chosen
    by the image-level descriptor of the inspected area, as taught) in the station's pipeline: a good
    part passes, a defect rejects with the map's peak on it."""
    from inspection.vision.goodset import GoodSetModel

    rng = np.random.default_rng(0)
    extract = OnnxPatchFeatures(device="cpu")
    roi = (8, 8, 144, 112)
    inspected = np.zeros((128, 160), np.uint8)
    inspected[roi[1]:roi[1] + roi[3], roi[0]:roi[0] + roi[2]] = 255
    model = teach([_tile(rng) for _ in range(16)], extract, extractor=extract.name, short_side=128,
                  top_k=3, frr=0.0, tile_knn=3, bank_knn=4, tile_rows=60, inspect=inspected)
    assert model.bank_knn == 4 and model.bank.shape[0] == 16 * 60
    path = tmp_path / "model.npz"
    model.save(path)
    det = detectors.create("goodset", path, device="cpu")
    assert GoodSetModel.load(path).digest() == model.digest()
    prepared = prepare(Recipe("tile", _tile(rng), roi=roi))
    for _ in range(3):
        good = inspect(prepared, _tile(rng), detector=det)
        assert good.code is ResultCode.OK, good.message
    bad_img = _pitted_tile(rng)
    bad = inspect(prepared, bad_img, detector=det)
    assert bad.code is ResultCode.NG_DEFECT, bad.message
    hm = bad.heat_map
    assert hm is not None
    py, px = np.unravel_index(int(np.argmax(hm.levels)), hm.levels.shape)
    assert np.hypot(px - 100, py - 35) < 12


def test_the_heat_map_the_station_stores_points_at_the_defect(taught):
    """The map the result carries (what the HMI draws) is the side-evened map of a model taught now
    (``display_map``): its hottest point lies on the pit, not on the tile's dark sides."""
    from inspection.vision.goodset import GoodSetModel

    path, rng = taught
    assert len(GoodSetModel.load(path).edge_norm) == 8
    det = detectors.create("goodset", path, device="cpu")
    prepared = prepare(Recipe("tile", _tile(rng), roi=(8, 8, 144, 112)))
    bad = inspect(prepared, _pitted_tile(rng), detector=det)
    heat = bad.heat_map
    assert bad.code is ResultCode.NG_DEFECT and heat is not None and heat.kind == "anomaly"
    y, x = np.unravel_index(int(np.argmax(heat.levels)), heat.levels.shape)
    sy, sx = heat.ref_shape[0] / heat.levels.shape[0], heat.ref_shape[1] / heat.levels.shape[1]
    assert abs((x + 0.5) * sx - 100) <= 12 and abs((y + 0.5) * sy - 35) <= 12
