"""Replay, what-if and shadow of a good-set recipe: the recipe version keeps the good-set model
(goodset.npz, digest-checked), a version that lacks it or whose files changed is refused with a
clear key (never judged with another detector), replay judges with the good-set detector and
reproduces the stored verdicts, and the model's threshold (``anomaly_threshold``) is a what-if
parameter. Tiny textured tiles and a block-statistics extractor (tests/goodset_support.py) stand
in for real parts and the CNN; the results replayed are real results of the station's pipeline."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from goodset_support import goodset_recipe, inspected_tiles, use_block_features

from inspection.errors import RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.versions import GOODSET_FILE, MODELS_DIR, RecipeVersions, as_taught
from inspection.record import PartInfo, PartRecord
from inspection.result import ResultCode
from inspection.station.recipes import ANOMALY_THRESHOLD, with_thresholds
from inspection.station.replay import Candidate, Judge, run_replay
from inspection.station.shadow import ShadowRunner
from inspection.store import ResultStore, StoreConfig
from inspection.vision.goodset import GoodSetModel
from inspection.vision.synth import make_part

DEFECTS = [False, True, False, True, False, False, True, False]


@pytest.fixture(scope="module")
def recipe() -> Recipe:
    return dataclasses.replace(goodset_recipe(0), number=1)


@dataclasses.dataclass
class Stored:
    store_root: Path
    versions: RecipeVersions
    records: list[PartRecord]
    images: list[np.ndarray]
    model_hash: str


@pytest.fixture
def stored(tmp_path: Path, recipe: Recipe, monkeypatch: pytest.MonkeyPatch) -> Stored:
    """Tiles judged by the good-set recipe, stored with their images (passes too), its version kept."""
    parts = inspected_tiles(monkeypatch, recipe, DEFECTS)
    assert [r.code for r, _ in parts] == [ResultCode.NG_DEFECT if d else ResultCode.OK for d in DEFECTS]
    versions = RecipeVersions(tmp_path / "versions")
    digest = versions.keep(recipe)
    model_hash = parts[0][0].recipe_id
    assert model_hash == f"{recipe.name}@{digest[:12]}"
    records = []
    with ResultStore(StoreConfig(tmp_path / "store", save_pass_every=1)) as store:
        for k, (result, image) in enumerate(parts):
            rec = PartRecord(result, PartInfo(part_id=k + 1, recipe_number=1, model_hash=model_hash))
            assert store.submit(rec, image)
            records.append(rec)
        assert store.flush(10.0)
    return Stored(tmp_path / "store", versions, records, [img for _, img in parts], model_hash)


def _reload(versions: RecipeVersions) -> RecipeVersions:
    return RecipeVersions(versions.root)  # no cache: read from disk


def test_version_round_trip_keeps_the_goodset_model(stored: Stored, recipe: Recipe) -> None:
    folder = stored.versions.root / recipe.content_hash()
    assert (folder / GOODSET_FILE).is_file()
    meta = json.loads((folder / "recipe.json").read_text())
    assert set(meta["files"]) == {"arrays.npz", GOODSET_FILE}
    assert meta["goodset"]["digest"] == recipe.goodset.digest()
    back = _reload(stored.versions).load(stored.model_hash)
    assert back.detector == "goodset" and back.goodset is not None
    assert back.goodset.digest() == recipe.goodset.digest()
    np.testing.assert_array_equal(back.goodset.bank, recipe.goodset.bank)
    assert back.goodset.threshold == recipe.goodset.threshold
    assert back.content_hash() == recipe.content_hash()


def test_a_changed_model_file_is_refused(stored: Stored, recipe: Recipe) -> None:
    folder = stored.versions.root / recipe.content_hash()
    other = dataclasses.replace(recipe.goodset, threshold=recipe.goodset.threshold * 2)
    (folder / GOODSET_FILE).write_bytes(other.to_bytes())  # a valid model, not the one kept
    with pytest.raises(RecipeError) as err:
        _reload(stored.versions).load(stored.model_hash)
    assert err.value.key == "recipe_version_mismatch"
    # the file digest brought in line too: the rebuilt recipe's hash still gives it away
    meta = json.loads((folder / "recipe.json").read_text())
    meta["files"][GOODSET_FILE] = hashlib.sha256((folder / GOODSET_FILE).read_bytes()).hexdigest()
    (folder / "recipe.json").write_text(json.dumps(meta))
    with pytest.raises(RecipeError) as err:
        _reload(stored.versions).load(stored.model_hash)
    assert err.value.key == "recipe_version_mismatch"
    report = run_replay(stored.store_root, _reload(stored.versions))
    assert report.parts == 0 and {r.reason for r in report.refused} == {"recipe_version_mismatch"}
    assert len(report.refused) == len(DEFECTS)


def test_an_incomplete_version_is_refused_and_kept_whole_again(stored: Stored, recipe: Recipe) -> None:
    folder = stored.versions.root / recipe.content_hash()
    (folder / GOODSET_FILE).unlink()
    with pytest.raises(RecipeError) as err:
        _reload(stored.versions).load(stored.model_hash)
    assert err.value.key == "recipe_version_incomplete" and GOODSET_FILE in str(err.value)
    # as an older station kept it: recipe.json without file digests or model entry
    meta = json.loads((folder / "recipe.json").read_text())
    del meta["files"], meta["goodset"]
    (folder / "recipe.json").write_text(json.dumps(meta))
    with pytest.raises(RecipeError) as err:
        _reload(stored.versions).load(stored.model_hash)
    assert err.value.key == "recipe_version_incomplete"
    report = run_replay(stored.store_root, _reload(stored.versions))
    assert report.parts == 0 and report.same_verdict == 0 and report.changed == []  # nothing judged
    assert [r.result_id for r in report.refused] == [r.result_id for r in stored.records]
    assert {r.reason for r in report.refused} == {"recipe_version_incomplete"}
    d = report.to_dict()
    assert d["refused_count"] == len(DEFECTS) and d["refused_reasons"] == {"recipe_version_incomplete": len(DEFECTS)}
    assert "could be judged: 8 refused (recipe_version_incomplete: 8)" in d["sentence"]
    # the station keeps the version again when it runs the recipe: whole this time
    fresh = RecipeVersions(stored.versions.root)
    fresh.keep(recipe)
    assert (folder / GOODSET_FILE).is_file()
    assert _reload(stored.versions).load(stored.model_hash).goodset is not None


def test_replay_judges_with_the_goodset_detector_and_reproduces_the_verdicts(stored: Stored, recipe: Recipe,
                                                                             monkeypatch) -> None:
    use_block_features(monkeypatch)
    versions = _reload(stored.versions)
    judge = Judge(versions)
    _, detector = judge.prepared(judge.recipe_for(stored.model_hash))
    assert detector.name == "goodset"
    assert detector.model.digest() == recipe.goodset.digest()  # type: ignore[attr-defined]
    report = run_replay(stored.store_root, versions)
    assert report.refused == [] and report.unknown_recipe == 0
    assert report.parts == len(DEFECTS) and report.same_verdict == report.parts == report.same_code
    assert report.rejected_before == report.rejected_now == sum(DEFECTS)
    assert [(rid, old) for rid, old, _ in report.results] == [
        (r.result_id, r.result.verdict.value) for r in stored.records]


def test_a_missing_image_is_refused_not_dropped(stored: Stored, monkeypatch) -> None:
    use_block_features(monkeypatch)
    with ResultStore(StoreConfig(stored.store_root)) as store:
        victim = stored.records[1].result_id
        path = store.image_file(victim)
    path.unlink()
    report = run_replay(stored.store_root, _reload(stored.versions))
    assert report.parts == len(DEFECTS) - 1
    assert [(r.result_id, r.reason) for r in report.refused] == [(victim, "image_missing")]


def _scores(recipe: Recipe, images: list[np.ndarray]) -> list[float]:
    from inspection.station.recipes import make_detector

    det = make_detector(recipe)
    return [recipe.goodset.score(img, det.extract)[1] for img in images]  # type: ignore[union-attr]


def test_whatif_anomaly_threshold_changes_verdicts_as_expected(stored: Stored, recipe: Recipe, monkeypatch) -> None:
    use_block_features(monkeypatch)
    versions = _reload(stored.versions)
    scores = _scores(recipe, stored.images)
    bad = sorted(s for s, d in zip(scores, DEFECTS, strict=True) if d)
    good = sorted(s for s, d in zip(scores, DEFECTS, strict=True) if not d)
    assert good[-1] <= recipe.goodset.threshold < bad[0]
    # above every score: the rejects pass, and only they change
    high = run_replay(stored.store_root, versions, Candidate(thresholds={"anomaly_threshold": bad[-1] * 1.01}))
    assert high.refused == [] and high.rejected_now == 0
    assert high.newly_passed == len(high.changed) == sum(DEFECTS) and high.newly_rejected == 0
    # between the lowest defect score and the rest: only the parts scoring above it stay rejected
    mid = (bad[0] + bad[-1]) / 2 if bad[0] < bad[-1] else bad[0]
    expect = [s > mid for s in scores]
    between = run_replay(stored.store_root, versions, Candidate(thresholds={"anomaly_threshold": mid}))
    assert [new == "reject" for _, _, new in between.results] == expect
    # below every good part's score: every part is rejected
    low = run_replay(stored.store_root, versions, Candidate(thresholds={"anomaly_threshold": good[0] * 0.5}))
    assert low.rejected_now == len(DEFECTS) and low.newly_rejected == DEFECTS.count(False)
    assert low.candidate["thresholds"] == {"anomaly_threshold": good[0] * 0.5}


def test_anomaly_threshold_on_a_recipe_without_a_model_is_refused(tmp_path: Path, reference: np.ndarray) -> None:
    plain = Recipe("plain", reference, roi=(24, 24, 208, 208), number=1)
    versions = RecipeVersions(tmp_path / "versions")
    versions.keep(plain)
    assert with_thresholds(plain, {"anomaly_threshold": 1.0}) == plain  # the station's overrides ignore it
    img = make_part(reference.shape, seed=3, part_seed=5, noise=2.0).image
    from inspection.pipeline import inspect
    from inspection.recipe.definition import prepare

    prepared = prepare(plain)
    with ResultStore(StoreConfig(tmp_path / "store", save_pass_every=1)) as store:
        store.submit(PartRecord(inspect(prepared, img), PartInfo(recipe_number=1, model_hash=prepared.recipe_id)), img)
        assert store.flush(10.0)
    report = run_replay(tmp_path / "store", versions, Candidate(thresholds={"anomaly_threshold": 1.0}))
    assert report.parts == 0 and [r.reason for r in report.refused] == ["not_goodset"]


def test_the_shadow_judges_with_the_goodset_model_and_refuses_an_incomplete_version(
        stored: Stored, recipe: Recipe, monkeypatch) -> None:
    use_block_features(monkeypatch)
    versions = _reload(stored.versions)
    runner = ShadowRunner(stored.store_root.parent / "shadow.db", versions.load, maxsize=len(DEFECTS) + 1)
    try:
        same = runner.start(recipe_id="tiles", recipe_number=1, candidate=lambda r: r, describe={}, user="erik")
        for rec, img in zip(stored.records, stored.images, strict=True):
            assert runner.offer(rec, img)
        assert runner.wait_idle(60.0)
        assert same.seen == len(DEFECTS) and same.agreed == same.seen and same.refused == {}
        high = max(_scores(recipe, stored.images)) * 1.01
        looser = runner.start(recipe_id="tiles", recipe_number=1, describe={"anomaly_threshold": high}, user="erik",
                              candidate=lambda r: with_thresholds(r, {"anomaly_threshold": high}))
        for rec, img in zip(stored.records, stored.images, strict=True):
            assert runner.offer(rec, img)
        assert runner.wait_idle(60.0)
        assert looser.disagreed == sum(DEFECTS) and looser.errors == 0
        (stored.versions.root / recipe.content_hash() / GOODSET_FILE).unlink()
        refused = runner.start(recipe_id="tiles", recipe_number=1, candidate=lambda r: r, describe={}, user="erik")
        runner._lookup = _reload(stored.versions).load  # a fresh look at the versions (no cache)
        assert runner.offer(stored.records[0], stored.images[0])
        assert runner.wait_idle(30.0)
        assert refused.seen == 0 and refused.refused == {"recipe_version_incomplete": 1}
    finally:
        runner.close()


def test_model_round_trip_is_exact(recipe: Recipe) -> None:
    """What the version relies on: the model's archive rebuilds the same model (same digest)."""
    back = GoodSetModel.from_bytes(recipe.goodset.to_bytes())
    assert back.digest() == recipe.goodset.digest()


