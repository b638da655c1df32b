"""Good-set mode core: threshold at a false-reject rate, AUROC, coreset, teaching and scoring."""

from __future__ import annotations

import io
import itertools
import json
import zipfile

import cv2
import numpy as np
import pytest

from inspection.errors import CalibrationError
from inspection.vision.goodset import (
    LOOK_ALIKE_SHARE,
    UNRECORDED_TEACH_SETTINGS,
    GoodSetModel,
    auroc,
    brighten_to_clip,
    prepare_image,
    resize_short,
    teach,
    threshold_at_frr,
    threshold_for,
    threshold_robust,
    tile_descriptor,
)
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances


def block_features(image: np.ndarray) -> np.ndarray:
    """A small real feature extractor: mean and standard deviation of 8x8 blocks."""
    f = image.astype(np.float32)
    h, w = f.shape[0] // 8, f.shape[1] // 8
    blocks = f[: h * 8, : w * 8].reshape(h, 8, w, 8)
    return np.stack([blocks.mean((1, 3)), blocks.std((1, 3))], -1)


def texture(rng: np.random.Generator, shape: tuple[int, int] = (96, 128)) -> np.ndarray:
    img = rng.normal(120, 8, shape)
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0), 0, 255).astype(np.uint8)


def test_threshold_at_frr_rejects_at_most_that_share_of_good_parts():
    scores = np.arange(1, 101, dtype=float)  # 100 good parts
    for frr in (0.0, 0.01, 0.05, 0.1, 0.333):
        thr = threshold_at_frr(scores, frr)
        rejected = float((scores > thr).mean())
        assert rejected <= frr + 1e-12
        # and it is the smallest such threshold: one score lower would reject more
        lower = scores[scores < thr]
        if lower.size:
            assert float((scores > lower.max()).mean()) > frr
    assert threshold_at_frr(scores, 0.0) == 100.0
    assert threshold_at_frr([3.0], 0.5) == 3.0


@pytest.mark.parametrize("frr", [-0.1, 1.0, float("nan")])
def test_threshold_refuses_bad_rates(frr):
    with pytest.raises(CalibrationError):
        threshold_at_frr([1.0, 2.0], frr)


def test_threshold_needs_scores():
    with pytest.raises(CalibrationError):
        threshold_at_frr([], 0.01)


def test_robust_threshold_is_the_normal_quantile_and_odd_parts_do_not_move_it():
    rng = np.random.default_rng(5)
    scores = rng.normal(26.0, 1.0, 2000)
    # on many normal scores it agrees with the empirical 1% quantile (z = 2.326)
    assert threshold_robust(scores, 0.01) == pytest.approx(26.0 + 2.326, abs=0.15)
    assert threshold_robust(scores, 0.01) == pytest.approx(threshold_at_frr(scores, 0.01), abs=0.2)
    # 109 held-out parts, two of them odd (e.g. a scratched "good" tile and its near-duplicate): the
    # empirical 1% threshold is the second-largest score, i.e. the odd parts; the robust one is not
    few = np.concatenate([rng.normal(26.0, 1.0, 107), [32.1, 32.0]])
    assert threshold_at_frr(few, 0.01) == pytest.approx(32.0)
    robust = threshold_robust(few, 0.01)
    assert 27.5 < robust < 29.5
    assert threshold_robust(np.concatenate([few, [80.0, 90.0]]), 0.01) == pytest.approx(robust, abs=0.2)
    # the upper spread: right-skewed scores get a higher threshold than their mirror image
    skew = rng.gamma(2.0, 1.0, 500)
    assert threshold_robust(skew, 0.01) > threshold_robust(-skew + 2 * np.median(skew), 0.01)


def test_robust_threshold_falls_back_to_the_empirical_rule():
    few = [1.0, 2.0, 3.0, 10.0]  # fewer than 8 scores: no fit
    assert threshold_robust(few, 0.01) == threshold_at_frr(few, 0.01) == 10.0
    many = list(np.arange(20.0))
    assert threshold_robust(many, 0.0) == 19.0  # frr 0: the largest
    assert threshold_for(many, 0.05, "empirical") == threshold_at_frr(many, 0.05)
    assert threshold_for(many, 0.05, "robust") == threshold_robust(many, 0.05)
    with pytest.raises(CalibrationError):
        threshold_for(many, 0.05, "guess")
    with pytest.raises(CalibrationError):
        threshold_robust(many, 1.0)
    with pytest.raises(CalibrationError):
        threshold_robust(many, float("nan"))


def test_auroc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 6, 40).astype(float)  # many ties
    y = rng.integers(0, 2, 40)
    pos, neg = s[y == 1], s[y == 0]
    want = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)])
    assert auroc(s, y) == pytest.approx(want)
    assert auroc([1, 2, 3], [0, 1, 1]) == 1.0
    assert auroc([3, 2, 1], [0, 1, 1]) == 0.0
    assert np.isnan(auroc([1, 2], [1, 1]))


def test_coreset_covers_every_cluster():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [50, 50]], float)
    sizes = [500, 5, 5, 5, 300]  # rare clusters must still be represented
    pts = np.concatenate([c + rng.normal(0, 1, (n, 2)) for c, n in zip(centres, sizes, strict=True)])
    idx = coreset(pts.astype(np.float32), 5, project=0)
    chosen = pts[idx]
    for c in centres:
        assert np.min(np.linalg.norm(chosen - c, axis=1)) < 5
    assert len(set(idx.tolist())) == 5
    assert np.array_equal(coreset(pts.astype(np.float32), 5000), np.arange(len(pts)))


