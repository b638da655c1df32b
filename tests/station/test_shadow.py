"""The shadow runner on its own: real inspections with a candidate, real SQLite. A burst of parts
never blocks the producer (the station's publishing thread): what does not fit the bounded queue
is dropped and counted; disagreements are stored and survive a restart."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.recipe.versions import RecipeVersions
from inspection.record import PartInfo, PartRecord
from inspection.station.recipes import with_thresholds
from inspection.station.shadow import ShadowRunner
from inspection.vision.synth import KINDS, make_part


@pytest.fixture
def setup(tmp_path: Path, reference: np.ndarray):
    recipe = Recipe("shadowed", reference, detect=DetectParams(material="bright"), roi=(24, 24, 208, 208),
                    number=3)
    versions = RecipeVersions(tmp_path / "versions")
    versions.keep(recipe)
    prepared = prepare(recipe)
    parts = []
    for k in range(12):
        defects = (KINDS[k % len(KINDS)],) if k % 2 else ()
        img = make_part(reference.shape, seed=3, part_seed=50 + k, defects=defects, defect_size=5.0,
                        dx=2.0, dy=-1.0, noise=2.0).image
        live = inspect(prepared, img)
        parts.append((PartRecord(live, PartInfo(recipe_number=3, model_hash=prepared.recipe_id)), img))
    runner = ShadowRunner(tmp_path / "shadow.db", versions.load, maxsize=2)
    yield runner, parts, tmp_path
    runner.close()


def _candidate(base: Recipe) -> Recipe:
    return with_thresholds(base, {"threshold": 1.0, "min_area_px": 400})  # passes small defects


def test_a_burst_never_blocks_and_what_does_not_fit_is_dropped(setup) -> None:
    runner, parts, _ = setup
    runner.start(recipe_id="shadowed", recipe_number=3, candidate=_candidate, describe={"t": 1}, user="erik")
    offered = parts * 5
    worst = 0.0
    for record, img in offered:
        t0 = time.perf_counter()
        runner.offer(record, img)
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 0.005  # never waits for the shadow's inspection (tens of ms each)
    assert runner.wait_idle(60.0)
    run = runner.run
    assert run is not None
    assert run.dropped >= len(offered) // 2 and run.seen + run.dropped == len(offered)
    assert run.seen == run.agreed + run.disagreed


def test_disagreements_are_stored_and_survive_a_restart(setup) -> None:
    runner, parts, tmp_path = setup
    run = runner.start(recipe_id="shadowed", recipe_number=3, candidate=_candidate, describe={"t": 1}, user="erik")
    for record, img in parts:
        runner.offer(record, img)
        assert runner.wait_idle(30.0)  # one at a time: nothing dropped
    live_rejects = sum(r.result.verdict.value == "reject" for r, _ in parts)
    assert live_rejects >= 3
    assert run.seen == len(parts) and run.dropped == 0 and run.disagreed >= 1
    # a part of another recipe is not the shadow's
    other = PartRecord(parts[0][0].result, PartInfo(recipe_number=4, model_hash=parts[0][0].part.model_hash))
    assert runner.offer(other, parts[0][1]) is False and run.other_recipe == 1
    ended = runner.stop(user="erik", outcome="dropped")
    assert ended is run and runner.offer(*parts[0]) is False
    runner.close()
    again = ShadowRunner(tmp_path / "shadow.db", lambda h: None, maxsize=1)  # type: ignore[arg-type, return-value]
    try:
        found = again.disagreements(run.run_id)
        assert len(found) == run.disagreed
        assert all(d.live_verdict == "reject" and d.shadow_verdict == "pass" for d in found)
        (row,) = again.runs()
        assert (row["outcome"], row["ended_by"], row["seen"], row["disagreed"]) == (
            "dropped", "erik", run.seen, run.disagreed)
    finally:
        again.close()


def test_the_shadow_waits_until_the_station_is_between_cycles(setup, tmp_path: Path) -> None:
    _, parts, _ = setup
    versions = RecipeVersions(tmp_path / "versions")
    free_at = time.monotonic() + 0.4
    runner = ShadowRunner(tmp_path / "gated.db", versions.load, maxsize=2,
                          busy=lambda: time.monotonic() < free_at)
    try:
        run = runner.start(recipe_id="shadowed", recipe_number=3, candidate=_candidate, describe={}, user="erik")
        assert runner.offer(*parts[1])
        time.sleep(0.2)
        assert run.seen == 0  # a cycle is in work: the shadow has not started
        assert runner.wait_idle(30.0) and run.seen == 1 and time.monotonic() >= free_at
    finally:
        runner.close()