def _tuned(recipe: Recipe) -> list[Recipe]:
    """What engineers make of a good-set recipe: its anomaly threshold lowered, raised; the alignment's."""
    t = recipe.goodset.threshold
    return [with_thresholds(recipe, {ANOMALY_THRESHOLD: t * 0.8}), with_thresholds(recipe, {ANOMALY_THRESHOLD: t * 1.25}),
            with_thresholds(recipe, {"align_min_score": 0.2})]


def test_versions_that_differ_in_thresholds_share_one_model_file(stored: Stored, recipe: Recipe) -> None:
    """A local bank is 12 MB; every tuned threshold is a new version. The versions hold one file
    (hard links to .models/), each loads with the threshold it ran with, and removing one leaves the
    others whole."""
    versions = stored.versions
    tuned = _tuned(recipe)
    hashes = [versions.keep(r) for r in tuned]
    every = [recipe.content_hash(), *hashes]
    assert len(set(every)) == 4 and versions.hashes() == sorted(every)  # .models is not a version
    files = [versions.root / h / GOODSET_FILE for h in every]
    assert len({f.stat().st_ino for f in files}) == 1 and files[0].stat().st_nlink == 5  # 4 versions + shared
    shared = sorted((versions.root / MODELS_DIR).iterdir())
    assert [p.suffix for p in shared] == [".npz", ".sha256"] and shared[0].stat().st_ino == files[0].stat().st_ino
    # the file holds the taught threshold; recipe.json the one each version ran with
    assert GoodSetModel.load(files[0]).threshold == as_taught(recipe.goodset).threshold
    fresh = _reload(versions)
    for r, h in zip(tuned, hashes, strict=True):
        back = fresh.load(h[:12])
        assert back.content_hash() == h and back.goodset.threshold == r.goodset.threshold
        assert back.goodset.digest() == r.goodset.digest()
    assert fresh.load(stored.model_hash).goodset.threshold == recipe.goodset.threshold
    shutil.rmtree(versions.root / recipe.content_hash())
    assert _reload(versions).load(hashes[1][:12]).goodset.threshold == tuned[1].goodset.threshold
    assert files[1].stat().st_nlink == 4
    # a version kept before versions shared their models (its own threshold in its file) loads as before
    old = versions.root / hashes[0] / GOODSET_FILE
    old.unlink()
    old.write_bytes(tuned[0].goodset.to_bytes())
    meta = json.loads((old.parent / "recipe.json").read_text())
    meta["files"][GOODSET_FILE] = hashlib.sha256(old.read_bytes()).hexdigest()
    del meta["goodset"]["file_digest"]
    (old.parent / "recipe.json").write_text(json.dumps(meta))
    assert _reload(versions).load(hashes[0][:12]).goodset.digest() == tuned[0].goodset.digest()


