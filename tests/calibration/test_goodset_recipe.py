"""Good-set recipes: a bundle carries the model (hashed, version-checked), the station builds the
good-set detector from it, and ``inspection teach --detector goodset`` teaches one."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.bundle import load_bundle, write_bundle
from calibration.teach_goodset import GoodSetTeachParams, teach_goodset, thresholds_data
from inspection.errors import RecipeError
from inspection.recipe.definition import Recipe
from inspection.vision.goodset import GoodSetModel, teach


def block_features(image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    h, w = f.shape[0] // 8, f.shape[1] // 8
    b = f[: h * 8, : w * 8].reshape(h, 8, w, 8)
    return np.stack([b.mean((1, 3)), b.std((1, 3))], -1)


def _part(rng: np.random.Generator, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A part with structure to align on (a frame, a bar, a hole) plus sensor noise."""
    img = np.full((120, 160), 150.0)
    img[:, :10] = img[:, -10:] = img[:10] = img[-10:] = 40.0
    img[50:58, 20:140] = 80.0
    cv2.circle(img, (110, 85), 12, 60, -1)
    img = np.roll(img, shift, axis=(0, 1))
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _model(rng: np.random.Generator, scales: tuple[tuple[int, int], ...] | None = None) -> GoodSetModel:
    return teach([_part(rng) for _ in range(8)], block_features, extractor="blocks@1", short_side=96,
                 bank_size=60, dims=2, top_k=3, folds=2, scales=scales)


@pytest.mark.parametrize("scales", [None, ((0, 1), (1, 2))], ids=["joint", "per-block"])
def test_bundle_carries_the_goodset_model(tmp_path, scales):
    rng = np.random.default_rng(0)
    model = _model(rng, scales)
    recipe = Recipe("tile", _part(rng), detector="goodset", goodset=model)
    manifest = write_bundle(recipe, tmp_path / "r")
    assert "models/goodset.npz" in manifest["files"]
    entry = manifest["models"]["goodset"]
    assert entry["extractor"] == "blocks@1" and entry["digest"] == model.digest()
    back = load_bundle(tmp_path / "r").recipe
    assert back.detector == "goodset" and back.goodset is not None
    assert back.goodset.digest() == model.digest()
    np.testing.assert_array_equal(back.goodset.bank, model.bank)
    assert [(sc.lo, sc.hi, sc.mu, sc.sd) for sc in back.goodset.scales] == \
        [(sc.lo, sc.hi, sc.mu, sc.sd) for sc in model.scales]
    for a, b in zip(back.goodset.scales, model.scales, strict=True):
        np.testing.assert_array_equal(a.bank, b.bank)
    assert back.content_hash() == recipe.content_hash()
    # another model, same everything else: another recipe hash (results name what judged them)
    other = Recipe("tile", recipe.reference, detector="goodset", goodset=_model(np.random.default_rng(5)))
    assert other.content_hash() != recipe.content_hash()


def test_goodset_recipe_needs_its_model():
    with pytest.raises(RecipeError):
        Recipe("tile", np.zeros((64, 64), np.uint8), detector="goodset")


def _writable(folder: Path) -> None:
    for p in folder.rglob("*"):
        p.chmod(0o644)


