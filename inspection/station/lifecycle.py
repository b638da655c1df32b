"""The recipe lifecycle of a running station, for engineers: every recipe version it ran kept by
hash (for replay), what-if on stored parts, and a shadow candidate beside the active recipe.

:class:`RecipeLifecycle` is composed into the station (``station.lifecycle``); the HMI reaches it
there (``hmi/routers/whatif.py``). Candidates here are threshold values on the active recipe (what
an engineer tunes on the thresholds page), and, for a good-set recipe, its model's threshold
(``anomaly_threshold``, a what-if and shadow parameter only: promoting it is refused); ``inspection
replay --recipe BUNDLE`` judges stored parts with a whole candidate bundle offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from inspection.errors import ConfigError, InspectionError, RecipeError, StationError, StoreError
from inspection.recipe.definition import Recipe
from inspection.recipe.versions import RecipeVersions
from inspection.record import PartRecord
from inspection.station.port import RecipeInfo, ThresholdSpec
from inspection.station.recipes import ANOMALY_THRESHOLD, with_thresholds
from inspection.station.replay import Candidate, ReplayReport, run_replay, versions_dir
from inspection.station.shadow import ShadowRun, ShadowRunner
from inspection.store import ResultStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
WHATIF_MAX_PARTS = 2000
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: candidate parameters of what-if and shadow beyond the station's thresholds, for a good-set recipe
GOODSET_SPEC = ThresholdSpec(ANOMALY_THRESHOLD, "Good-set anomaly threshold", 1e-9, 1e9, 1.0,
                             unit="image score", step=0.01,
                             help="a part whose good-set image score exceeds this is rejected (what-if "
                                  "and shadow only; re-teach the recipe to change it on the line)")


class _StationLike(Protocol):
    store: ResultStore

    @property
    def config(self) -> Any: ...

    def recipes(self) -> list[RecipeInfo]: ...

    def threshold_specs(self) -> tuple[ThresholdSpec, ...]: ...

    def set_thresholds(self, values: Mapping[str, float], *, user: str,
                       recipe_id: str | None = None) -> RecipeInfo: ...

    def recent_parts(self, n: int) -> list[PartRecord]: ...

    def part_image(self, result_id: str) -> np.ndarray | None: ...

    def _restage(self, recipe_id: str) -> None: ...


class RecipeLifecycle:
    def __init__(self, station: _StationLike, *, shadow_queue: int = 2,
                 busy: Callable[[], bool] | None = None) -> None:
        self.station = station
        data_dir = Path(station.config.station.data_dir)
        self.store_root = data_dir / "store"
        self.versions = RecipeVersions(versions_dir(data_dir))
        self.shadow = ShadowRunner(data_dir / "station" / "shadow.db", self.versions.load, maxsize=shadow_queue,
                                   busy=busy)
        self.variants_root = data_dir / "station" / "golden" / "variants"
        self._whatif_lock = threading.Lock()
        self._whatif_running: dict[str, Any] | None = None
        self._whatif_last: dict[str, Any] | None = None

    # ---- recipe versions ------------------------------------------------------------------------
    def keep(self, recipe: Recipe) -> None:
        """Keep a recipe version the station is about to run (its recipe thread, between cycles)."""
        try:
            self.versions.keep(recipe)
        except OSError as exc:  # the line keeps running; replay of these parts will say "not kept"
            logger.error("cannot keep recipe version %s: %s", recipe.content_hash()[:12], exc)

    # ---- variant golden references -------------------------------------------------------------
    def variants(self, recipe_id: str) -> list[tuple[str, np.ndarray]]:
        """The taught variant references of a recipe (name order)."""
        folder = self.variants_root / recipe_id
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.png")):
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is None:
                logger.error("variant reference %s is unreadable: skipped", path)
                continue
            out.append((path.stem, img))
        return out

    def teach_variant(self, recipe_id: str, name: str, *, user: str, result_id: str | None = None,
                      image: np.ndarray | None = None) -> dict[str, Any]:
        """Teach a further golden reference (an allowed variant of the part) from ``image``, a
        stored or recent part (``result_id``) or the last part; the recipe is prepared again (a new
        version, kept for replay). Audited."""
        if not _VARIANT_NAME.match(name) or name == "golden":
            raise ConfigError("a variant name is 1-32 letters, digits, '-' or '_' (not 'golden')",
                              field="name", key="bad_variant_name")
        info = self._recipe_info(recipe_id)
        if image is None:
            if result_id is None:
                recent = self.station.recent_parts(1)
                if not recent:
                    raise StationError("no part to teach from: run a part first", key="nothing_to_teach")
                result_id = recent[0].result_id
            image = self.station.part_image(result_id)
            if image is None:
                try:
                    image = cv2.imread(str(self.station.store.image_file(result_id)), cv2.IMREAD_UNCHANGED)
                except StoreError as exc:
                    raise StationError(f"part {result_id} has no stored image to teach from",
                                       key="nothing_to_teach") from exc
        if image is None or image.ndim not in (2, 3):
            raise StationError("not an image to teach from", key="bad_image")
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise StationError("cannot encode the variant reference", key="bad_image")
        folder = self.variants_root / recipe_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        old = path.is_file()
        tmp = folder / f".{name}.png.tmp"
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, path)
        try:
            self.station._restage(recipe_id)
        except InspectionError:
            path.unlink(missing_ok=True)  # a variant the recipe cannot use is not kept
            raise
        version = hashlib.sha256(buf.tobytes()).hexdigest()[:12]
        self.station.store.audit(user=user, action="teach_variant", target=f"recipe:{recipe_id}",
                                 old=name if old else None, new=name,
                                 detail=f"{image.shape[1]}x{image.shape[0]} from "
                                        f"{result_id or 'an uploaded image'}, {version}")
        return {"recipe_id": info.recipe_id, "name": name, "version": version,
                "shape": [int(image.shape[0]), int(image.shape[1])]}

    def remove_variant(self, recipe_id: str, name: str, *, user: str) -> None:
        self._recipe_info(recipe_id)
        path = self.variants_root / recipe_id / f"{name}.png"
        if not _VARIANT_NAME.match(name) or not path.is_file():
            raise StationError(f"recipe {recipe_id} has no variant {name!r}", key="unknown_variant")
        path.unlink()
        self.station._restage(recipe_id)
        self.station.store.audit(user=user, action="remove_variant", target=f"recipe:{recipe_id}",
                                 old=name, new=None)

    # ---- helpers --------------------------------------------------------------------------------
    def _active(self) -> RecipeInfo:
        for r in self.station.recipes():
            if r.active:
                return r
        raise StationError("no active recipe", key="no_recipe")

    def _recipe_info(self, recipe_id: str) -> RecipeInfo:
        for r in self.station.recipes():
            if r.recipe_id == recipe_id:
                return r
        raise StationError(f"unknown recipe {recipe_id!r}", key="unknown_recipe")

    def _active_recipe(self) -> Recipe | None:
        """The recipe the next part will be judged with (None: the station prepares none)."""
        slot = getattr(self.station, "recipes_slot", None)
        current = getattr(slot, "current", None)
        return None if current is None else current.loaded.recipe

    def candidate_specs(self) -> list[ThresholdSpec]:
        """Parameters a what-if or shadow may set beyond the station's thresholds: the good-set
        model's threshold when the active recipe has one."""
        recipe = self._active_recipe()
        return [GOODSET_SPEC] if recipe is not None and recipe.goodset is not None else []

    def check_thresholds(self, values: Mapping[str, float]) -> dict[str, float]:
        specs = {s.name: s for s in self.station.threshold_specs()}
        extra = {s.name: s for s in self.candidate_specs()}
        if not values:
            raise ConfigError("no threshold values given", key="no_thresholds")
        out: dict[str, float] = {}
        for name, value in values.items():
            spec = specs.get(name) or extra.get(name)
            if spec is None and name == ANOMALY_THRESHOLD:
                raise ConfigError(f"{name} is the threshold of a good-set model; the active recipe has "
                                  "none", field=name, key="not_goodset")
            if spec is None:
                raise ConfigError(f"unknown threshold {name!r}; known: {', '.join([*specs, *extra])}",
                                  field=name, key="unknown_threshold")
            try:
                out[name] = spec.check(value)
            except ValueError as exc:
                raise ConfigError(str(exc), key="threshold_out_of_range") from exc
        return out

    # ---- what-if --------------------------------------------------------------------------------
    def whatif(self, thresholds: Mapping[str, float], *, last: int = 500, user: str = "") -> ReplayReport:
        """What these thresholds on the active recipe would have decided for its newest ``last``
        stored parts (those with a stored image). The last what-if is kept (:meth:`whatif_state`)."""
        values = self.check_thresholds(thresholds)
        active = self._active()
        last = max(1, min(int(last), WHATIF_MAX_PARTS))
        if not self._whatif_lock.acquire(blocking=False):
            raise StationError("a what-if is already running; try again when it is done", key="whatif_busy")
        request = {"recipe_id": active.recipe_id, "values": values, "last": last, "user": user,
                   "started_ns": time.time_ns()}
        try:
            self._whatif_running = request
            report = _low_priority(lambda: run_replay(self.store_root, self.versions, Candidate(thresholds=values),
                                                      last=last, recipe_number=active.number))
            self._whatif_last = {**request, "finished_ns": time.time_ns(), "report": report.to_dict()}
            return report
        finally:
            self._whatif_running = None
            self._whatif_lock.release()

    def whatif_state(self) -> dict[str, Any]:
        """The running what-if (or None), the last one with its report (or None), and the
        parameters a what-if may set beyond the station's thresholds (with the active recipe's
        values)."""
        recipe = self._active_recipe()
        extra = [{**s.to_dict(), "value": recipe.goodset.threshold if (recipe is not None and recipe.goodset
                                                                         is not None) else s.default}
                 for s in self.candidate_specs()]
        return {"running": self._whatif_running, "last": self._whatif_last, "parameters": extra}

    # ---- shadow ---------------------------------------------------------------------------------
    def start_shadow(self, thresholds: Mapping[str, float], *, user: str) -> ShadowRun:
        values = self.check_thresholds(thresholds)
        active = self._active()

        def candidate(base: Recipe) -> Recipe:
            if ANOMALY_THRESHOLD in values and base.goodset is None:  # never silently ignored
                raise RecipeError(f"recipe {base.name!r} has no good-set model for {ANOMALY_THRESHOLD}",
                                  key="not_goodset")
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
        if ANOMALY_THRESHOLD in run.candidate["thresholds"]:
            raise StationError(f"{ANOMALY_THRESHOLD} is not a station threshold: re-teach the good-set "
                               "recipe (its false-reject rate) to change it on the line, or drop the shadow",
                               key="shadow_not_promotable")
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


def _low_priority(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread at the lowest CPU priority (nice 19 on Linux): the station's own
    inspections go first, the caller (an HMI request) waits."""
    box: dict[str, Any] = {}

    def work() -> None:
        if hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=work, name="station-whatif", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _counts(run: ShadowRun) -> str:
    return (f"shadow run {run.run_id}: {run.seen} parts judged, {run.disagreed} disagreed, "
            f"{run.dropped} dropped under load")
