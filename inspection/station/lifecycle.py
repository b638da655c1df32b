"""The recipe lifecycle of a running station, for engineers: every recipe version it ran kept by
hash (for replay), what-if on stored parts, and a shadow candidate beside the active recipe.

:class:`RecipeLifecycle` is composed into the station (``station.lifecycle``); the HMI reaches it
there (``hmi/routers/whatif.py``). Candidates here are threshold values on the active recipe (what
an engineer tunes on the thresholds page); ``inspection replay --recipe BUNDLE`` judges stored
parts with a whole candidate bundle offline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inspection.errors import ConfigError, StationError
from inspection.recipe.definition import Recipe
from inspection.recipe.versions import RecipeVersions
from inspection.record import PartRecord
from inspection.station.port import RecipeInfo, ThresholdSpec
from inspection.station.recipes import with_thresholds
from inspection.station.replay import Candidate, ReplayReport, run_replay, versions_dir
from inspection.station.shadow import ShadowRun, ShadowRunner
from inspection.store import ResultStore

logger = logging.getLogger(__name__)

WHATIF_MAX_PARTS = 2000


class _StationLike(Protocol):
    store: ResultStore

    @property
    def config(self) -> Any: ...

    def recipes(self) -> list[RecipeInfo]: ...

    def threshold_specs(self) -> tuple[ThresholdSpec, ...]: ...

    def set_thresholds(self, values: Mapping[str, float], *, user: str,
                       recipe_id: str | None = None) -> RecipeInfo: ...


class RecipeLifecycle:
    def __init__(self, station: _StationLike, *, shadow_queue: int = 2) -> None:
        self.station = station
        data_dir = Path(station.config.station.data_dir)
        self.store_root = data_dir / "store"
        self.versions = RecipeVersions(versions_dir(data_dir))
        self.shadow = ShadowRunner(data_dir / "station" / "shadow.db", self.versions.load, maxsize=shadow_queue)

    # ---- recipe versions ------------------------------------------------------------------------
    def keep(self, recipe: Recipe) -> None:
        """Keep a recipe version the station is about to run (its recipe thread, between cycles)."""
        try:
            self.versions.keep(recipe)
        except OSError as exc:  # the line keeps running; replay of these parts will say "not kept"
            logger.error("cannot keep recipe version %s: %s", recipe.content_hash()[:12], exc)

    # ---- helpers --------------------------------------------------------------------------------
    def _active(self) -> RecipeInfo:
        for r in self.station.recipes():
            if r.active:
                return r
        raise StationError("no active recipe", key="no_recipe")

    def check_thresholds(self, values: Mapping[str, float]) -> dict[str, float]:
        specs = {s.name: s for s in self.station.threshold_specs()}
        if not values:
            raise ConfigError("no threshold values given", key="no_thresholds")
        out: dict[str, float] = {}
        for name, value in values.items():
            spec = specs.get(name)
            if spec is None:
                raise ConfigError(f"unknown threshold {name!r}; known: {', '.join(specs)}", field=name,
                                  key="unknown_threshold")
            try:
                out[name] = spec.check(value)
            except ValueError as exc:
                raise ConfigError(str(exc), key="threshold_out_of_range") from exc
        return out

    # ---- what-if --------------------------------------------------------------------------------
    def whatif(self, thresholds: Mapping[str, float], *, last: int = 500) -> ReplayReport:
        """What these thresholds on the active recipe would have decided for its newest ``last``
        stored parts (those with a stored image)."""
        values = self.check_thresholds(thresholds)
        active = self._active()
        last = max(1, min(int(last), WHATIF_MAX_PARTS))
        return run_replay(self.store_root, self.versions, Candidate(thresholds=values), last=last,
                          recipe_number=active.number)

    # ---- shadow ---------------------------------------------------------------------------------
    def start_shadow(self, thresholds: Mapping[str, float], *, user: str) -> ShadowRun:
        values = self.check_thresholds(thresholds)
        active = self._active()

        def candidate(base: Recipe) -> Recipe:
            return with_thresholds(base, values)

        old = self.shadow.run
        run = self.shadow.start(recipe_id=active.recipe_id, recipe_number=active.number, candidate=candidate,
                                describe={"thresholds": values}, user=user)
        self.station.store.audit(user=user, action="shadow_start", target=f"recipe:{active.recipe_id}",
                                 old=None if old is None else old.candidate, new=run.candidate,
                                 detail=f"shadow run {run.run_id}")
        return run

    def drop_shadow(self, *, user: str) -> ShadowRun:
        run = self.shadow.stop(user=user, outcome="dropped")
        if run is None:
            raise StationError("no shadow recipe is running", key="no_shadow")
        self.station.store.audit(user=user, action="shadow_drop", target=f"recipe:{run.recipe_id}",
                                 old=run.candidate, new=None, detail=_counts(run))
        return run

    def promote_shadow(self, *, user: str) -> RecipeInfo:
        """Make the shadow's thresholds the active recipe's (applied between cycles). Audited."""
        run = self.shadow.run
        if run is None:
            raise StationError("no shadow recipe is running", key="no_shadow")
        if self._active().recipe_id != run.recipe_id:
            raise StationError(f"the shadow was started on recipe {run.recipe_id}, which is no longer "
                               "active: drop it", key="shadow_stale")
        self.shadow.stop(user=user, outcome="promoted")
        old = {k: v for k, v in self._active().thresholds.items() if k in run.candidate["thresholds"]}
        info = self.station.set_thresholds(run.candidate["thresholds"], user=user, recipe_id=run.recipe_id)
        self.station.store.audit(user=user, action="shadow_promote", target=f"recipe:{run.recipe_id}",
                                 old=old, new=run.candidate["thresholds"], detail=_counts(run))
        return info

    def shadow_status(self, *, limit: int = 50) -> dict[str, Any]:
        run = self.shadow.run
        return {"running": run is not None, "run": None if run is None else run.to_dict(),
                "disagreements": [d.__dict__ for d in self.shadow.disagreements(
                    None if run is None else run.run_id, limit=limit)],
                "runs": self.shadow.runs(limit=10)}

    def offer(self, record: PartRecord, image: np.ndarray | None) -> None:
        self.shadow.offer(record, image)

    def close(self) -> None:
        self.shadow.close()


def _counts(run: ShadowRun) -> str:
    return (f"shadow run {run.run_id}: {run.seen} parts judged, {run.disagreed} disagreed, "
            f"{run.dropped} dropped under load")