def test_tampered_or_newer_goodset_model_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    recipe = Recipe("tile", _part(rng), detector="goodset", goodset=_model(rng))
    write_bundle(recipe, tmp_path / "r")
    _writable(tmp_path / "r")
    data = bytearray((tmp_path / "r/models/goodset.npz").read_bytes())
    data[-30] ^= 0xFF
    (tmp_path / "r/models/goodset.npz").write_bytes(bytes(data))
    with pytest.raises(RecipeError) as err:
        load_bundle(tmp_path / "r")
    assert err.value.key == "recipe_hash_mismatch"

    # a model format this software does not know: refused with the version key, even when the
    # manifest was re-hashed consistently (a bundle from a newer station)
    from calibration.bundle_writer import MANIFEST, manifest_hash

    write_bundle(recipe, tmp_path / "n")
    _writable(tmp_path / "n")
    m = json.loads((tmp_path / "n" / MANIFEST).read_text())
    m["models"]["goodset"]["format"] = "inspection.vision.goodset/99"
    m["content_hash"] = manifest_hash(m)
    (tmp_path / "n" / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(RecipeError) as err:
        load_bundle(tmp_path / "n")
    assert err.value.key == "recipe_schema_version"


def test_teach_goodset_aligns_parts_and_refuses_those_that_do_not_align():
    rng = np.random.default_rng(2)
    parts: list[tuple[str, np.ndarray]] = [(f"p{i}.png", _part(rng, (int(rng.integers(-3, 4)),
                                                                      int(rng.integers(-3, 4)))))
                                           for i in range(8)]
    parts.append(("noise.png", rng.integers(0, 255, (120, 160)).astype(np.uint8)))
    parts.append(("small.png", np.zeros((40, 40), np.uint8)))
    result = teach_goodset(list(parts), GoodSetTeachParams(name="t", short_side=96, bank_size=60, dims=2,
                                                           top_k=3, folds=2), block_features,
                           extractor="blocks@1")
    status = {p.name: p.status for p in result.parts}
    assert status["noise.png"] == "unaligned" and status["small.png"] == "unreadable"
    assert result.used == 8
    assert result.recipe.detector == "goodset" and result.recipe.goodset is result.model
    assert result.model.calibration_scores.size == 8  # k-fold: every taught part gives a score
    assert result.recipe.shape == (120, 160)



@pytest.mark.parametrize("settings", [
    {"bank_knn": 3, "tile_rows": 40},  # the product's layout: a local bank, the defaults otherwise
    {"bank_knn": 0, "tile_knn": 2, "tile_prior": 0.25, "tile_prior_knn": 2, "tile_weight": 0.5,
     "highlights": 0.1, "max_patches": 3000, "top_k": 5, "bank_size": 50},
    {"bank_knn": 0, "tile_knn": 0, "highlights": 0.0, "scales": ((0, 1), (1, 2))},
], ids=["local-bank", "other-settings", "per-block-no-term"])
def test_teaching_again_like_a_model_teaches_the_same_model(settings):
    """GoodSetTeachParams.like(model, recipe) gives the settings the model was taught with: taught
    from the same parts, the same model (digest) comes back, whatever the settings were."""
    rng = np.random.default_rng(5)
    parts = [(f"p{i}.png", _part(rng)) for i in range(8)]
    params = replace(GoodSetTeachParams(name="t", short_side=96, bank_size=60, dims=2, top_k=3, folds=2,
                                        target_frr=0.05), **settings)
    first = teach_goodset(list(parts), params, block_features, extractor="blocks@1")
    assert first.model is not None
    again = GoodSetTeachParams.like(first.model, first.recipe, folds=2)
    assert again.align_parts and again.target_frr == 0.05
    second = teach_goodset(list(parts), again, block_features, extractor="blocks@1")
    assert second.model.digest() == first.model.digest()
    assert second.recipe.content_hash() == first.recipe.content_hash()


def test_cli_teaches_a_goodset_recipe_from_the_live_camera(tmp_path, monkeypatch, capsys):
    """``inspection teach --live replay --count N --detector goodset``: N parts grabbed one trigger
    each, taught, the bundle loads with its model."""
    from inspection.cli import main
    from inspection.vision import goodset

    rng = np.random.default_rng(3)
    src = tmp_path / "line"
    src.mkdir()
    for i in range(7):
        cv2.imwrite(str(src / f"p{i}.png"), _part(rng, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))))
    cv2.imwrite(str(src / "p7_noise.png"), rng.integers(0, 255, (120, 160)).astype(np.uint8))
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    rc = main(["teach", "--live", "replay", "--image-file", str(src), "--count", "8", "--detector",
               "goodset", "--out", str(tmp_path / "recipe"), "--short-side", "96", "--bank-size", "60",
               "--top-k", "3", "--folds", "2", "--save-parts", str(tmp_path / "grabbed"), "--quiet"])
    assert rc == 0
    out = capsys.readouterr()
    assert "grabbed 8 of 8 parts from replay" in out.err
    assert "7 good parts taught, 1 set aside" in out.out and "unaligned" in out.out
    assert len(list((tmp_path / "grabbed").glob("*.png"))) == 8
    bundle = load_bundle(tmp_path / "recipe")
    assert bundle.recipe.detector == "goodset" and bundle.recipe.goodset is not None
    assert bundle.thresholds is not None and bundle.thresholds["parts_used"] == 7
    odd = bundle.thresholds["most_unusual_parts"]
    assert 1 <= len(odd) <= 5 and all(o["name"].startswith("p") for o in odd)
    assert [o["score"] for o in odd] == sorted((o["score"] for o in odd), reverse=True)
    assert "least like the others" in out.out and f"  {odd[0]['name']}: held-out score" in out.out