def test_a_changed_shared_model_is_not_linked_again(stored: Stored, recipe: Recipe) -> None:
    """Bytes changed in place (they change every version linked to them): those versions are refused,
    and the next version writes a sound copy instead of linking the changed one."""
    versions = stored.versions
    kept = versions.root / recipe.content_hash() / GOODSET_FILE
    data = kept.read_bytes()
    with kept.open("r+b") as fh:  # in place: the shared file is the same inode
        fh.seek(len(data) // 2)
        fh.write(bytes(b ^ 0xFF for b in data[len(data) // 2:len(data) // 2 + 64]))
    tuned = _tuned(recipe)[0]
    h = versions.keep(tuned)
    assert (versions.root / h / GOODSET_FILE).stat().st_ino != kept.stat().st_ino
    assert _reload(versions).load(h[:12]).goodset.threshold == tuned.goodset.threshold
    with pytest.raises(RecipeError) as err:
        _reload(versions).load(stored.model_hash)
    assert err.value.key == "recipe_version_mismatch"


def test_without_hard_links_every_version_holds_its_own_copy(stored: Stored, recipe: Recipe,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links are not supported on this file system")

    monkeypatch.setattr(os, "link", no_links)
    tuned = _tuned(recipe)[1]
    h = stored.versions.keep(tuned)
    own = stored.versions.root / h / GOODSET_FILE
    assert own.stat().st_nlink == 1
    assert _reload(stored.versions).load(h[:12]).goodset.digest() == tuned.goodset.digest()
