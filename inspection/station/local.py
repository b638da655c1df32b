"""An in-process station behind :class:`~inspection.station.port.StationPort`.

It owns the real pieces that sit behind the HMI (the result store, the event broadcaster, the
result hub, the recipes with their thresholds and golden references, the audit trail) and takes
decided parts from whoever produces them through :meth:`LocalStation.inject`: the demo feed and the
tests today, the station runtime's loop later (which can also reuse :class:`ResultHub` directly).

Persistent settings (active recipe, thresholds, golden reference metadata) live in
``<data_dir>/station-settings.json``; golden images in ``<data_dir>/golden/<recipe_id>.png``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from prometheus_client import CollectorRegistry

from inspection.errors import CalibrationError, ConfigError, ImageError, StationError
from inspection.events import Broadcaster, Subscription
from inspection.frame import check_image
from inspection.record import PartInfo, PartRecord
from inspection.result import InspectionResult
from inspection.station.alarms import AlarmConfig, AlarmState
from inspection.station.goldens import (
    GoldenLibrary,
    GoldenVersion,
    decode_variation,
    encode_variation,
    is_goodset_model,
)
from inspection.station.port import (
    Counters,
    GoldenInfo,
    PlcLink,
    RecipeInfo,
    StageStats,
    StationState,
    StationStatus,
    ThresholdSpec,
)
from inspection.station.result_hub import ResultHub
from inspection.station.settings import DEFAULT_THRESHOLD_SPECS, RecipeDef, load_settings, save_settings
from inspection.store import ResultStore
from inspection.vision.goodset import GoodSetModel

logger = logging.getLogger(__name__)

COUNTERS_META = "counters_since_ns"


class LocalStation:
    """A :class:`StationPort` whose parts come from :meth:`inject`."""

    def __init__(self, store: ResultStore, *, recipes: Sequence[RecipeDef], data_dir: Path,
                 station_id: str = "station-1", specs: Sequence[ThresholdSpec] = DEFAULT_THRESHOLD_SPECS,
                 plc: PlcLink | None = None, simulation: bool = True, armed: bool = False,
                 keep_recent: int = 32, alarms: AlarmConfig | None = None) -> None:
        if not recipes:
            raise ConfigError("a station needs at least one recipe", field="recipes")
        ids = [r.recipe_id for r in recipes]
        if len(set(ids)) != len(ids) or len({r.number for r in recipes}) != len(recipes):
            raise ConfigError("recipe ids and numbers must be unique", field="recipes")
        self.store = store
        self.station_id = station_id
        self.data_dir = Path(data_dir)
        (self.data_dir / "golden").mkdir(parents=True, exist_ok=True)
        self._recipes = {r.recipe_id: r for r in recipes}
        self._specs = {s.name: s for s in specs}
        self._lock = threading.RLock()
        self._settings_path = self.data_dir / "station-settings.json"
        saved = load_settings(self._settings_path)
        wanted = saved.get("active_recipe")
        self._active: str = wanted if isinstance(wanted, str) and wanted in self._recipes else ids[0]
        self._thresholds: dict[str, dict[str, float]] = {
            rid: {**{s.name: float(s.default) for s in specs},
                  **{k: float(v) for k, v in saved.get("thresholds", {}).get(rid, {}).items()
                     if k in self._specs}}
            for rid in ids}
        self._golden: dict[str, GoldenInfo] = {
            rid: GoldenInfo(g["version"], int(g["taught_ns"]), g["taught_by"], tuple(g["shape"]))
            for rid, g in saved.get("golden", {}).items()
            if rid in self._recipes and (self.data_dir / "golden" / f"{rid}.png").is_file()}
        self._armed = armed
        self._plc = plc or PlcLink()
        self._simulation = simulation
        self._state_override: tuple[StationState, str] | None = None
        self._started_ns = time.time_ns()
        self._last_part_ns = 0
        self.broadcaster = Broadcaster()
        since = int(store.get_meta(COUNTERS_META) or 0)
        c = store.counts(since_ns=since)
        self.hub = ResultHub(self.broadcaster, store, keep_recent=keep_recent,
                             counters=Counters(c.total, c.passed, c.rejected, since or self._started_ns),
                             alarms=alarms)
        self.goldens = GoldenLibrary(self.data_dir / "golden" / "versions")

    # ---- producers (demo feed, tests, later the runtime) ---------------------------------------
    def inject(self, result: InspectionResult, image: np.ndarray | None = None, *,
               part: PartInfo | None = None) -> PartRecord:
        """Publish a decided part: live view, counters, timings, store. Never blocks."""
        recipe = self._recipes[self._active]
        if not result.recipe_id:
            result = dataclasses.replace(result, recipe_id=recipe.recipe_id)
        if part is None:
            part = PartInfo(recipe_number=recipe.number, model_hash=recipe.model_hash,
                            station_id=self.station_id)
        record = PartRecord(result, part)
        self._last_part_ns = record.decided_ns
        self.hub.publish(record, image)
        return record

    def set_plc_link(self, link: PlcLink) -> None:
        with self._lock:
            changed = link != self._plc
            lost = self._plc.connected and not link.connected
            self._plc = link
        if lost:
            self.hub.metrics.plc_link_lost()
        if changed:
            self._emit_status()

    def set_state(self, state: StationState | None, message: str = "") -> None:
        """Force a state (ERROR with a message, SINGLE_EXECUTION, ...); None returns to derived."""
        with self._lock:
            entering_error = state is StationState.ERROR and (
                self._state_override is None or self._state_override[0] is not StationState.ERROR)
            self._state_override = None if state is None else (state, message)
        if entering_error:
            self.hub.metrics.error_state()
        self._emit_status()

    # ---- StationPort: reads ---------------------------------------------------------------------
    def status(self) -> StationStatus:
        with self._lock:
            if self._state_override is not None:
                state, message = self._state_override
            elif not self._armed:
                state, message = StationState.OPERATOR_ACCESS, "disarmed from the HMI"
            else:
                state, message = StationState.READY, ""
            return StationStatus(self.station_id, state, self._armed, self._active, self._plc,
                                 self._simulation, message, "", self._started_ns, self._last_part_ns)

    def counters(self) -> Counters:
        return self.hub.counters()

    def stage_stats(self) -> dict[str, StageStats]:
        return self.hub.stage_stats()

    def metrics_registry(self) -> CollectorRegistry:
        return self.hub.metrics.registry

    def recent_parts(self, n: int) -> list[PartRecord]:
        return self.hub.recent(n)

    def part_image(self, result_id: str) -> np.ndarray | None:
        return self.hub.image(result_id)

    def subscribe(self, *, maxsize: int = 64, name: str = "") -> Subscription:
        return self.broadcaster.subscribe(maxsize=maxsize, name=name)

    def recipes(self) -> list[RecipeInfo]:
        with self._lock:
            return [self._info(rid) for rid in self._recipes]

    def golden_image(self, recipe_id: str) -> np.ndarray | None:
        self._recipe(recipe_id)
        if recipe_id not in self._golden:
            return None
        img = cv2.imread(str(self.data_dir / "golden" / f"{recipe_id}.png"), cv2.IMREAD_UNCHANGED)
        return img

    def threshold_specs(self) -> tuple[ThresholdSpec, ...]:
        return tuple(self._specs.values())

    # ---- StationPort: commands ------------------------------------------------------------------
    def arm(self, *, user: str) -> StationStatus:
        return self._set_armed(True, user)

    def disarm(self, *, user: str) -> StationStatus:
        return self._set_armed(False, user)

    def _set_armed(self, armed: bool, user: str) -> StationStatus:
        old = self.status().armed
        self._apply_armed(armed)
        if old != armed:
            self.store.audit(user=user, action="arm" if armed else "disarm", target="station",
                             old={"armed": old}, new={"armed": armed})
            self._emit_status()
        return self.status()

    def _apply_armed(self, armed: bool) -> None:
        with self._lock:
            self._armed = armed

    def select_recipe(self, recipe_id: str, *, user: str) -> RecipeInfo:
        self._recipe(recipe_id)
        with self._lock:
            old = self._active
            self._active = recipe_id
            self._save()
        if old != recipe_id:
            self.store.audit(user=user, action="select_recipe", target="station", old=old, new=recipe_id)
            self._emit_status()
            self.broadcaster.emit("recipes", {"active_recipe": recipe_id})
        with self._lock:
            return self._info(recipe_id)

    def set_thresholds(self, values: Mapping[str, float], *, user: str,
                       recipe_id: str | None = None) -> RecipeInfo:
        rid = self._active if recipe_id is None else recipe_id
        self._recipe(rid)
        if not values:
            raise ConfigError("no threshold values given", key="no_thresholds")
        checked: dict[str, float] = {}
        for name, value in values.items():
            spec = self._specs.get(name)
            if spec is None:
                raise ConfigError(f"unknown threshold {name!r}; known: {', '.join(self._specs)}",
                                  field=name, key="unknown_threshold")
            try:
                checked[name] = spec.check(value)
            except ValueError as exc:
                raise ConfigError(str(exc), key="threshold_out_of_range") from exc
        with self._lock:
            old = {k: self._thresholds[rid][k] for k in checked}
            self._thresholds[rid].update(checked)
            self._save()
            info = self._info(rid)
        changed = {k: v for k, v in checked.items() if old[k] != v}
        if changed:
            self.store.audit(user=user, action="set_thresholds", target=f"recipe:{rid}",
                             old={k: old[k] for k in changed}, new=changed)
            self.broadcaster.emit("recipes", {"recipe_id": rid})
        return info

    def teach_golden(self, recipe_id: str, *, user: str, image: np.ndarray | None = None,
                     source: str = "", reason: str = "",
                     variation: tuple[np.ndarray, np.ndarray] | None = None,
                     goodset: GoodSetModel | None = None) -> GoldenInfo:
        self._recipe(recipe_id)
        if variation is not None and goodset is not None:
            raise StationError("a golden reference comes with a variation model or a good-set model, not both",
                               key="bad_image")
        if image is None:
            last = self.hub.recent(1)
            image = self.hub.image(last[0].result_id) if last else None
            if image is None:
                raise StationError("no part image to teach from: run a part first or upload an image",
                                   key="nothing_to_teach")
            source = source or f"last part {last[0].result_id}"
        try:
            image = check_image(image, what="golden reference")
        except ImageError as exc:
            raise StationError(str(exc), key="bad_image") from exc
        expected = self.frame_shape(recipe_id)
        if expected is not None and tuple(image.shape[:2]) != tuple(expected):
            raise StationError(f"the golden reference is {image.shape[1]}x{image.shape[0]} pixels; the "
                               f"camera's frames are {expected[1]}x{expected[0]}: a golden of another "
                               "size would reject every part", key="bad_image")
        model = None
        if variation is not None:
            if any(np.shape(v) != tuple(image.shape[:2]) for v in variation):
                raise StationError("the variation model does not match the golden reference's size",
                                   key="bad_image")
            model = encode_variation(*variation)
        elif goodset is not None:
            model = goodset.to_bytes()
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise StationError("cannot encode the golden reference", key="bad_image")
        data = buf.tobytes()
        info = GoldenInfo(hashlib.sha256(data).hexdigest()[:12], time.time_ns(), user,
                          (int(image.shape[0]), int(image.shape[1])))
        self._keep_current_version(recipe_id)
        self.goldens.add(recipe_id, data, GoldenVersion(info.version, info.taught_ns, user, info.shape,
                                                        source, reason, variation is not None,
                                                        goodset is not None), model=model)
        old = self._install_golden(recipe_id, data, info, model)
        detail = f"{info.shape[1]}x{info.shape[0]}" + (f"; from {source}" if source else "") + (
            "; with its variation model" if variation is not None else "") + (
            f"; with its good-set model {goodset.digest()[:12]} (threshold {goodset.threshold:.4g})"
            if goodset is not None else "") + (
            f"; override: {reason}" if reason else "")
        self.store.audit(user=user, action="teach_golden", target=f"recipe:{recipe_id}",
                         old=None if old is None else old.version, new=info.version, detail=detail)
        self.broadcaster.emit("recipes", {"recipe_id": recipe_id})
        return info

    def golden_variation(self, recipe_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The variation model taught with the current golden reference (None: none kept)."""
        try:
            data = self._model_path(recipe_id).read_bytes()
        except OSError:
            return None
        if is_goodset_model(data):
            return None  # a good-set recipe's model (golden_goodset)
        try:
            return decode_variation(data)
        except ValueError as exc:
            logger.error("recipe %s: %s; the golden is used without it", recipe_id, exc)
            return None

    def golden_goodset(self, recipe_id: str) -> GoodSetModel | None:
        """The good-set model taught with the current golden reference (None: none kept)."""
        try:
            data = self._model_path(recipe_id).read_bytes()
        except OSError:
            return None
        if not is_goodset_model(data):
            return None
        try:
            return GoodSetModel.from_bytes(data, source=f"recipe {recipe_id}'s taught good-set model")
        except CalibrationError as exc:
            logger.error("recipe %s: %s; the recipe's own model is used", recipe_id, exc)
            return None

    def _model_path(self, recipe_id: str) -> Path:
        return self.data_dir / "golden" / f"{recipe_id}.model.npz"

    def golden_versions(self, recipe_id: str) -> list[GoldenVersion]:
        """The recipe's golden references, newest first (the current one included)."""
        self._recipe(recipe_id)
        self._keep_current_version(recipe_id)
        return self.goldens.versions(recipe_id)

    def golden_version_image(self, recipe_id: str, version: str) -> np.ndarray | None:
        self._recipe(recipe_id)
        data = self.goldens.png(recipe_id, version)
        if data is None:
            return None
        img: np.ndarray | None = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return img

    def rollback_golden(self, recipe_id: str, version: str, *, user: str) -> GoldenInfo:
        """Make a kept earlier golden reference the current one again. Audited."""
        self._recipe(recipe_id)
        self._keep_current_version(recipe_id)
        kept = self.goldens.get(recipe_id, version)
        data = None if kept is None else self.goldens.png(recipe_id, version)
        if kept is None or data is None:
            raise StationError(f"recipe {recipe_id!r} has no golden version {version!r}",
                               key="unknown_golden_version")
        info = GoldenInfo(kept.version, kept.taught_ns, kept.taught_by, kept.shape)
        model = (self.goldens.model(recipe_id, version)
                 if kept.variation_model or kept.goodset_model else None)
        old = self._install_golden(recipe_id, data, info, model)
        what = "good-set" if kept.goodset_model else "variation"
        self.store.audit(user=user, action="rollback_golden", target=f"recipe:{recipe_id}",
                         old=None if old is None else old.version, new=info.version,
                         detail=f"back to the golden taught by {kept.taught_by}"
                                + (f" from {kept.source}" if kept.source else "")
                                + (f"; with its {what} model" if model is not None else ""))
        self.broadcaster.emit("recipes", {"recipe_id": recipe_id})
        return info

    def _install_golden(self, recipe_id: str, data: bytes, info: GoldenInfo,
                        model: bytes | None = None) -> GoldenInfo | None:
        path = self.data_dir / "golden" / f"{recipe_id}.png"
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        mpath = self._model_path(recipe_id)
        if model is None:
            mpath.unlink(missing_ok=True)
        else:
            mtmp = mpath.with_suffix(".tmp")
            mtmp.write_bytes(model)
            os.replace(mtmp, mpath)
        with self._lock:
            old = self._golden.get(recipe_id)
            self._golden[recipe_id] = info
            self._save()
        self.hub.alarms.reset_baseline()  # drift is measured against the new golden
        return old

    def _keep_current_version(self, recipe_id: str) -> None:
        """A golden taught before versions were kept joins the versions (so it can be rolled back to)."""
        with self._lock:
            cur = self._golden.get(recipe_id)
        if cur is None:  # never taught here: the recipe's own reference, where the station has one
            img = self.golden_image(recipe_id)
            ok, buf = (False, None) if img is None else cv2.imencode(".png", img)
            if ok and buf is not None:
                png = buf.tobytes()
                version = hashlib.sha256(png).hexdigest()[:12]
                if self.goldens.get(recipe_id, version) is None:
                    own = self._own_variation(recipe_id)
                    own_gs = self._own_goodset(recipe_id) if own is None else None
                    model = (encode_variation(*own) if own is not None
                             else None if own_gs is None else own_gs.to_bytes())
                    self.goldens.add(recipe_id, png, GoldenVersion(
                        version, 0, "recipe", (int(img.shape[0]), int(img.shape[1])),  # type: ignore[union-attr]
                        "the recipe's own reference", variation_model=own is not None,
                        goodset_model=own_gs is not None), model=model)
            return
        if self.goldens.get(recipe_id, cur.version) is not None:
            return
        try:
            data = (self.data_dir / "golden" / f"{recipe_id}.png").read_bytes()
        except OSError:
            return
        try:
            kept_model: bytes | None = self._model_path(recipe_id).read_bytes()
        except OSError:
            kept_model = None
        gs = kept_model is not None and is_goodset_model(kept_model)
        self.goldens.add(recipe_id, data, GoldenVersion(cur.version, cur.taught_ns, cur.taught_by, cur.shape,
                                                        variation_model=kept_model is not None and not gs,
                                                        goodset_model=gs), model=kept_model)

    def _own_variation(self, recipe_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The variation model of the recipe's own reference (none here: the runtime has recipes)."""
        return None

    def _own_goodset(self, recipe_id: str) -> GoodSetModel | None:
        """The good-set model of the recipe's own reference (none here: the runtime has recipes)."""
        return None

    # ---- PLC (none here: the runtime station has one) --------------------------------------------
    def plc_registers(self) -> list[tuple[int, str, int]]:
        return []

    def plc_handshakes(self, n: int) -> list[dict[str, object]]:
        return []

    def plc_sts_seen(self, window_s: float) -> int | None:
        return None

    # ---- alarms ---------------------------------------------------------------------------------
    def alarms(self) -> list[AlarmState]:
        return self.hub.alarms.snapshot()

    def acknowledge_alarm(self, name: str, *, user: str) -> AlarmState:
        """Acknowledge an alarm (it clears when its condition has cleared too). Audited."""
        try:
            before, after = self.hub.alarms.acknowledge(name, user=user)
        except KeyError as exc:
            raise StationError(f"unknown alarm {name!r}; known: {', '.join(self.hub.alarms.names)}",
                               key="unknown_alarm") from exc
        self.store.audit(user=user, action="acknowledge_alarm", target=f"alarm:{name}",
                         old=before.brief(), new=after.brief(), detail=before.message or None)
        return after

    def frame_shape(self, recipe_id: str) -> tuple[int, int] | None:
        """(height, width) of the camera's frames, which a golden reference must match: the last
        part's image, else the current golden of the recipe; None when nothing is known yet."""
        last = self.hub.recent(1)
        image = self.hub.image(last[0].result_id) if last else None
        if image is not None:
            return (int(image.shape[0]), int(image.shape[1]))
        with self._lock:
            info = self._golden.get(recipe_id)
        return None if info is None else (int(info.shape[0]), int(info.shape[1]))

    def clear_counters(self, *, user: str) -> Counters:
        old = self.hub.counters()
        c = self.hub.reset_counters()
        self.store.set_meta(COUNTERS_META, str(c.since_ns))
        self.store.audit(user=user, action="clear_counters", target="station",
                         old=old.to_dict(), new=c.to_dict())
        return c

    # ---- internals ------------------------------------------------------------------------------
    def _recipe(self, recipe_id: str) -> RecipeDef:
        r = self._recipes.get(recipe_id)
        if r is None:
            raise StationError(f"unknown recipe {recipe_id!r}; known: {', '.join(self._recipes)}",
                               key="unknown_recipe")
        return r

    def _info(self, rid: str) -> RecipeInfo:
        r = self._recipes[rid]
        return RecipeInfo(r.recipe_id, r.number, r.name, r.model_hash, self._golden.get(rid),
                          dict(self._thresholds[rid]), rid == self._active, r.detector)

    def _emit_status(self) -> None:
        self.broadcaster.emit("status", lambda: self.status().to_dict())

    def _save(self) -> None:
        save_settings(self._settings_path, active_recipe=self._active, thresholds=self._thresholds,
                      golden={rid: g.to_dict() for rid, g in self._golden.items()})