def test_cli_teaches_a_goodset_recipe_on_undistorted_images_with_a_scale(tmp_path, monkeypatch, capsys):
    """``--camera``, ``--undistort`` and ``--scale`` work for a good-set recipe as for a golden one:
    the parts are undistorted before teaching, the bundle keeps the camera (the station then
    undistorts each frame alike) and the scale's mm per pixel."""
    from calibration.camera import CameraCalibration
    from calibration.scale import ScaleCalibration
    from inspection.cli import main
    from inspection.vision import goodset

    rng = np.random.default_rng(6)
    src = tmp_path / "good"
    src.mkdir()
    for i in range(8):
        cv2.imwrite(str(src / f"p{i}.png"), _part(rng))
    k = np.array([[150.0, 0, 80.0], [0, 150.0, 60.0], [0, 0, 1]])
    CameraCalibration(k, np.array([-0.4, 0.1, 0.0, 0.0, 0.0]), (160, 120), 0.1).save(tmp_path / "camera.json")
    ScaleCalibration(0.05, "board", undistorted=True).save(tmp_path / "scale.json")
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    common = ["teach", "--good", str(src), "--detector", "goodset", "--short-side", "96", "--bank-size", "60",
              "--top-k", "3", "--folds", "2", "--no-align", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "raw")]) == 0
    assert main([*common, "--out", str(tmp_path / "r"), "--camera", str(tmp_path / "camera.json"), "--undistort",
                 "--scale", str(tmp_path / "scale.json")]) == 0
    capsys.readouterr()
    raw, bundle = load_bundle(tmp_path / "raw"), load_bundle(tmp_path / "r")
    assert bundle.recipe.detector == "goodset" and bundle.recipe.mm_per_px == 0.05
    undistort = bundle.undistorter()
    assert undistort is not None and raw.undistorter() is None
    # the reference is the median of the undistorted parts: the raw one undistorted, not the raw one
    ref, raw_ref = bundle.recipe.reference.astype(float), raw.recipe.reference.astype(float)
    inner = (slice(20, 100), slice(20, 140))
    assert np.abs(ref - raw_ref)[inner].mean() > 3 * np.abs(ref - undistort(raw.recipe.reference))[inner].mean()
    assert main(["recipe", "show", str(tmp_path / "r")]) == 0
    assert "undistortion    on (camera file included)" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "x"), "--undistort"]) == 2
    assert "--undistort needs --camera" in capsys.readouterr().err


def test_teach_goodset_without_alignment_scales_tiles_of_other_sizes():
    rng = np.random.default_rng(4)
    parts: list[tuple[str, np.ndarray]] = [(f"t{i}.png", _part(rng)) for i in range(5)]
    parts.append(("big.png", cv2.resize(_part(rng), (200, 150))))
    result = teach_goodset(list(parts), GoodSetTeachParams(short_side=96, bank_size=40, dims=2, top_k=3,
                                                           folds=2, align_parts=False),
                           block_features, extractor="blocks@1")
    assert result.used == 6 and result.recipe.shape == (120, 160)


def test_tiles_taught_without_alignment_are_not_aligned_at_the_station(tmp_path):
    """Parts taught as acquired (tiles) make a recipe whose alignment motion is 'none' (the station
    aligning a texture to the median of others rejected every part as not aligned); the bundle keeps
    it; asking to align the parts for teaching but not at the station is refused."""
    from inspection.recipe.params import AlignParams

    rng = np.random.default_rng(5)
    parts: list[tuple[str, np.ndarray]] = [(f"t{i}.png", _part(rng)) for i in range(5)]
    params = GoodSetTeachParams(short_side=96, bank_size=40, dims=2, top_k=3, folds=2, align_parts=False)
    result = teach_goodset(list(parts), params, block_features, extractor="blocks@1")
    assert result.recipe.align.motion == "none"
    write_bundle(result.recipe, tmp_path / "r")
    back = load_bundle(tmp_path / "r").recipe
    assert back.align.motion == "none" and back.content_hash() == result.recipe.content_hash()
    with pytest.raises(RecipeError, match="choose one") as err:
        teach_goodset(list(parts), GoodSetTeachParams(short_side=96, bank_size=40, dims=2, top_k=3, folds=2,
                                                      align=AlignParams(motion="none")),
                      block_features, extractor="blocks@1")
    assert err.value.key == "recipe_bad"


