"""OPC UA server with the OPC 40100-1 (Machine Vision) objects of a station (asyncua; the only module
that imports it).

Address space (namespace ``http://opcfoundation.org/UA/MachineVision`` in the server's
NamespaceArray; browse names after OPC 40100-1)::

    Objects/VisionSystem
        VisionStateMachine/CurrentState        LocalizedText: Preoperational | Halted | Error | Operational
            CurrentState/Number                 UInt32: the state number (OPC 40100-1 / docs/plc.md STATE)
            VisionAutomaticModeStateMachine/CurrentState   Initialized | Ready | SingleExecution |
                                                ContinuousExecution (Operational only, else empty)
            StationState                        String: the station's own state name (e.g. OPERATOR_ACCESS)
        RecipeManagement
            PrepareRecipe(RecipeNumber UInt16) -> (Ok Boolean, Message String)   select and prepare
            ActiveRecipeNumber UInt16,  ActiveRecipeId String,  Recipes String (JSON list)
        ResultManagement
            LastResult/{ResultId, PartId, PartIdString, TriggerSeq, Verdict, ResultCode, ResultCodeName,
                        Findings (JSON), RecipeId, RecipeNumber, DecidedTime}
            ResultReadyEventType events, emitted by ResultManagement (same fields)

This is the station's state, recipes and results under the companion specification's names, in its
namespace; it is not the companion specification's full typed NodeSet (no MachineVision types are
loaded). Results come from the store after commit (a commit listener hands ids to the server's loop);
the state is polled from the station every ``poll_s``: nothing here runs on the PLC's thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from inspection.errors import InspectionError, MissingDependency
from inspection.plc.contract import StationState

logger = logging.getLogger(__name__)

MV_NAMESPACE = "http://opcfoundation.org/UA/MachineVision"

# The station's STATE -> (VisionStateMachine state, VisionAutomaticModeStateMachine sub-state).
STATE_MAP: dict[StationState, tuple[str, str]] = {
    StationState.PREOPERATIONAL: ("Preoperational", ""),
    StationState.HALTED: ("Halted", ""),
    StationState.ERROR: ("Error", ""),
    StationState.INITIALIZED: ("Operational", "Initialized"),
    StationState.READY: ("Operational", "Ready"),
    StationState.SINGLE_EXECUTION: ("Operational", "SingleExecution"),
    StationState.CONTINUOUS_EXECUTION: ("Operational", "ContinuousExecution"),
    StationState.OPERATOR_ACCESS: ("Operational", "Initialized"),  # disarmed: triggers are refused
}

RESULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("ResultId", "String"), ("PartId", "UInt32"), ("PartIdString", "String"), ("TriggerSeq", "UInt16"),
    ("Verdict", "String"), ("ResultCode", "UInt16"), ("ResultCodeName", "String"), ("Findings", "String"),
    ("RecipeId", "String"), ("RecipeNumber", "UInt16"), ("DecidedTime", "DateTime"),
)


def _asyncua() -> Any:
    try:
        import asyncua
    except ModuleNotFoundError as exc:
        raise MissingDependency("asyncua", extra="opcua", purpose="the OPC UA Machine Vision server") from exc
    return asyncua


class MachineVisionServer:
    """``MachineVisionServer(station, host=..., port=...).start()``; ``station`` is a running station
    (``status()``, ``recipes()``, ``select_recipe()``, ``store``)."""

    def __init__(self, station: Any, *, host: str = "0.0.0.0", port: int = 4840, poll_s: float = 0.2) -> None:
        self.ua_lib = _asyncua()
        self.station = station
        self.host, self.port = host, port
        self.poll_s = poll_s
        self.endpoint = f"opc.tcp://{host}:{port}/inspection/"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._pending: deque[str] = deque(maxlen=1000)  # committed result ids, drop-oldest
        self._wake: asyncio.Event | None = None
        self.results_published = 0

    # ---- control (any thread) -------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> MachineVisionServer:
        self._thread = threading.Thread(target=self._run, name="opcua-server", daemon=True)
        self._thread.start()
        self._ready.result(timeout)  # re-raises a failed start
        self.station.store.add_commit_listener(self._committed)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.station.store.remove_commit_listener(self._committed)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _committed(self, ids: Sequence[str]) -> None:  # the store writer's thread: hand over, no wait
        self._pending.extend(ids)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # ---- server loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # start failures reach start(); later ones are logged
            if not self._ready.done():
                self._ready.set_exception(InspectionError(f"OPC UA server on {self.endpoint}: {exc}",
                                                          key="opcua_start"))
            else:
                logger.exception("OPC UA server stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        server = await self._build()
        await server.start()
        try:
            self._ready.set_result(None)
            logger.info("OPC UA Machine Vision server on %s", self.endpoint)
            while not self._stop.is_set():
                await self._update_state()
                await self._publish_results()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                self._wake.clear()
        finally:
            await server.stop()

    async def _build(self) -> Any:
        ua_lib = self.ua_lib
        ua = ua_lib.ua
        server = ua_lib.Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        # No certificates are configured yet: the endpoint is unencrypted (docs/integration.md).
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_server_name(f"Inspection station {self.station.station_id}")
        idx = await server.register_namespace(MV_NAMESPACE)
        self.idx = idx
        vs = await server.nodes.objects.add_object(idx, "VisionSystem")
        sm = await vs.add_object(idx, "VisionStateMachine")
        self.current_state = await sm.add_variable(idx, "CurrentState", ua.LocalizedText("Preoperational"))
        self.state_number = await self.current_state.add_property(idx, "Number", ua.Variant(1, ua.VariantType.UInt32))
        auto = await sm.add_object(idx, "VisionAutomaticModeStateMachine")
        self.auto_state = await auto.add_variable(idx, "CurrentState", ua.LocalizedText(""))
        self.station_state = await sm.add_variable(idx, "StationState", "")
        rm = await vs.add_object(idx, "RecipeManagement")
        await rm.add_method(idx, "PrepareRecipe", self._prepare_recipe, [ua.VariantType.UInt16],
                            [ua.VariantType.Boolean, ua.VariantType.String])
        self.active_number = await rm.add_variable(idx, "ActiveRecipeNumber", ua.Variant(0, ua.VariantType.UInt16))
        self.active_id = await rm.add_variable(idx, "ActiveRecipeId", "")
        self.recipes_var = await rm.add_variable(idx, "Recipes", "[]")
        resm = await vs.add_object(idx, "ResultManagement")
        last = await resm.add_object(idx, "LastResult")
        self.last: dict[str, Any] = {}
        for name, vtype in RESULT_FIELDS:
            vt = getattr(ua.VariantType, vtype)
            self.last[name] = await last.add_variable(idx, name, ua.Variant(ua.get_default_value(vt), vt))
        etype = await server.create_custom_event_type(
            idx, "ResultReadyEventType", ua.ObjectIds.BaseEventType,
            [(name, getattr(ua.VariantType, vtype)) for name, vtype in RESULT_FIELDS])
        await resm.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
        self.result_event = await server.get_event_generator(etype, resm)
        self._state_seen: tuple[Any, ...] | None = None
        return server

    async def _update_state(self) -> None:
        ua = self.ua_lib.ua
        status = self.station.status()
        recipes = self.station.recipes()
        active = next((r for r in recipes if r.active), None)
        key = (status.state, active.number if active else 0, len(recipes))
        if key == self._state_seen:
            return
        self._state_seen = key
        top, sub = STATE_MAP.get(status.state, ("Error", ""))
        await self.current_state.write_value(ua.LocalizedText(top))
        await self.state_number.write_value(ua.Variant(int(status.state), ua.VariantType.UInt32))
        await self.auto_state.write_value(ua.LocalizedText(sub))
        await self.station_state.write_value(status.state.name)
        await self.active_number.write_value(ua.Variant(active.number if active else 0, ua.VariantType.UInt16))
        await self.active_id.write_value(active.recipe_id if active else "")
        await self.recipes_var.write_value(json.dumps(
            [{"number": r.number, "recipe_id": r.recipe_id, "name": r.name} for r in recipes]))

    async def _publish_results(self) -> None:
        ua = self.ua_lib.ua
        while self._pending:
            rid = self._pending.popleft()
            r = await asyncio.to_thread(self.station.store.get, rid)
            if r is None:
                continue
            values = {
                "ResultId": r.result_id, "PartId": r.part_id, "PartIdString": r.part_id_str,
                "TriggerSeq": r.trigger_seq, "Verdict": r.verdict, "ResultCode": r.code,
                "ResultCodeName": r.code_name, "Findings": json.dumps(r.findings, separators=(",", ":")),
                "RecipeId": r.recipe_id, "RecipeNumber": r.recipe_number,
                "DecidedTime": datetime.fromtimestamp(r.decided_ns / 1e9, tz=UTC),
            }
            for name, vtype in RESULT_FIELDS:
                await self.last[name].write_value(ua.Variant(values[name], getattr(ua.VariantType, vtype)))
                setattr(self.result_event.event, name, ua.Variant(values[name], getattr(ua.VariantType, vtype)))
            await self.result_event.trigger(message=f"result {r.result_id}: {r.verdict}")
            self.results_published += 1

    async def _prepare_recipe(self, parent: Any, number: Any) -> list[Any]:
        """PrepareRecipe(RecipeNumber): select the recipe with that number and prepare it."""
        ua = self.ua_lib.ua
        value = number.Value if hasattr(number, "Value") else number
        recipes = self.station.recipes()
        match = next((r for r in recipes if r.number == int(value)), None)
        if match is None:
            known = ", ".join(str(r.number) for r in recipes)
            return [ua.Variant(False, ua.VariantType.Boolean),
                    ua.Variant(f"no recipe number {value}; known: {known}", ua.VariantType.String)]
        try:
            await asyncio.to_thread(self.station.select_recipe, match.recipe_id, user="opcua")
        except InspectionError as exc:
            return [ua.Variant(False, ua.VariantType.Boolean), ua.Variant(str(exc), ua.VariantType.String)]
        self._state_seen = None
        return [ua.Variant(True, ua.VariantType.Boolean),
                ua.Variant(f"recipe {match.number} ({match.recipe_id}) prepared", ua.VariantType.String)]
