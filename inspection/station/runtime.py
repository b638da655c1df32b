"""The station runtime: PLC trigger -> acquire -> align -> detect -> decide -> PLC answer -> store + HMI.

:class:`Station` joins the pieces: the camera (any driver from the registry), the PLC-facing state
machine (:class:`~inspection.plc.station.PlcStation`, which enforces the deadline and answers every
trigger exactly once) with its transport bridge, the recipes (a catalog, prepared and swapped
between cycles), and the HMI side (:class:`~inspection.station.local.LocalStation`: result hub,
store, settings, audit), whose :class:`~inspection.station.port.StationPort` it implements.

Hot path (the PLC station's worker thread): trigger the camera, grab, tell the PLC the part may
move, inspect, return the result. The PLC answer goes out from the state machine. Only then, from a
separate thread, does the part go to the HMI and the store (``ResultHub.publish``, which never
blocks): nothing that can wait delays the PLC.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspection.camera.contract import Camera, ExposureEnd, create_camera
from inspection.errors import InspectionError, RecipeError, StationError
from inspection.pipeline import inspect
from inspection.plc.bridge import PlcBridge, plc_bridges
from inspection.plc.contract import STN_BLOCK_START, ErrorCode, StationState, StnReg
from inspection.plc.job import RecipeOutcome
from inspection.plc.record import ResultRecord, TriggerRequest
from inspection.plc.station import PlcStation
from inspection.recipe.catalog import RecipeCatalog, RecipeEntry
from inspection.recipe.definition import Recipe, model_hash
from inspection.record import PartInfo, PartRecord, new_result_id
from inspection.result import InspectionResult, ResultCode
from inspection.station.alarms import AlarmConfig
from inspection.station.camera_setup import CameraSetup
from inspection.station.config import StationConfig
from inspection.station.integrations import Integrations
from inspection.station.journal import ResultJournal
from inspection.station.lifecycle import RecipeLifecycle
from inspection.station.local import LocalStation
from inspection.station.port import GoldenInfo, PlcLink, RecipeInfo, StationStatus
from inspection.station.recipes import RecipeSlot, compose, recipe_thresholds
from inspection.station.settings import DEFAULT_THRESHOLD_SPECS, RecipeDef, load_settings
from inspection.station.timing import MachineConfig
from inspection.store import ResultStore, StoreConfig
from inspection.store.config import MIB, RetentionPolicy
from inspection.vision.goodset import GoodSetModel

logger = logging.getLogger(__name__)


@dataclass
class _InFlight:
    """What the job knows about a part until the PLC has its answer."""

    request: TriggerRequest
    trigger_ns: int
    image: np.ndarray | None = None
    camera_id: str = ""
    model_hash: str = ""
    done_at: float = 0.0  # perf_counter when the job returned


@dataclass(frozen=True)
class _Post:
    """A published (or discarded) result on its way to the store and the HMI."""

    record: ResultRecord
    published_at: float
    result_id: str
    decided_ns: int
    discarded: str | None = None  # why, when its PLC session ended before RESULT_ACK


def store_config(config: StationConfig) -> StoreConfig:
    s = config.storage
    retention = RetentionPolicy(image_max_age_days=s.max_age_days or 3650.0,
                                record_max_age_days=max(s.max_age_days or 3650.0, 365.0),
                                min_free_bytes=s.min_free_mb * MIB, max_records=s.max_records)
    return StoreConfig(config.station.data_dir / "store", save_pass_every=s.save_pass_every,
                       synchronous=s.synchronous, retention=retention)


class Station(LocalStation):
    """A running station. ``start()`` opens the camera, prepares the initial recipe and starts the
    PLC side; ``stop()`` undoes it. ``camera`` and ``bridge_factory`` can be given (tests, demo)."""

    def __init__(self, config: StationConfig, catalog: RecipeCatalog, *, camera: Camera | None = None,
                 bridge: bool = True, simulation: bool = False) -> None:
        self.config = config
        entries = list(catalog.entries())
        if not entries:
            raise RecipeError("the station has no recipes: teach one (inspection teach) or check "
                              f"the recipe folder {config.recipes.folder}", key="recipe_not_found")
        self.journal = ResultJournal(config.station.data_dir / "journal")
        store = ResultStore(store_config(config), on_commit=self.journal.committed).start()
        try:
            self._recover_journal(store, config.station.id)
            super().__init__(store, recipes=[RecipeDef(e.recipe_id, e.number, e.name, e.model_hash, e.detector)
                                             for e in entries],
                             data_dir=config.station.data_dir / "station", station_id=config.station.id,
                             specs=DEFAULT_THRESHOLD_SPECS, simulation=simulation, armed=True,
                             alarms=AlarmConfig(**config.alarms.model_dump()))
        except Exception:
            store.close()
            raise
        try:
            self._setup(config, catalog, camera, bridge, simulation, entries)
        except Exception:
            self.store.close()
            raise

    def _recover_journal(self, store: ResultStore, station_id: str) -> None:
        """Results the PLC may have seen before the last run ended (kill -9, power loss) but the
        store had not committed: stored now, marked as recovered."""
        entries = self.journal.recover(lambda rid: store.get(rid) is not None)
        for e in entries:
            code = ResultCode(int(str(e["code"])))
            message = f"recovered from the result journal: {e.get('message', '')}"[:500]
            part = PartInfo(trigger_seq=int(str(e["trigger_seq"])), part_id=int(str(e["part_id"])),
                            part_id_str=str(e.get("part_id_str", "")),
                            recipe_number=int(str(e.get("recipe_no", 0))), station_id=station_id,
                            trigger_ns=int(str(e["decided_ns"])))
            result = InspectionResult(code, message=message,
                                      timings_ms={"total": float(str(e.get("cycle_ms", 0.0)))})
            store.submit(PartRecord(result, part, result_id=str(e["result_id"]),
                                    decided_ns=int(str(e["decided_ns"]))))
        if entries:
            if not store.flush(30.0) or any(store.get(str(e["result_id"])) is None for e in entries):
                logger.error("the store could not take the %d journaled result(s) yet: the journal keeps "
                             "them for the next start", len(entries))
                return
            logger.warning("stored %d result(s) from the journal that the last run had not committed",
                           len(entries))
        self.journal.forget_old()

    def _setup(self, config: StationConfig, catalog: RecipeCatalog, camera: Camera | None, bridge: bool,
               simulation: bool, entries: list[RecipeEntry]) -> None:
        self._by_number = {e.number: e for e in entries}
        saved = load_settings(self._settings_path).get("thresholds", {})
        self._overrides: dict[str, dict[str, float]] = {rid: dict(v) for rid, v in saved.items()}
        self._known_hash: dict[str, str] = {}  # recipe id -> the model hash its results carry (see _info)
        self._stopping = threading.Event()
        self._hash_thread: threading.Thread | None = None
        self.recipes_slot = RecipeSlot(catalog)
        self.camera = camera if camera is not None else create_camera(config.camera)
        self._exposure_cb: Callable[[], None] | None = None
        self._exposure_lock = threading.Lock()
        self.camera.set_exposure_end_hook(self._exposure_end)
        p = config.plc
        machine = MachineConfig(deadline_ms=p.deadline_ms, ack_timeout_ms=p.ack_timeout_ms,
                                plc_heartbeat_timeout_ms=p.plc_heartbeat_timeout_ms,
                                buffer_depth=p.buffer_depth, simulation=simulation,
                                recipe_zero_is_active=p.recipe_zero_is_active)
        self.plc = PlcStation(self._job, config=machine, preparer=self._prepare_recipe,
                              initial_recipe=config.recipes.initial, low_word_first=p.low_word_first)
        self.plc.on_result(self._on_plc_result)
        self.plc.on_discard(self._on_plc_discard)
        # an active process alarm (rejects in a row, low yield) sets the PLC's STS WARNING bit
        self.hub.alarms.listeners.append(
            lambda states: self.plc.command("process_alarm", any(a.active for a in states)))
        self.bridge: PlcBridge | None = None
        self._want_bridge = bridge
        self._inflight: collections.deque[_InFlight] = collections.deque(maxlen=64)
        self._handshakes: collections.deque[tuple[int, ResultRecord]] = collections.deque(maxlen=50)
        self._post: queue.SimpleQueue[_Post | None] = queue.SimpleQueue()
        self._post_thread: threading.Thread | None = None
        self._cycle = threading.Lock()  # held by a cycle; configuration changes wait for it
        # exposure and gain tried, saved and reverted from the HMI (refused while armed)
        self.camera_setup = CameraSetup(self, config.station.data_dir / "station", initial=config.camera,
                                        cycle=self._cycle,
                                        armed=lambda: self.status().armed)
        self.integrations: Integrations | None = None
        self.started = False
        self.lifecycle = RecipeLifecycle(self, busy=self._cycle.locked)  # versions, what-if, shadow

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Station:
        try:
            self.camera_setup.apply_saved()
        except InspectionError as exc:  # the camera refuses them: it runs on the configuration's
            logger.error("camera: the saved exposure/gain cannot be applied: %s", exc)
        self.camera.open()
        self.camera.arm()
        self._post_thread = threading.Thread(target=self._publish_loop, name="station-publish", daemon=True)
        self._post_thread.start()
        self.plc.start()
        if self._want_bridge:
            p = self.config.plc
            options: dict[str, object] = {"host": p.host, "port": p.port, "unit_id": p.unit_id,
                                          "address_offset": p.address_offset}
            if p.bridge == "s7":
                options = {"host": p.host, "port": p.port, "rack": p.rack, "slot": p.slot, "db": p.db}
            self.bridge = plc_bridges.create(p.bridge, self.plc, mode=p.mode, **options)
            self.bridge.start()
        self.integrations = Integrations(self.config, self.store, status=self.plant_status, station=self).start()
        self._stopping.clear()
        self._hash_thread = threading.Thread(target=self._learn_local_hashes, name="recipe-hashes", daemon=True)
        self._hash_thread.start()
        self.started = True
        self._emit_status()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._hash_thread is not None:
            self._hash_thread.join(10.0)
            self._hash_thread = None
        self.lifecycle.close()
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        self.plc.stop()
        self._post.put(None)
        if self._post_thread is not None:
            self._post_thread.join(5.0)
        if self.integrations is not None:
            self.store.flush(5.0)
            self.integrations.stop()
            self.integrations = None
        self.camera.close()
        self.store.close()
        self.journal.close()
        self.started = False

    def __enter__(self) -> Station:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def plant_status(self) -> dict[str, object]:
        """What the station reports to the plant (MQTT status topic, the plant store's stations)."""
        return {**self.status().to_dict(), "counters": self.counters().to_dict()}

    @property
    def modbus_port(self) -> int | None:
        return getattr(self.bridge, "port", None)

    # ------------------------------------------------------------------ hot path
    def _take_exposure_cb(self) -> Callable[[], None] | None:
        """The pending 'exposure done' of the part in work, at most once (camera hook or job)."""
        with self._exposure_lock:
            cb, self._exposure_cb = self._exposure_cb, None
        return cb

    def _exposure_end(self, event: ExposureEnd) -> None:
        cb = self._take_exposure_cb()
        if cb is not None:
            cb()

    def _job(self, request: TriggerRequest, exposure_done: Callable[[], None]) -> InspectionResult:
        """acquire -> align -> detect -> decide for one trigger (the PLC station's worker thread)."""
        with self._cycle:
            return self._cycle_job(request, exposure_done)

    def _cycle_job(self, request: TriggerRequest, exposure_done: Callable[[], None]) -> InspectionResult:
        t0 = time.perf_counter()
        flight = _InFlight(request, time.time_ns())
        self._inflight.append(flight)
        active = self.recipes_slot.take()
        if active is None:
            raise StationError("no recipe is prepared", key="no_recipe")
        with self._exposure_lock:
            self._exposure_cb = exposure_done
        try:
            if self.config.camera.trigger.source == "software":
                self.camera.trigger()
            frame = self.camera.grab()
        finally:
            cb = self._take_exposure_cb()  # the camera reported no exposure end: the frame is in
            if cb is not None:
                cb()
        t1 = time.perf_counter()
        pixels = frame.pixels
        if active.preprocess is not None:
            pixels = active.preprocess(pixels)
            frame = dataclasses.replace(frame, pixels=pixels)
        flight.image, flight.camera_id, flight.model_hash = frame.pixels, frame.camera_id, active.model_hash
        result = inspect(active.prepared, frame, detector=active.detector)
        timings = {"acquire": (t1 - t0) * 1e3, **result.timings_ms}
        flight.done_at = time.perf_counter()
        return dataclasses.replace(result, timings_ms=timings)

    def _on_plc_result(self, record: ResultRecord) -> None:
        """Called by the state machine when a result is published to the PLC, under its lock and
        before the status registers show RESULT_VALID: the result is made durable here (fsync'd
        journal), so a result the PLC has seen survives kill -9 / power loss."""
        self._handshakes.appendleft((time.time_ns(), record))  # the HMI's PLC card
        rid, now_ns = new_result_id(), time.time_ns()
        req = record.request
        try:
            self.journal.append({"result_id": rid, "decided_ns": now_ns, "trigger_seq": req.trigger_seq,
                                 "part_id": req.part_id, "part_id_str": req.part_id_str,
                                 "recipe_no": req.recipe_no, "code": int(record.code),
                                 "result_seq": record.result_seq, "error_code": int(record.error_code),
                                 "cycle_ms": round(record.cycle_ms, 3), "message": record.message[:200]})
        except OSError as exc:  # disk full or failing: the PLC still gets its answer; the store retries
            logger.error("result journal: cannot write trigger seq %d: %s", req.trigger_seq, exc)
        self._post.put(_Post(record, time.perf_counter(), rid, now_ns))

    def _on_plc_discard(self, record: ResultRecord, reason: str) -> None:
        """A result (or the part in work) of a PLC session that ended before RESULT_ACK: never shown
        to the next session; recorded in the audit trail (off the hot path)."""
        self._post.put(_Post(record, time.perf_counter(), "", 0, discarded=reason))

    # ------------------------------------------------------------------ PLC view (commissioning)
    def plc_registers(self) -> list[tuple[int, str, int]]:
        names = {int(r): r.name for r in StnReg}
        words = self.plc.registers()
        out = []
        for i, value in enumerate(words):
            addr = STN_BLOCK_START + i
            name = names.get(addr) or (f"{names[addr - 1]} (2nd word)" if addr - 1 in names else f"HR{addr}")
            out.append((addr, name, int(value)))
        return out

    def plc_sts_seen(self, window_s: float) -> int | None:
        return self.plc.sts_seen(window_s)

    def plc_handshakes(self, n: int) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for ns, r in list(self._handshakes)[: max(0, n)]:
            out.append({"ns": ns, "trigger_seq": r.request.trigger_seq, "part_id": r.request.part_id,
                        "part_id_str": r.request.part_id_str, "recipe_no": r.request.recipe_no,
                        "result_seq": r.result_seq, "code": r.code.name, "error_code": r.error_code.name,
                        "inspected": r.inspected, "timeout_reject": r.timeout_reject,
                        "cycle_ms": round(r.cycle_ms, 2), "message": r.message})
        return out

    # ------------------------------------------------------------------ after the PLC answer
    def _publish_loop(self) -> None:
        while (item := self._post.get()) is not None:
            try:
                if item.discarded is not None:
                    self._record_discard(item.record, item.discarded)
                else:
                    self._publish(item)
            except Exception:
                logger.exception("publishing a part to the HMI/store failed")

    def _take_flight(self, request: TriggerRequest) -> _InFlight | None:
        while self._inflight:
            flight = self._inflight.popleft()
            if flight.request == request:
                return flight
        return None

    def _record_discard(self, record: ResultRecord, reason: str) -> None:
        req = record.request
        self.store.audit(user="plc", action="plc_result_discarded", target=f"trigger_seq:{req.trigger_seq}",
                         old={"result_seq": record.result_seq, "code": int(record.code),
                              "part_id": req.part_id, "part_id_str": req.part_id_str},
                         detail=f"PLC session ended ({reason}) before RESULT_ACK: never shown again")

    def _publish(self, item: _Post) -> None:
        record, published_at = item.record, item.published_at
        flight = self._take_flight(record.request)
        result = record.result
        if result is None or not record.inspected:  # refused trigger or deadline: no inspection counted
            active = self.recipes_slot.current
            result = InspectionResult(record.code,
                                      message=f"{record.error_code.name.lower()}: {record.message}",
                                      recipe_id=active.prepared.recipe_id if active else "")
        timings = dict(result.timings_ms)
        if flight is not None and flight.done_at and record.inspected:
            timings["publish"] = (published_at - flight.done_at) * 1e3
        timings["total"] = record.cycle_ms
        result = dataclasses.replace(result, timings_ms=timings)
        part = PartInfo(trigger_seq=record.request.trigger_seq & 0xFFFF, part_id=record.request.part_id,
                        part_id_str=record.request.part_id_str, recipe_number=record.request.recipe_no,
                        model_hash=flight.model_hash if flight else "",
                        camera_id=flight.camera_id if flight else "", station_id=self.station_id,
                        trigger_ns=flight.trigger_ns if flight else time.time_ns())
        image = flight.image if (flight is not None and record.inspected) else None
        pr = PartRecord(result, part, result_id=item.result_id, decided_ns=item.decided_ns)
        self._last_part_ns = pr.decided_ns
        self.hub.publish(pr, image)
        self.lifecycle.offer(pr, image)  # the shadow recipe, if any (never blocks)

    # ------------------------------------------------------------------ recipes
    def _prepare_recipe(self, recipe_no: int) -> RecipeOutcome:
        """The PLC state machine's recipe preparer (its recipe thread): load, apply the engineers'
        thresholds and taught golden, prepare, stage for the next cycle."""
        entry = self._by_number.get(recipe_no)
        if entry is None:
            return RecipeOutcome(False, ErrorCode.RECIPE_PREPARE_FAILED,
                                 f"no recipe number {recipe_no}; known: {sorted(self._by_number)}")
        try:
            loaded = self.recipes_slot.catalog.load(recipe_no)
            active = self.recipes_slot.build(loaded, **self._local_state(entry.recipe_id))
        except InspectionError as exc:
            logger.error("recipe %d cannot be prepared: %s", recipe_no, exc)
            return RecipeOutcome(False, ErrorCode.RECIPE_PREPARE_FAILED, str(exc))
        self.lifecycle.keep(active.loaded.recipe)
        self.recipes_slot.stage(active)
        with self._lock:
            self._known_hash[entry.recipe_id] = active.model_hash
            own = recipe_thresholds(active.loaded.recipe)
            self._thresholds[entry.recipe_id] = own
            changed = self._active != entry.recipe_id
            self._active = entry.recipe_id
            self._save()
        if changed:
            self.broadcaster.emit("recipes", {"active_recipe": entry.recipe_id})
        self._emit_status()
        logger.info("recipe %d (%s) prepared: %s", recipe_no, entry.name, active.prepared.recipe_id)
        return RecipeOutcome(True)

    def _restage(self, recipe_id: str) -> None:
        """Rebuild the active recipe after a threshold change or a new golden (between cycles)."""
        entry = self._recipe(recipe_id)
        if recipe_id != self._active:
            # used when that recipe is selected next; until then the recipe list shows the model
            # hash its results will carry (not the recipe file's)
            self._learn_hash(recipe_id, replace=True)
            return
        outcome = self._prepare_recipe(entry.number)
        if not outcome.ok:
            raise StationError(outcome.message, key="recipe_prepare_failed")

    # ------------------------------------------------------------------ configuration
    def reload(self, new: StationConfig) -> list[str]:
        """Apply a changed configuration between cycles; returns the sections that need a restart
        to take effect (they are logged, and the station keeps their old values)."""
        changed = new.changed_sections(self.config)
        live = {"camera", "recipes"}
        with self._cycle:
            if "camera" in changed:
                self.camera.configure(new.camera)
                self.store.audit(user="config", action="camera_settings", target="station",
                                 old=self.config.camera.model_dump(mode="json"),
                                 new=new.camera.model_dump(mode="json"))
            restart_keys: list[str] = []
            if "recipes" in changed:
                old_r, new_r = self.config.recipes, new.recipes
                if new_r.folder != old_r.folder:  # the catalog is bound to its folder: not live
                    logger.warning("configuration: recipes.folder changed from %s to %s; the station keeps "
                                   "%s until a restart", old_r.folder, new_r.folder, old_r.folder)
                    self.store.audit(user="config", action="recipes_folder_pending", target="station",
                                     old=str(old_r.folder), new=str(new_r.folder),
                                     detail="takes effect after a restart")
                    restart_keys.append("recipes.folder")
                    new = new.model_copy(update={"recipes": new_r.model_copy(update={"folder": old_r.folder})})
                rescan = getattr(self.recipes_slot.catalog, "rescan", None)
                if callable(rescan):
                    rescan()
                    logger.info("configuration: recipe folder %s rescanned", old_r.folder)
            self.config = self.config.model_copy(update={k: getattr(new, k) for k in changed & live})
        restart = sorted((changed - live) | set(restart_keys))
        if restart:
            logger.warning("configuration: %s changed; takes effect after a restart", ", ".join(restart))
        return restart

    # ------------------------------------------------------------------ StationPort overrides
    def status(self) -> StationStatus:
        img = self.plc.image()
        link = self._plc_link(img.state)
        message = ""
        if img.state is StationState.OPERATOR_ACCESS:
            message = "disarmed from the HMI: the PLC's commands are refused"
        elif img.error_code is not ErrorCode.NONE:
            message = img.error_code.name.lower().replace("_", " ")
        return StationStatus(self.station_id, img.state, img.state is not StationState.OPERATOR_ACCESS,
                             self._active, link, self._simulation, message,
                             img.error_code.name.lower() if img.error_code is not ErrorCode.NONE else "",
                             self._started_ns, self._last_part_ns)

    def _plc_link(self, state: StationState) -> PlcLink:
        """The PLC counts as connected while its heartbeat keeps changing."""
        p = self.config.plc
        age = self.plc.machine.plc_heartbeat_age_s(time.monotonic())
        timeout = p.plc_heartbeat_timeout_ms / 1000.0
        connected = age is not None and age < timeout
        if self.bridge is None:
            message = "no PLC bridge running"
        elif age is None:
            message = "waiting for the PLC's first heartbeat"
        elif not connected:
            message = f"PLC heartbeat lost {age:.1f} s ago"
        else:
            message = ""
        return PlcLink(connected=connected, protocol=f"{p.bridge}-{p.mode}",
                       address=f"{p.host}:{self.modbus_port or p.port}",
                       heartbeat_age_ms=None if age is None else round(age * 1000.0, 1),
                       trigger_enabled=self.plc.machine.enabled, message=message)

    def _apply_armed(self, armed: bool) -> None:
        self.plc.command("operator_access", not armed)  # OperatorAccess: the PLC's commands are refused

    def select_recipe(self, recipe_id: str, *, user: str) -> RecipeInfo:
        """Through the PLC state machine, like a RECIPE_REQ: it refuses while a part is in work and
        shows the new ACTIVE_RECIPE to the PLC when prepared."""
        entry = self._recipe(recipe_id)
        old = self._active
        self.plc.command("select_recipe", entry.number)

        def settled(img: object) -> bool:
            return self.plc.machine.preparing is None

        self.plc.wait_for(settled, timeout=30.0)
        img = self.plc.image()
        if img.active_recipe != entry.number or img.state in (StationState.INITIALIZED,
                                                              StationState.PREOPERATIONAL):
            raise StationError(f"recipe {entry.number} was not selected: "
                               f"{img.error_code.name.lower().replace('_', ' ')}", key="recipe_not_selected")
        if old != recipe_id:
            self.store.audit(user=user, action="select_recipe", target="station", old=old, new=recipe_id)
        with self._lock:
            return self._info(recipe_id)

    def set_thresholds(self, values: Mapping[str, float], *, user: str,
                       recipe_id: str | None = None) -> RecipeInfo:
        rid = self._active if recipe_id is None else recipe_id
        info = super().set_thresholds(values, user=user, recipe_id=rid)
        with self._lock:
            self._overrides.setdefault(rid, {}).update({k: float(v) for k, v in values.items()})
        self._restage(rid)
        return info

    def frame_shape(self, recipe_id: str) -> tuple[int, int] | None:
        """The camera's frame size: the last acquired frame, else the recipe's reference."""
        for flight in reversed(self._inflight):
            if flight.image is not None:
                return (int(flight.image.shape[0]), int(flight.image.shape[1]))
        found = super().frame_shape(recipe_id)
        if found is not None:
            return found
        active = self.recipes_slot.current
        if active is not None:
            ref = active.loaded.recipe.reference
            return (int(ref.shape[0]), int(ref.shape[1]))
        return None

    def teach_golden(self, recipe_id: str, *, user: str, image: np.ndarray | None = None,
                     source: str = "", reason: str = "",
                     variation: tuple[np.ndarray, np.ndarray] | None = None,
                     goodset: GoodSetModel | None = None) -> GoldenInfo:
        info = super().teach_golden(recipe_id, user=user, image=image, source=source, reason=reason,
                                    variation=variation, goodset=goodset)
        self._restage(recipe_id)
        return info

    def _learn_hash(self, recipe_id: str, *, replace: bool) -> None:
        """Note the model hash a recipe's results will carry (its recipe file composed with this
        station's local state), for the recipe list. ``replace`` False: only if none is known yet
        (the start-up pass must not overwrite a newer one noted by a teach meanwhile)."""
        entry = self._recipe(recipe_id)
        try:
            recipe = compose(self.recipes_slot.catalog.load(entry.number).recipe, **self._local_state(recipe_id))
        except InspectionError as exc:
            logger.warning("recipe %s: the model hash its results will carry is not known until it is "
                           "selected: %s", recipe_id, exc)
            if replace:
                with self._lock:
                    self._known_hash.pop(recipe_id, None)
            return
        with self._lock:
            if replace:
                self._known_hash[recipe_id] = model_hash(recipe)
            else:
                self._known_hash.setdefault(recipe_id, model_hash(recipe))

    def _learn_local_hashes(self) -> None:
        """At start (its own thread, off the PLC's path): the hashes of the recipes this station has
        taught or tuned in earlier runs, so the recipe list shows them before they are selected."""
        for rid in list(self._recipes):
            if self._stopping.is_set():
                return
            local = rid in self._overrides or rid in self._golden or bool(self.lifecycle.variants(rid))
            if local and rid not in self._known_hash:
                self._learn_hash(rid, replace=False)

    def _local_state(self, recipe_id: str) -> dict[str, Any]:
        """What this station adds to the recipe file's recipe (:func:`compose`'s arguments): the
        engineers' thresholds; a golden taught here, which alone replaces the file's (with its
        variation model or good-set model; the recipe's own reference keeps its own band); the
        taught variant references."""
        golden = LocalStation.golden_image(self, recipe_id)
        return {"thresholds": self._overrides.get(recipe_id), "golden": golden,
                "variation": None if golden is None else self.golden_variation(recipe_id),
                "variants": self.lifecycle.variants(recipe_id),
                "goodset": None if golden is None else self.golden_goodset(recipe_id)}

    def teach_recipe(self, recipe_id: str) -> Recipe:
        """The recipe as the station runs it (taught golden with its variation model or good-set
        model, thresholds): what teaching from good parts starts from (its alignment, detection
        parameters, ROI; a good-set recipe's model settings)."""
        entry = self._recipe(recipe_id)
        loaded = self.recipes_slot.catalog.load(entry.number)
        return compose(loaded.recipe, **{**self._local_state(recipe_id), "variants": ()})

    def _own_variation(self, recipe_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The recipe file's own variation model (kept with its reference's version)."""
        try:
            own = self.recipes_slot.catalog.load(self._recipe(recipe_id).number).recipe
        except InspectionError:
            return None
        if own.spread_dark is None or own.spread_bright is None:
            return None
        return own.spread_dark, own.spread_bright

    def _own_goodset(self, recipe_id: str) -> GoodSetModel | None:
        """The recipe file's own good-set model (kept with its reference's version)."""
        try:
            return self.recipes_slot.catalog.load(self._recipe(recipe_id).number).recipe.goodset
        except InspectionError:
            return None

    def golden_image(self, recipe_id: str) -> np.ndarray | None:
        """The taught golden reference, else the recipe's own (what the station inspects with)."""
        img = super().golden_image(recipe_id)
        if img is None:
            slot = getattr(self, "recipes_slot", None)  # None while LocalStation.__init__ runs
            active = None if slot is None else slot.current
            if active is not None and active.recipe_id == recipe_id:
                img = active.loaded.recipe.reference
        return img

    def _info(self, rid: str) -> RecipeInfo:
        """The recipe's info; for the recipe the station judges with (prepared), its model hash as
        the results carry it (taught golden and model, thresholds) and its detector, else the
        recipe file's."""
        info = super()._info(rid)
        slot = getattr(self, "recipes_slot", None)
        active = None if slot is None else slot.current
        if active is not None and active.recipe_id == rid:
            info = dataclasses.replace(info, model_hash=active.model_hash, detector=active.loaded.recipe.detector)
            if info.golden is None:
                h, w = active.loaded.recipe.reference.shape[:2]
                info = dataclasses.replace(info, golden=GoldenInfo("recipe", 0, "recipe file", (int(h), int(w))))
        elif rid in getattr(self, "_known_hash", {}):
            # prepared earlier in this run, or re-taught / re-tuned since: the hash its results will carry
            info = dataclasses.replace(info, model_hash=self._known_hash[rid])
        return info

    def rollback_golden(self, recipe_id: str, version: str, *, user: str) -> GoldenInfo:
        info = super().rollback_golden(recipe_id, version, user=user)
        self._restage(recipe_id)
        return info