def test_the_teach_report_names_a_flawed_good_part_first():
    """A "good" part with a flaw among those taught is the one least like the others: the report
    names it first (it also raises the threshold, which is why an engineer should see it)."""
    rng = np.random.default_rng(6)
    parts: list[tuple[str, np.ndarray]] = [(f"t{i}.png", _part(rng)) for i in range(9)]
    flawed = _part(rng)
    cv2.circle(flawed, (40, 90), 9, 245, -1)  # a bright blob on the plain face
    parts.insert(4, ("flawed.png", flawed))
    result = teach_goodset(parts, GoodSetTeachParams(short_side=96, bank_size=60, dims=2, top_k=3, folds=5,
                                                     align_parts=False),
                           block_features, extractor="blocks@1")
    names = [n for n, _ in result.unusual]
    assert names[0] == "flawed.png" and len(names) == 5 and len(set(names)) == 5
    scores = [v for _, v in result.unusual]
    assert scores == sorted(scores, reverse=True) and scores[0] == max(result.model.calibration_scores)


def test_teach_reports_every_held_out_image_with_its_score():
    rng = np.random.default_rng(7)
    images = [_part(rng) for _ in range(8)]
    for folds, share in ((4, 0.1), (0, 0.25)):
        held: list[tuple[int, float]] = []
        model = teach(images, block_features, extractor="b", short_side=96, bank_size=40, dims=2, top_k=3,
                      folds=folds, calibration_share=share, held_out=held)
        assert [v for _, v in held] == list(model.calibration_scores)
        idx = [i for i, _ in held]
        assert len(set(idx)) == len(idx) and set(idx) <= set(range(8))
        assert len(idx) == (8 if folds else 2)


def _texture_maker(rng: np.random.Generator) -> Callable[[], np.ndarray]:
    """New parts: fine grain, every one different."""
    def texture() -> np.ndarray:
        img = rng.normal(120, 8, (96, 128))
        return np.clip(cv2.GaussianBlur(img, (3, 3), 0), 0, 255).astype(np.uint8)
    return texture


def _shot_maker(rng: np.random.Generator, noise: float) -> Callable[[np.ndarray], np.ndarray]:
    """One image of a part: the part plus sensor noise (grey levels, standard deviation ``noise``)."""
    def shot(part: np.ndarray) -> np.ndarray:
        return np.clip(part.astype(np.float32) + rng.normal(0, noise, part.shape), 0, 255).astype(np.uint8)
    return shot


def test_several_images_of_one_part_are_calibrated_together_by_the_part_pattern():
    """Every part imaged twice (as MTD images every tile under several lights): with ``part_pattern``
    the part's images are left out together in calibration, so the threshold is not set by images
    scored against their own part's other image; a bad pattern is refused before any work."""
    from calibration.teach_goodset import part_groups

    rng = np.random.default_rng(8)
    texture, shot = _texture_maker(rng), _shot_maker(rng, 1.0)
    parts = [texture() for _ in range(15)]
    images = [(f"p{i}_{side}.png", shot(p)) for i, p in enumerate(parts) for side in "ab"]
    assert part_groups([n for n, _ in images[:3]], r"^(p\d+)_") == [("part", "p0"), ("part", "p0"), ("part", "p1")]
    assert part_groups(["other.png"], r"^(p\d+)_") == [("image", "other.png")]
    params = GoodSetTeachParams(name="twice", short_side=96, dims=2, top_k=3, align_parts=False, target_frr=0.1,
                                bank_knn=4, tile_rows=40)
    alone = teach_goodset(images, params, block_features, extractor="blocks@1").model
    by_part = teach_goodset(images, replace(params, part_pattern=r"^(p\d+)_"), block_features,
                            extractor="blocks@1").model
    assert by_part.threshold > alone.threshold
    fresh = [shot(texture()) for _ in range(40)]
    rejected = [np.mean([m.score(im, block_features)[1] > m.threshold for im in fresh]) for m in (alone, by_part)]
    assert rejected[1] < rejected[0]
    for bad in ("(p", r"^p\d+_"):  # not a regular expression; no group naming the part
        with pytest.raises(RecipeError):
            teach_goodset(images, replace(params, part_pattern=bad), block_features, extractor="blocks@1")