def test_nearest_distances_are_exact():
    rng = np.random.default_rng(1)
    q, b = rng.normal(size=(50, 7)).astype(np.float32), rng.normal(size=(30, 7)).astype(np.float32)
    want = np.sqrt(((q[:, None] - b[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(nearest_distances(q, b, chunk=7), want, rtol=1e-4, atol=1e-4)


def test_resize_short_keeps_aspect_and_multiples():
    img = np.zeros((300, 448), np.uint8)  # 448 * 2/3 = 298.7 -> 304 (multiple of 16)
    out = resize_short(img, 200)
    assert out.shape == (192, 304)  # 200 / 16 = 12.5 rounds to 12 (to even)
    assert out.shape[0] % 16 == 0 and out.shape[1] % 16 == 0


def test_teach_then_anomaly_scores_defect_above_threshold(tmp_path):
    rng = np.random.default_rng(7)
    goods = [texture(rng) for _ in range(24)]
    model = teach(goods, block_features, extractor="blocks", short_side=96, bank_size=200, frr=0.0,
                  seed=1, top_k=1, calibration_share=0.2)
    assert model.calibration_scores.size == 5  # 20% of 24 held out
    assert model.threshold == pytest.approx(model.calibration_scores.max())
    assert model.threshold_rule == "empirical"
    fresh_good = texture(rng)
    bad = texture(rng)
    cv2.circle(bad, (60, 40), 6, 20, -1)  # a dark blow-hole
    amap = model.anomaly_map(bad, block_features)
    assert amap.shape == (12, 16)
    peak = np.unravel_index(np.argmax(amap), amap.shape)
    assert abs(peak[0] - 40 // 8) <= 1 and abs(peak[1] - 60 // 8) <= 1
    assert model.image_score(amap) > model.threshold
    assert model.image_score(model.anomaly_map(fresh_good, block_features)) < model.image_score(amap)

    path = tmp_path / "m.npz"
    model.save(path)
    again = GoodSetModel.load(path)
    assert again.threshold == model.threshold and again.short_side == 96
    assert again.map_sigma == model.map_sigma and again.digest() == model.digest()
    assert again.threshold_rule == "empirical"
    assert GoodSetModel.from_bytes(model.to_bytes()).digest() == model.digest()
    assert again.image_score(again.anomaly_map(bad, block_features)) == pytest.approx(
        model.image_score(amap))


def test_teach_refuses_too_few_images():
    with pytest.raises(CalibrationError):
        teach([np.zeros((64, 64), np.uint8)], block_features, extractor="x")


def test_teach_sets_the_threshold_by_the_rule_asked_for():
    rng = np.random.default_rng(11)
    goods = [texture(rng, (48, 64)) for _ in range(30)]
    kw = dict(extractor="blocks", short_side=48, bank_size=100, frr=0.05, seed=2, top_k=3, folds=3)
    empirical = teach(goods, block_features, **kw)
    robust = teach(goods, block_features, threshold_rule="robust", **kw)
    np.testing.assert_array_equal(robust.calibration_scores, empirical.calibration_scores)
    assert robust.threshold == pytest.approx(threshold_robust(robust.calibration_scores, 0.05))
    assert empirical.threshold == pytest.approx(threshold_at_frr(empirical.calibration_scores, 0.05))
    assert (robust.threshold_rule, empirical.threshold_rule) == ("robust", "empirical")
    assert robust.digest() != empirical.digest()
    with pytest.raises(CalibrationError):
        teach(goods, block_features, threshold_rule="median", **kw)


def test_a_model_file_without_a_threshold_rule_reads_as_empirical():
    rng = np.random.default_rng(12)
    model = teach([texture(rng, (48, 64)) for _ in range(10)], block_features, extractor="blocks",
                  short_side=48, bank_size=50, seed=0, threshold_rule="robust")
    buf = io.BytesIO(model.to_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "meta.npy":
                meta = json.loads(str(np.load(io.BytesIO(data))))
                del meta["threshold_rule"]  # as written before the rule existed
                b = io.BytesIO()
                np.save(b, np.array(json.dumps(meta)))
                data = b.getvalue()
            zout.writestr(item, data)
    old = GoodSetModel.from_bytes(out.getvalue())
    assert model.threshold_rule == "robust"
    assert old.threshold_rule == "empirical" and old.threshold == model.threshold
    # an empirical model's settings (and so its digest, checked by bundles and recipe versions)
    # are what they were before the rule existed
    assert "threshold_rule" not in old.meta()
    assert GoodSetModel.from_bytes(old.to_bytes()).digest() == old.digest()



def _with_meta(model: GoodSetModel, edit) -> bytes:
    """The model's archive with its settings edited by ``edit(meta)`` (as another version wrote it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(model.to_bytes())) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "meta.npy":
                meta = json.loads(str(np.load(io.BytesIO(data))))
                edit(meta)
                b = io.BytesIO()
                np.save(b, np.array(json.dumps(meta)))
                data = b.getvalue()
            zout.writestr(item, data)
    return out.getvalue()


def test_a_model_records_the_teach_settings_its_arrays_do_not_show_when_not_the_defaults():
    rng = np.random.default_rng(13)
    goods = [texture(rng, (48, 64)) for _ in range(10)]
    kw = dict(extractor="blocks", short_side=48, bank_size=50, seed=0, folds=2, tile_knn=2)
    default = teach(goods, block_features, tile_prior=0.5, highlights=0.3, max_patches=200_000, **kw)
    other = teach(goods, block_features, tile_prior=0.25, highlights=0.1, max_patches=5000, tile_weight=0.5, **kw)
    # taught at the values every model carried before they were recorded: nothing recorded, so the
    # digests of models taught before (checked by bundles and recipe versions) stay what they were
    assert default.taught == () and "teach" not in default.meta()
    assert {k: default.teach_setting(k) for k in UNRECORDED_TEACH_SETTINGS} == UNRECORDED_TEACH_SETTINGS
    assert other.meta()["teach"] == {"highlights": 0.1, "max_patches": 5000.0, "tile_prior": 0.25,
                                     "tile_weight": 0.5}
    again = GoodSetModel.from_bytes(other.to_bytes())
    assert again.digest() == other.digest() != default.digest()
    assert {k: again.teach_setting(k) for k in UNRECORDED_TEACH_SETTINGS} == {
        "tile_weight": 0.5, "tile_prior": 0.25, "highlights": 0.1, "max_patches": 5000}
    # settings that did not apply read 0: no prior without the image-level term, no pool with a local bank
    plain = teach(goods, block_features, tile_prior=0.25, **dict(kw, tile_knn=0))
    assert plain.teach_setting("tile_prior") == plain.teach_setting("tile_weight") == 0.0
    assert dict(plain.taught) == {"highlights": 0.0, "max_patches": 1e6}  # teach()'s own defaults
    with pytest.raises(KeyError):
        other.teach_setting("bank_size")
    # a newer version's setting is kept (so its digest, which its bundle checks, is the same), a bad one refused
    newer = GoodSetModel.from_bytes(_with_meta(other, lambda m: m["teach"].update(flow_blocks=8)))
    assert dict(newer.taught)["flow_blocks"] == 8 and GoodSetModel.from_bytes(newer.to_bytes()).digest() == newer.digest()
    with pytest.raises(CalibrationError, match="teach settings"):
        GoodSetModel.from_bytes(_with_meta(other, lambda m: m["teach"].update(tile_weight=float("nan"))))
    with pytest.raises(CalibrationError):
        GoodSetModel.from_bytes(_with_meta(other, lambda m: m.update(teach={"tile_weight": "heavy"})))

def test_loading_a_corrupt_model_is_a_calibration_error(tmp_path):
    bad = tmp_path / "m.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(CalibrationError):
        GoodSetModel.load(bad)
    with pytest.raises(CalibrationError):
        GoodSetModel.load(tmp_path / "missing.npz")


def test_anomaly_map_refuses_features_of_another_extractor():
    rng = np.random.default_rng(0)
    model = teach([texture(rng) for _ in range(4)], block_features, extractor="blocks", short_side=96,
                  bank_size=50)
    with pytest.raises(CalibrationError):
        model.anomaly_map(texture(rng), lambda img: np.zeros((2, 2, 5), np.float32))


def test_contrast_normalisation_removes_gain_and_offset():
    from inspection.vision.goodset import normalise_contrast

    rng = np.random.default_rng(2)
    img = np.clip(rng.normal(120, 30, (96, 128)), 0, 255).astype(np.float32)
    dim = np.clip(img * 0.6 + 15, 0, 255).astype(np.uint8)
    bright = np.clip(img * 1.3 - 20, 0, 255).astype(np.uint8)
    a, b = normalise_contrast(dim).astype(int), normalise_contrast(bright).astype(int)
    assert np.abs(a - b).mean() < 4 and np.abs(dim.astype(int) - bright.astype(int)).mean() > 20
    assert normalise_contrast(dim, "none") is dim
    with pytest.raises(CalibrationError):
        normalise_contrast(dim, "histogram")


def _model(top_k: int) -> GoodSetModel:
    return GoodSetModel(np.zeros((1, 2), np.float32), np.zeros(2, np.float32), np.eye(2, dtype=np.float32),
                        1.0, 0.01, 64, "x", np.zeros(0), "none", top_k)


def test_image_score_is_the_mean_of_the_top_k_patches():
    amap = np.array([[0.0, 5.0, 1.0], [9.0, 2.0, 7.0]])
    assert _model(3).image_score(amap) == pytest.approx((9 + 7 + 5) / 3)
    assert _model(1).image_score(amap) == 9.0
    assert _model(100).image_score(amap) == pytest.approx(amap.mean())


def test_projection_keeps_the_main_directions():
    rng = np.random.default_rng(5)
    # 3-D data that lies (almost) in the plane spanned by (1, 1, 0) and (0, 0, 1)
    a, b = rng.normal(size=(2, 2000))
    x = np.stack([a, a, b * 0.5], 1) + rng.normal(0, 0.01, (2000, 3)) + 4.0
    mean, comp = fit_projection(x.astype(np.float32), 2)
    assert comp.shape == (3, 2)
    np.testing.assert_allclose(mean, [4, 4, 4], atol=0.1)
    back = ((x - mean) @ comp) @ comp.T + mean  # reconstruction from 2 components
    assert np.abs(back - x).max() < 0.1
    _, eye = fit_projection(x.astype(np.float32), 8)
    assert np.array_equal(eye, np.eye(3, dtype=np.float32))


def test_model_refuses_a_projection_that_does_not_fit():
    with pytest.raises(CalibrationError):
        GoodSetModel(np.zeros((4, 3), np.float32), np.zeros(5, np.float32), np.zeros((5, 2), np.float32),
                     1.0, 0.01, 64, "x", np.zeros(0))


def test_pixel_map_upsamples_and_keeps_the_peak_in_place():
    from inspection.vision.goodset import pixel_map

    amap = np.zeros((12, 16), np.float32)
    amap[3, 10] = 5.0  # patch (row 3, column 10) of a stride-8 map
    full = pixel_map(amap, (96, 128))
    assert full.shape == (96, 128)
    y, x = np.unravel_index(np.argmax(full), full.shape)
    assert abs(y - (3 * 8 + 4)) <= 4 and abs(x - (10 * 8 + 4)) <= 4
    assert full.max() < 5.0  # blurred
    assert pixel_map(amap, (96, 128), sigma=0).max() == pytest.approx(5.0, rel=0.3)


def test_heat_map_blur_is_in_patches_whatever_the_image_size():
    from dataclasses import replace

    rng = np.random.default_rng(2)
    model = teach([texture(rng) for _ in range(6)], block_features, extractor="blocks", short_side=96,
                  bank_size=50, top_k=1)
    amap = np.zeros((12, 16), np.float32)
    amap[6, 8] = 1.0
    small, large = model.heat_map(amap, (96, 128)), model.heat_map(amap, (192, 256))
    assert small.shape == (96, 128) and large.shape == (192, 256)
    # the same map, twice the image size: the same shape of blur, at twice the scale
    np.testing.assert_allclose(cv2.resize(large, (128, 96), interpolation=cv2.INTER_AREA) / large.max(),
                               small / small.max(), atol=0.05)
    sharp = replace(model, map_sigma=1.0).heat_map(amap, (96, 128))
    y, x = np.unravel_index(np.argmax(sharp), sharp.shape)
    assert abs(y - 52) <= 4 and abs(x - 68) <= 4
    wider = replace(model, map_sigma=2 * model.map_sigma).heat_map(amap, (96, 128))
    assert wider.max() < small.max()


def test_kfold_calibration_scores_every_good_image_with_a_bank_that_did_not_see_it():
    rng = np.random.default_rng(11)
    goods = [texture(rng) for _ in range(12)]
    goods[5] = np.full_like(goods[5], 120)  # one odd good part: flat, unlike every other one
    model = teach(goods, block_features, extractor="blocks", short_side=96, bank_size=100, frr=0.0,
                  folds=4, top_k=1, seed=2)
    assert model.calibration_scores.size == 12
    # the odd part was scored by banks that never saw it, so it stands out and sets the threshold ...
    ordered = np.sort(model.calibration_scores)
    assert ordered[-1] > 5 * ordered[-2] and model.threshold == ordered[-1]
    # ... while the final bank was taught from every image, the odd one included
    assert model.image_score(model.anomaly_map(goods[5], block_features)) < model.threshold
    with pytest.raises(CalibrationError, match="4-fold"):
        teach(goods[:3], block_features, extractor="blocks", folds=4)


def test_per_block_banks_add_their_distances_in_units_of_their_held_out_spread(tmp_path):
    rng = np.random.default_rng(21)
    goods = [texture(rng) for _ in range(24)]
    kw = dict(extractor="blocks", short_side=96, bank_size=200, seed=1, top_k=3, folds=3)
    joint = teach(goods, block_features, **kw)
    model = teach(goods, block_features, scales=((0, 1), (1, 2)), **kw)
    assert joint.scales == () and model.scales and [(sc.lo, sc.hi) for sc in model.scales] == [(0, 1), (1, 2)]
    assert model.channels == 2 and model.feature_channels == 2
    assert model.bank is model.scales[0].bank
    # each slice's distances are put in units of its held-out images' score spread: the held-out
    # good images' per-slice scores have mean 0 and spread 1 by construction
    assert all(sc.sd > 0 for sc in model.scales)
    assert model.calibration_scores.size == 24
    assert model.threshold == pytest.approx(threshold_at_frr(model.calibration_scores, model.frr))
    # the map is the sum of the slices' scaled distances
    feats = block_features(prepare_image(goods[0], 96, model.contrast)).reshape(-1, 2)
    want = sum((nearest_distances((feats[:, sc.lo:sc.hi] - sc.mean) @ sc.components, sc.bank) - sc.mu) / sc.sd
               for sc in model.scales)
    np.testing.assert_allclose(model.anomaly_map(goods[0], block_features).ravel(), want, rtol=1e-4, atol=1e-4)
    # a defect still stands out above the threshold, where it is
    bad = texture(rng)
    cv2.circle(bad, (60, 40), 6, 20, -1)
    amap = model.anomaly_map(bad, block_features)
    peak = np.unravel_index(np.argmax(amap), amap.shape)
    assert abs(peak[0] - 40 // 8) <= 1 and abs(peak[1] - 60 // 8) <= 1
    assert model.image_score(amap) > model.threshold
    assert model.image_score(model.anomaly_map(texture(rng), block_features)) < model.image_score(amap)
    # saved and read back: same settings, arrays, digest and maps; the digest differs from the joint model's
    path = tmp_path / "m.npz"
    model.save(path)
    again = GoodSetModel.load(path)
    assert again.digest() == model.digest() != joint.digest()
    assert [(sc.lo, sc.hi, sc.mu, sc.sd) for sc in again.scales] == [(sc.lo, sc.hi, sc.mu, sc.sd) for sc in model.scales]
    np.testing.assert_array_equal(again.anomaly_map(bad, block_features), amap)
    # features of another extractor (3 channels) are refused, as for a joint model
    with pytest.raises(CalibrationError):
        model.anomaly_map(bad, lambda im: np.zeros((im.shape[0] // 8, im.shape[1] // 8, 3), np.float32))


@pytest.mark.parametrize("scales", [((0, 3),), ((1, 1),), ((-1, 1),), ()])
def test_teach_refuses_feature_slices_that_do_not_fit(scales):
    rng = np.random.default_rng(2)
    with pytest.raises(CalibrationError):
        teach([texture(rng, (48, 64)) for _ in range(4)], block_features, extractor="b", short_side=48,
              bank_size=20, scales=scales)


def test_the_image_level_term_raises_a_part_whose_texture_changed_everywhere(tmp_path):
    """The image-level term (pooled features of the nearest taught images) adds to the patches'
    score in their units; it is 0 on average over the held-out good images, so the patch banks and
    the mean calibration score stay those of the model without it."""
    rng = np.random.default_rng(31)
    goods = [texture(rng) for _ in range(30)]
    kw = dict(extractor="blocks", short_side=96, bank_size=200, seed=3, top_k=3, folds=3)
    plain = teach(goods, block_features, **kw)
    model = teach(goods, block_features, tile_knn=3, **kw)
    assert plain.tile is None and model.tile is not None
    assert (model.tile.lo, model.tile.hi, model.tile.k) == (0, 2, 3)  # not effnet-lite0: every channel
    assert model.tile.tiles.shape == (30, 4) and model.tile.scale > 0
    np.testing.assert_array_equal(model.bank, plain.bank)  # the same patch bank
    assert model.calibration_scores.mean() == pytest.approx(plain.calibration_scores.mean(), rel=1e-9)
    assert model.threshold == pytest.approx(threshold_at_frr(model.calibration_scores, model.frr))
    # the term's held-out level: every taught part's mean distance to its 3 nearest *other* taught
    # parts (leave-one-out among all of them, as an inspected part meets them all, not the
    # (k-1)/k of a calibration fold, which lie farther apart)
    t = model.tile.tiles.astype(np.float64)
    d = np.sqrt(((t[:, None] - t[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert model.tile.mu == pytest.approx(float(np.sort(d, 1)[:, :3].mean()), rel=1e-5)
    # a part whose surface grain is a little coarser everywhere (the contrast stretch takes out a mere
    # change of its spread): few patches stand out, its pooled features do; a fresh good part's
    # term is small
    fresh = texture(rng)
    rough = np.clip(cv2.GaussianBlur(rng.normal(120, 8, (96, 128)), (5, 5), 0), 0, 255).astype(np.uint8)
    terms = {}
    for name, img in (("fresh", fresh), ("rough", rough)):
        amap, score = model.score(img, block_features)
        terms[name] = score - model.image_score(amap)
        feats = model.features(img, block_features)
        assert model.part_score(model.patch_map(feats, block_features), feats) == pytest.approx(score)
    assert terms["rough"] > 3 * max(abs(terms["fresh"]), 1e-6)
    # the patches alone pass the coarser part; with the image-level term it is rejected
    assert plain.score(rough, block_features)[1] <= plain.threshold
    assert model.score(rough, block_features)[1] > model.threshold
    assert model.score(fresh, block_features)[1] <= model.threshold
    # only the inspected patches are pooled: half the rough part covered by a good one's surface
    half = fresh.copy()
    half[:, 64:] = rough[:, 64:]
    feats = model.features(half, block_features)
    amap = model.patch_map(feats, block_features)
    cover = np.zeros(amap.shape, np.float32)
    cover[:, : amap.shape[1] // 2] = 1.0
    assert model.part_score(amap, feats, cover) - model.image_score(amap) < model.part_score(amap, feats) - model.image_score(amap)
    # saved and read back; a model without the term keeps the settings (and digest) it had before
    path = tmp_path / "m.npz"
    model.save(path)
    again = GoodSetModel.load(path)
    assert again.digest() == model.digest() != plain.digest()
    assert again.score(rough, block_features)[1] == pytest.approx(model.score(rough, block_features)[1])
    assert "tile" in model.meta() and "tile" not in plain.meta()
    assert GoodSetModel.from_bytes(plain.to_bytes()).tile is None
    with pytest.raises(CalibrationError):
        teach(goods, block_features, tile_knn=-1, **kw)


def striped(rng: np.random.Generator, amplitude: float = 6.0) -> np.ndarray:
    """Another kind of good part: the texture with machining grooves of random pitch and phase."""
    x = np.arange(128)
    grooves = amplitude * np.sin(2 * np.pi * x / rng.uniform(9, 15) + rng.uniform(0, 2 * np.pi))
    return np.clip(texture(rng).astype(np.float32) + grooves[None, :], 0, 255).astype(np.uint8)


def test_the_prior_judges_a_kind_of_good_part_that_scores_high_against_its_own_kind(tmp_path):
    """With ``tile_prior``, half of the nearest taught parts' own held-out scores (above their mean)
    comes off a part's score: grooved good parts, whose held-out scores run high, no longer set
    the threshold for smooth ones, so a defect on a smooth part stands further above it."""
    rng = np.random.default_rng(2)
    goods = [texture(rng) for _ in range(24)] + [striped(rng) for _ in range(8)]
    kw = dict(extractor="blocks", short_side=96, bank_size=200, seed=3, top_k=3, folds=4, tile_knn=3)
    held_plain: list[tuple[int, float]] = []
    held: list[tuple[int, float]] = []
    plain = teach(goods, block_features, held_out=held_plain, **kw)
    model = teach(goods, block_features, tile_prior=0.5, tile_prior_knn=5, held_out=held, **kw)
    assert plain.tile is not None and plain.tile.prior is None
    assert model.tile is not None and model.tile.prior is not None
    np.testing.assert_array_equal(model.bank, plain.bank)  # the same banks and image-level terms
    np.testing.assert_array_equal(model.tile.tiles, plain.tile.tiles)
    # the prior: half of every taught part's held-out score above their mean
    own = dict(held_plain)
    scores = np.array([own[i] for i in range(len(goods))])
    np.testing.assert_allclose(np.sort(model.tile.prior), np.sort(0.5 * (scores - scores.mean())), atol=1e-5)
    # each calibration score loses the mean prior of its 5 nearest other taught parts
    tile = model.tile
    for i, score in held:
        d = tile_descriptor(model.features(goods[i], block_features), tile.lo, tile.hi)
        row = int(np.argmin(np.abs(tile.tiles - (d - tile.center) / tile.spread).sum(1)))
        idx, _ = tile.nearest(d, exclude=row, k=tile.prior_knn)
        assert row not in idx and len(idx) == 5
        assert score == pytest.approx(own[i] - float(tile.prior[idx].mean()), abs=1e-6)
    assert model.threshold == pytest.approx(threshold_at_frr(model.calibration_scores, model.frr))
    # the grooved kind held the highest scores; with the prior the threshold is lower, new grooved
    # parts score lower, new smooth ones a little higher, and a small defect on a smooth part stands
    # further above the threshold
    assert max(own, key=own.get) >= 24
    assert model.threshold < plain.threshold
    grooved = [striped(rng) for _ in range(10)]
    smooth = [texture(rng) for _ in range(10)]
    delta = {name: np.mean([model.score(im, block_features)[1] - plain.score(im, block_features)[1] for im in ims])
             for name, ims in (("grooved", grooved), ("smooth", smooth))}
    assert delta["grooved"] < 0 < delta["smooth"]
    bad = texture(rng)
    cv2.circle(bad, (60, 40), 3, 80, -1)
    assert model.score(bad, block_features)[1] - model.threshold > plain.score(bad, block_features)[1] - plain.threshold
    # saved and read back: same scores; the prior shows in the settings and the digest
    path = tmp_path / "m.npz"
    model.save(path)
    again = GoodSetModel.load(path)
    assert again.digest() == model.digest() != plain.digest()
    np.testing.assert_array_equal(again.tile.prior, model.tile.prior)
    assert again.score(bad, block_features)[1] == pytest.approx(model.score(bad, block_features)[1])
    assert model.meta()["tile"][5] == 5 and len(plain.meta()["tile"]) == 5
    # settings and arrays that do not fit are refused, not scored without the prior
    with np.load(io.BytesIO(model.to_bytes())) as z:
        arrays = {k: z[k] for k in z.files}
    for drop, meta in (("tile_prior", model.meta()), (None, plain.meta())):
        broken = {k: v for k, v in arrays.items() if k != drop} | {"meta": np.array(json.dumps(meta))}
        buf = io.BytesIO()
        np.savez(buf, **broken)
        with pytest.raises(CalibrationError):
            GoodSetModel.from_bytes(buf.getvalue())
    # without k-fold calibration there are no held-out scores of the taught parts: no prior
    assert teach(goods, block_features, **(kw | {"folds": 0}), tile_prior=0.5).tile.prior is None
    for bad_share in (-0.1, 1.5, float("nan")):
        with pytest.raises(CalibrationError):
            teach(goods, block_features, tile_prior=bad_share, **kw)
    with pytest.raises(CalibrationError):
        teach(goods, block_features, tile_prior=0.5, tile_prior_knn=0, **kw)


def test_brighten_to_clip_saturates_about_that_share_of_the_pixels():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 200, (96, 128)).astype(np.uint8)  # grey levels spread: shares can be met
    for share in (0.02, 0.1, 0.3):
        lit = brighten_to_clip(img, share)
        assert lit.dtype == np.uint8 and lit.shape == img.shape
        assert abs(float((lit == 255).mean()) - share) < 0.02
        assert np.all(np.diff(lit.ravel()[np.argsort(img.ravel(), kind="stable")].astype(int)) >= 0)  # order kept
    np.testing.assert_array_equal(brighten_to_clip(img, 0.0), img)
    white = np.full((8, 8), 255, np.uint8)
    np.testing.assert_array_equal(brighten_to_clip(white, 0.2), white)  # nothing to brighten


def test_teaching_parts_also_over_lit_keeps_an_over_lit_good_part_good():
    """With ``highlights``, every taught part also enters the patch pool over-lit: a good part whose
    light clips (flat white patches where the texture was) is no longer far from every taught patch,
    while a real defect still stands out."""
    rng = np.random.default_rng(9)
    goods = [texture(rng) for _ in range(24)]
    # the patch bank is what the copies change (the image-level descriptors stay the parts' own:
    # with these two-channel block features the pooled statistics of a clipped part stay far off)
    kw = dict(extractor="blocks", short_side=96, bank_size=300, seed=3, top_k=3, folds=3)
    plain = teach(goods, block_features, **kw)
    model = teach(goods, block_features, highlights=0.3, **kw)
    with_term = teach(goods, block_features, highlights=0.3, tile_knn=3, **kw)
    np.testing.assert_array_equal(with_term.tile.tiles, teach(goods, block_features, tile_knn=3, **kw).tile.tiles)
    over_lit = [brighten_to_clip(texture(rng), float(share)) for share in (0.05, 0.1, 0.15, 0.2)]
    ratio = {name: [m.score(im, block_features)[1] / m.threshold for im in over_lit]
             for name, m in (("plain", plain), ("model", model))}
    assert max(ratio["plain"]) > 1.0  # taught as the parts were, clipped light looks like a defect
    assert max(ratio["model"]) <= 1.0 and np.mean(ratio["model"]) < np.mean(ratio["plain"])
    bad = texture(rng)
    cv2.circle(bad, (60, 40), 6, 20, -1)
    assert model.score(bad, block_features)[1] > model.threshold
    assert model.score(texture(rng), block_features)[1] <= model.threshold
    for bad_share in (-0.1, 1.0, float("nan")):
        with pytest.raises(CalibrationError):
            teach(goods, block_features, highlights=bad_share, **kw)


def test_the_image_level_term_describes_taught_parts_by_the_inspected_area_only():
    """With the recipe's inspected area (``inspect``), taught parts are described by the patches the
    station pools when it inspects (half inspected or more): what lies outside the ROI, different on
    every part, moves neither the taught descriptors nor an inspected part's term."""
    rng = np.random.default_rng(41)

    def part(outside: int) -> np.ndarray:
        img = texture(rng)
        img[:, 64:] = np.clip(texture(rng)[:, 64:].astype(int) + outside, 0, 255).astype(np.uint8)
        return img

    goods = [part(int(rng.integers(-60, 60))) for _ in range(24)]
    mask = np.zeros((96, 128), np.uint8)
    mask[:, :64] = 255  # the ROI: the left half
    kw = dict(extractor="blocks", short_side=96, bank_size=200, seed=3, top_k=3, folds=3, tile_knn=3)
    model = teach(goods, block_features, inspect=mask, **kw)
    unmasked = teach(goods, block_features, **kw)
    odd = part(120)  # a good inside the ROI, far off outside it
    terms = {}
    for name, m in (("masked", model), ("unmasked", unmasked)):
        feats = m.features(odd, block_features)
        amap = m.patch_map(feats, block_features)
        cover = cv2.resize((mask > 0).astype(np.float32), (amap.shape[1], amap.shape[0]),
                           interpolation=cv2.INTER_AREA)
        amap = np.where(cover >= 0.5, amap, 0.0)  # as the detector masks it
        terms[name] = m.part_score(amap, feats, cover) - m.image_score(amap)
        assert m.tile is not None
    assert model.tile.scale > 0
    # taught on the ROI, the odd outside does not count; taught on whole parts, the pooled ROI looks
    # unlike every taught description (which mixed in the varying outside)
    assert abs(terms["masked"]) < abs(terms["unmasked"])


def grooved_patch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth part with a 32 x 40 px area of machining grooves: normal on grooved parts, a
    defect (a scratched area) on a smooth one."""
    out = image.astype(np.float32)
    x = np.arange(40)
    out[30:62, 40:80] += 6.0 * np.sin(2 * np.pi * x / 12.0 + rng.uniform(0, 2 * np.pi))[None, :]
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_local_bank_judges_a_part_against_the_taught_parts_that_look_like_it(tmp_path):
    """With ``bank_knn``, a part's patches are compared with the patches of its nearest taught parts
    (image-level descriptor) only. Grooves are normal on grooved parts; one coreset of all taught
    patches then also accepts a grooved area on a smooth part, the local bank of smooth parts does
    not. Calibration is leave-one-out: every taught part scored against its nearest *other* parts."""
    rng = np.random.default_rng(4)
    goods = [texture(rng) for _ in range(20)] + [striped(rng) for _ in range(10)]
    kw = dict(extractor="blocks", short_side=96, seed=3, top_k=3, tile_knn=3)
    held: list[tuple[int, float]] = []
    model = teach(goods, block_features, bank_knn=4, tile_rows=40, held_out=held, **kw)
    whole = teach(goods, block_features, folds=3, bank_size=400, **kw)
    assert model.bank_knn == 4 and whole.bank_knn == 0 and whole.bank_offsets is None
    off = model.bank_offsets
    assert off is not None and off.shape == (31,) and off[0] == 0 and off[-1] == model.bank.shape[0]
    assert np.diff(off).max() == model.tile_rows == 40  # every part keeps a coreset of 40 rows
    # calibration: each taught part against the rows of its 4 nearest other parts (its held-out
    # score: the patches' top-3 plus the image-level term at its leave-one-out distance)
    tile = model.tile
    assert tile is not None and len(held) == 30 and tile.prior is None
    for i, score in held:
        feats = model.features(goods[i], block_features)
        d = tile_descriptor(feats, tile.lo, tile.hi)
        row = int(np.argmin(np.abs(tile.tiles - (d - tile.center) / tile.spread).sum(1)))
        idx, dist = tile.nearest(d, exclude=row, k=4)
        assert row not in idx
        rows = np.concatenate([model.bank[off[j]:off[j + 1]] for j in idx])
        patches = nearest_distances((feats.reshape(-1, 2) - model.mean) @ model.components, rows)
        expect = np.sort(patches)[-3:].mean() + tile.scale * (dist[:3].mean() - tile.mu)
        assert score == pytest.approx(expect, rel=1e-4)
    assert model.threshold == pytest.approx(threshold_at_frr(model.calibration_scores, model.frr))
    # an inspected part meets the rows of its 4 nearest taught parts, not the whole bank
    fresh = texture(rng)
    bank, sq = model.local_bank(model.features(fresh, block_features))
    assert bank.shape[0] == 160 < model.bank.shape[0] and sq.shape == (160,)
    # the grooved area on a smooth part: the local bank rejects it, the whole bank does not
    scratched = [grooved_patch(texture(rng), rng) for _ in range(6)]
    ratio = {name: [m.score(im, block_features)[1] / m.threshold for im in scratched]
             for name, m in (("local", model), ("whole", whole))}
    assert min(ratio["local"]) > 1.0
    assert np.mean(ratio["local"]) > np.mean(ratio["whole"])
    for m in (model, whole):  # new good parts of both kinds pass
        assert all(m.score(im, block_features)[1] <= m.threshold for im in [texture(rng), striped(rng)])
    # saved and read back: same digest and scores; the local bank's k is the settings' seventh entry
    path = tmp_path / "m.npz"
    model.save(path)
    again = GoodSetModel.load(path)
    assert again.digest() == model.digest() != whole.digest()
    np.testing.assert_array_equal(again.bank_offsets, off)
    with np.load(path) as z:  # every part's rows: stored as float16, read back as the same values
        assert z["bank"].dtype == np.float16
    np.testing.assert_array_equal(again.bank, model.bank)
    assert again.score(scratched[0], block_features)[1] == pytest.approx(model.score(scratched[0], block_features)[1])
    assert model.meta()["tile"][5:] == [0, 4] and len(whole.meta()["tile"]) == 5
    # settings and arrays that do not fit are refused, not scored with the whole bank
    with np.load(io.BytesIO(model.to_bytes())) as z:
        arrays = {k: z[k] for k in z.files}
    newer = dict(model.meta(), tile=[*model.meta()["tile"], 1])
    for drop, meta in (("bank_offsets", model.meta()), (None, newer)):
        broken = {k: v for k, v in arrays.items() if k != drop} | {"meta": np.array(json.dumps(meta))}
        buf = io.BytesIO()
        np.savez(buf, **broken)
        with pytest.raises(CalibrationError):
            GoodSetModel.from_bytes(buf.getvalue())
    # a local bank needs the image-level descriptors and one bank of all channels
    for bad in (dict(kw, tile_knn=0), dict(kw, scales=((0, 1), (1, 2))), dict(kw, tile_rows=0)):
        with pytest.raises(CalibrationError):
            teach(goods, block_features, bank_knn=4, **bad)
    with pytest.raises(CalibrationError):
        teach(goods, block_features, bank_knn=-1, **kw)


def test_calibration_by_part_keeps_the_images_of_one_part_together():
    """Parts imaged twice (as MTD images every tile under several lights): calibrated image by image,
    each image is scored against the other image of its own part (leave-one-out, or in another
    k-fold fold) and the threshold comes out too low for new parts. With ``groups`` the images of a
    part are left out together, and new parts are rejected near the target rate."""
    rng = np.random.default_rng(6)

    def shot(part: np.ndarray) -> np.ndarray:  # one image of a part: a little sensor noise
        return np.clip(part.astype(np.float32) + rng.normal(0, 1.0, part.shape), 0, 255).astype(np.uint8)

    parts = [texture(rng) for _ in range(15)]
    images = [shot(p) for p in parts for _ in range(2)]
    groups = [g for g in range(15) for _ in range(2)]
    fresh = [shot(texture(rng)) for _ in range(40)]
    base = dict(extractor="blocks", short_side=96, seed=3, top_k=3, tile_knn=3, frr=0.1)
    for kw in (dict(bank_knn=4, tile_rows=40), dict(folds=3, bank_size=300)):
        alone = teach(images, block_features, **base, **kw)
        by_part = teach(images, block_features, groups=groups, **base, **kw)
        rejected = {name: np.mean([m.score(im, block_features)[1] > m.threshold for im in fresh])
                    for name, m in (("alone", alone), ("by part", by_part))}
        assert by_part.threshold > alone.threshold
        assert rejected["by part"] <= 0.1 < rejected["alone"]
        np.testing.assert_array_equal(by_part.bank, alone.bank)  # the banks do not change
    with pytest.raises(CalibrationError):
        teach(images, block_features, groups=groups[:-1], **base, bank_knn=4)
    with pytest.raises(CalibrationError):  # a held-out share has no calibration by part
        teach(images, block_features, groups=groups, **base)


def test_images_of_one_part_taught_as_several_parts_are_reported_as_look_alikes():
    """Teach sets taken several times per part (a part presented twice, a tile under two lights)
    calibrate the threshold too low for new parts. With a local bank, teach reports every image whose
    patches lie far closer to one other taught image than to the rest of its nearest ones, and which:
    the other image of its part. One image per part: a chance pair at most, below the share that warns;
    the model is the same either way."""
    rng = np.random.default_rng(9)

    def shot(part: np.ndarray) -> np.ndarray:
        return np.clip(part.astype(np.float32) + rng.normal(0, 0.5, part.shape), 0, 255).astype(np.uint8)

    parts = [texture(rng) for _ in range(16)]
    twice = [shot(p) for p in parts for _ in range(2)]
    once = [shot(p) for p in parts] + [shot(texture(rng)) for _ in range(16)]
    kw = dict(extractor="blocks", short_side=96, seed=3, top_k=3, tile_knn=3, bank_knn=5, tile_rows=40)
    found: list[tuple[int, int, float]] = []
    model = teach(twice, block_features, look_alikes=found, **kw)
    assert model.digest() == teach(twice, block_features, **kw).digest()
    assert len(found) >= 0.5 * len(twice)  # (a part's rows are a coreset: its twin matches them loosely)
    assert all(i // 2 == j // 2 and i != j for i, j, _ in found)  # the other image of its own part
    ratios = [r for _, _, r in found]
    assert ratios == sorted(ratios) and max(ratios) < 0.7
    none: list[tuple[int, int, float]] = []
    teach(once, block_features, look_alikes=none, **kw)
    assert len(none) < LOOK_ALIKE_SHARE * len(once) <= len(found)  # (a chance pair or two: no warning)
    grouped: list[tuple[int, int, float]] = []  # the parts named: only chance pairs of other parts left
    teach(twice, block_features, look_alikes=grouped, groups=[i // 2 for i in range(len(twice))], **kw)
    assert all(i // 2 != j // 2 for i, j, _ in grouped) and len(grouped) < LOOK_ALIKE_SHARE * len(twice)


def test_side_rings_count_patches_from_the_inspected_regions_side():
    from inspection.vision.goodset import EDGE_RINGS, side_rings

    rings = side_rings((9, 10))
    assert EDGE_RINGS == 4 and rings.shape == (9, 10)
    assert rings[0].tolist() == [0] * 10 and rings[:, -1].tolist() == [0] * 9
    assert rings[1, 1] == 1 and rings[2, 5] == 2 and rings[4, 4] == 3 and rings.max() == 3
    cover = np.ones((9, 10), np.float32)
    cover[:, :4] = 0.2  # the left four columns are not inspected: the region's side moves
    inside = side_rings((9, 10), cover)
    assert inside[:, :4].max() == 0 and inside[4, 4] == 0 and inside[4, 5] == 1 and inside[4, 6] == 2
    assert inside[4, 8] == 1  # (the map's own side, two columns on)


def test_the_shown_map_takes_each_side_ring_to_the_inner_rings_level():
    """Good parts' side patches lie farther from the bank (the part's edge, its chamfer): a side patch
    at its ring's usual level must not outshine a defect inside. The shown map takes every ring to
    the inner ring's level and spread; inner patches keep their values (the threshold keeps its
    meaning), and the verdict's score never uses it."""
    from dataclasses import replace

    from inspection.vision.goodset import side_rings

    plain = _model(3)
    model = replace(plain, edge_norm=(3.0, 2.0, 1.5, 1.0, 1.0, 0.5, 0.3, 0.2))
    rng = np.random.default_rng(0)
    ring = side_rings((10, 12))
    mu = np.array(model.edge_norm[:4])[ring]
    sd = np.array(model.edge_norm[4:])[ring]
    amap = (mu + sd * rng.normal(0, 1, (10, 12)).clip(-1.5, 1.5)).astype(np.float32)
    amap[0, 0] = 4.8  # a side patch 1.8 spreads above its ring: as good parts' sides go
    amap[5, 6] = 2.2  # an inner patch 6 spreads above the inner ring: the defect
    assert np.unravel_index(int(np.argmax(amap)), amap.shape) == (0, 0)
    shown = model.display_map(amap)
    assert np.unravel_index(int(np.argmax(shown)), shown.shape) == (5, 6)
    np.testing.assert_allclose(shown[ring == 3], amap[ring == 3], rtol=1e-6)
    assert shown[0, 0] == pytest.approx(1.0 + 0.2 * 1.8)
    assert plain.display_map(amap) is amap  # a model taught before it: shown as it is
    assert model.image_score(amap) == plain.image_score(amap)  # the verdict's score: the map as it is
    # carried by the model file; models without it keep their digests
    again = GoodSetModel.from_bytes(model.to_bytes())
    assert again.edge_norm == model.edge_norm and again.digest() == model.digest() != plain.digest()
    assert "edge_norm" not in plain.meta()
    with pytest.raises(CalibrationError, match="side-ring"):
        replace(plain, edge_norm=(1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0))
    with pytest.raises(CalibrationError, match="side-ring"):
        GoodSetModel.from_bytes(_with_meta(model, lambda m: m.update(edge_norm=[1.0, 2.0])))


def test_teaching_measures_each_side_rings_level_on_the_held_out_maps():
    """The rings' levels come from the taught images' held-out maps (what teaching calibrates on):
    parts whose outer patches are rough score higher there, and the model records it."""
    from inspection.vision.goodset import side_ring_levels

    rng = np.random.default_rng(5)

    def rough_sides(img: np.ndarray) -> np.ndarray:
        out = img.astype(np.float32)
        for sl in ((slice(0, 8), slice(None)), (slice(-8, None), slice(None)),
                   (slice(None), slice(0, 8)), (slice(None), slice(-8, None))):
            out[sl] += rng.normal(0, float(rng.uniform(5, 40)), out[sl].shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    goods = [rough_sides(texture(rng)) for _ in range(16)]
    model = teach(goods, block_features, extractor="blocks", short_side=96, bank_size=300, folds=4, top_k=3,
                  contrast="none")
    mu, sd = model.edge_norm[:4], model.edge_norm[4:]
    assert len(model.edge_norm) == 8 and mu[0] > 1.5 * mu[3] and min(sd) > 0
    assert model.meta()["edge_norm"] == list(model.edge_norm)
    # too little to say (a ring without spread): nothing recorded, the map is shown as it is
    assert side_ring_levels([np.ones((6, 6), np.float32)], [None]) == ()