def test_the_teach_report_warns_when_parts_look_like_other_taught_parts():
    """A teach set taken twice per part (files p0_a, p0_b, ...): the report names look-alike pairs
    (each the other image of its part) and warns that the threshold would sit too low; named by
    ``part_pattern``, the parts are calibrated together and the warning is gone; one image per part:
    no warning."""
    rng = np.random.default_rng(9)
    texture, shot = _texture_maker(rng), _shot_maker(rng, 0.5)
    parts = [texture() for _ in range(16)]
    twice = [(f"p{i}_{side}.png", shot(p)) for i, p in enumerate(parts) for side in "ab"]
    once = [(f"p{i}.png", shot(p)) for i, p in enumerate(parts + [texture() for _ in range(16)])]
    # (rows: about a part's patches and its over-lit copy's; fewer rows match a twin more loosely)
    params = GoodSetTeachParams(name="look-alikes", short_side=96, top_k=3, align_parts=False, bank_knn=5,
                                tile_rows=200)
    taught = teach_goodset(twice, params, block_features, extractor="blocks@1")
    warning = taught.look_alike_warning()
    assert warning is not None and "--part-pattern" in warning and f"of {len(twice)} taught parts" in warning
    assert len(taught.look_alikes) >= len(twice) // 2
    assert all(a.split("_")[0] == b.split("_")[0] for a, b, _ in taught.look_alikes)
    data = thresholds_data(taught)
    assert data["look_alike_warning"] == warning and len(data["look_alike_parts"]) == len(taught.look_alikes)
    line = taught.look_alike_warning(line=True)
    assert line is not None and "same part presented more than once" in line and "--part-pattern" not in line
    named = teach_goodset(twice, replace(params, part_pattern=r"^(p\d+)_"), block_features, extractor="blocks@1")
    assert named.look_alike_warning() is None
    single = teach_goodset(once, params, block_features, extractor="blocks@1")
    assert single.look_alike_warning() is None and thresholds_data(single)["look_alike_warning"] is None


def test_cli_teach_warns_of_parts_taught_twice_and_not_once_they_are_named(tmp_path, monkeypatch, capsys):
    """``inspection teach --good DIR --detector goodset`` on a folder holding two images of every part
    prints the look-alike warning (the bundle's thresholds.json keeps it); with ``--part-pattern`` it
    does not."""
    from inspection.cli import main
    from inspection.vision import goodset

    rng = np.random.default_rng(9)
    texture, shot = _texture_maker(rng), _shot_maker(rng, 0.5)
    src = tmp_path / "good"
    src.mkdir()
    for i in range(16):
        part = texture()
        for side in "ab":
            cv2.imwrite(str(src / f"p{i}_{side}.png"), shot(part))
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    # (a 5% target: 32 parts give a threshold read from their scores, so no few-parts warning either)
    base = ["teach", "--good", str(src), "--detector", "goodset", "--no-align", "--short-side", "96",
            "--top-k", "3", "--bank-knn", "5", "--tile-rows", "200", "--target-frr", "0.05", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "r1")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: " in out and "taught parts look far more like one other taught part" in out
    assert "--part-pattern" in out
    assert load_bundle(tmp_path / "r1").thresholds["look_alike_warning"] in out
    assert main([*base, "--out", str(tmp_path / "r2"), "--part-pattern", r"^(p\d+)_"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and load_bundle(tmp_path / "r2").thresholds["look_alike_warning"] is None


def test_the_teach_report_warns_when_too_few_parts_set_the_threshold(tmp_path, monkeypatch, capsys):
    """Twelve parts for a 1% false-reject target: the threshold is the largest of 12 held-out scores,
    and the rate on new parts cannot be read from them. The report says so (and how many parts the
    target needs), thresholds.json keeps it, the CLI prints it; twelve parts for a 10% target: no
    warning."""
    from inspection.cli import main
    from inspection.vision import goodset

    rng = np.random.default_rng(4)
    texture, shot = _texture_maker(rng), _shot_maker(rng, 0.5)
    images = [(f"p{i}.png", shot(texture())) for i in range(12)]
    params = GoodSetTeachParams(name="few", short_side=96, top_k=3, align_parts=False, bank_knn=5, tile_rows=200)
    few = teach_goodset(images, params, block_features, extractor="blocks@1")
    warning = few.few_parts_warning()
    assert warning is not None and "12 held-out good scores" in warning and "about 1 in 13" in warning
    assert "needs at least 100" in warning and "at least 100 different good parts" in warning
    assert few.model.threshold == pytest.approx(float(few.model.calibration_scores.max()))
    assert thresholds_data(few)["few_parts_warning"] == warning
    enough = teach_goodset(images, replace(params, target_frr=0.1), block_features, extractor="blocks@1")
    assert enough.few_parts_warning() is None and thresholds_data(enough)["few_parts_warning"] is None

    src = tmp_path / "good"
    src.mkdir()
    for name, image in images:
        cv2.imwrite(str(src / name), image)
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    base = ["teach", "--good", str(src), "--detector", "goodset", "--no-align", "--short-side", "96",
            "--top-k", "3", "--bank-knn", "5", "--tile-rows", "200", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "r1")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: the threshold rests on 12 held-out good scores" in out
    assert load_bundle(tmp_path / "r1").thresholds["few_parts_warning"] in out
    assert main([*base, "--out", str(tmp_path / "r2"), "--target-frr", "0.1"]) == 0
    assert "WARNING" not in capsys.readouterr().out
