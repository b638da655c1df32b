"""OPC UA Machine Vision on ``inspection demo --opcua-port PORT``, read by an independent asyncua client
on loopback: the namespace in the NamespaceArray, the VisionStateMachine's CurrentState, PrepareRecipe
by number, ResultReady events with the stored results."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from plant_servers import free_port, wait_port

MV = "http://opcfoundation.org/UA/MachineVision"


class Events:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def event_notification(self, event: Any) -> None:
        self.items.append(event)


async def _client_session(url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Client(url, timeout=5) as c:
        ns = await c.get_namespace_array()
        out["namespaces"] = ns
        idx = ns.index(MV)
        vs = await c.nodes.objects.get_child(f"{idx}:VisionSystem")
        sm = await vs.get_child(f"{idx}:VisionStateMachine")
        state = await (await sm.get_child(f"{idx}:CurrentState")).read_value()
        deadline = time.monotonic() + 10
        while state.Text != "Operational" and time.monotonic() < deadline:  # the demo's recipe is prepared
            await asyncio.sleep(0.1)
            state = await (await sm.get_child(f"{idx}:CurrentState")).read_value()
        out["state"] = state.Text
        out["sub_state"] = (await (await sm.get_child([f"{idx}:VisionAutomaticModeStateMachine",
                                                       f"{idx}:CurrentState"])).read_value()).Text
        rm = await vs.get_child(f"{idx}:RecipeManagement")
        out["prepare_1"] = await rm.call_method(f"{idx}:PrepareRecipe", ua.Variant(1, ua.VariantType.UInt16))
        out["prepare_99"] = await rm.call_method(f"{idx}:PrepareRecipe", ua.Variant(99, ua.VariantType.UInt16))
        out["active"] = await (await rm.get_child(f"{idx}:ActiveRecipeNumber")).read_value()
        resm = await vs.get_child(f"{idx}:ResultManagement")
        etype = await c.nodes.base_event_type.get_child(f"{idx}:ResultReadyEventType")
        handler = Events()
        sub = await c.create_subscription(50, handler)
        await sub.subscribe_events(resm, etype)
        deadline = time.monotonic() + 10
        while len(handler.items) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await sub.delete()
        out["events"] = [(e.ResultId, e.Verdict, e.ResultCode, e.PartId) for e in handler.items]
        out["last_id"] = await (await resm.get_child([f"{idx}:LastResult", f"{idx}:ResultId"])).read_value()
    return out


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_an_asyncua_client_reads_the_machine_vision_model_of_the_demo(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspection", "demo", "--dir", str(tmp_path), "--duration", "9", "--http-port", "0",
         "--modbus-port", "0", "--camera", "replay", "--rate", "5", "--parts", "6", "--station-id", "OPC",
         "--opcua-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, timeout=20)
        out = asyncio.run(_client_session(f"opc.tcp://127.0.0.1:{port}/inspection/"))
        log = proc.communicate(timeout=40)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, log
    assert f"OPC UA:     opc.tcp://127.0.0.1:{port}/inspection/" in log
    assert MV in out["namespaces"]
    assert out["state"] == "Operational" and out["sub_state"] in ("Ready", "SingleExecution")
    assert out["prepare_1"][0] is True and out["active"] == 1
    assert out["prepare_99"][0] is False and "known: 1" in out["prepare_99"][1]
    assert len(out["events"]) >= 3
    with sqlite3.connect(tmp_path / "data" / "store" / "results.db") as db:
        stored = {r[0]: (r[1], r[2], r[3]) for r in db.execute("SELECT result_id, verdict, code, part_id FROM results")}
    for rid, verdict, code, part_id in out["events"]:
        assert stored[rid] == (verdict, code, part_id)  # every event is a committed result
    assert out["last_id"] in stored


@pytest.mark.timeout(60)
def test_the_state_machine_follows_the_station_and_recipes_change_by_number(tmp_path: Path) -> None:
    """In process, on a LocalStation: disarmed (OperatorAccess) -> Operational/Initialized, armed ->
    Operational/Ready; PrepareRecipe(2) selects recipe 2; an injected part becomes LastResult."""
    from tests_support import make_result

    from inspection.station.local import LocalStation
    from inspection.station.settings import RecipeDef
    from inspection.store import ResultStore, StoreConfig
    from plugins.plant.opcua import MachineVisionServer

    port = free_port()
    with ResultStore(StoreConfig(tmp_path / "store")) as store:
        station = LocalStation(store, data_dir=tmp_path / "st", station_id="S1",
                               recipes=[RecipeDef("pcb-a", 1, "A"), RecipeDef("pcb-b", 2, "B")])
        server = MachineVisionServer(station, host="127.0.0.1", port=port, poll_s=0.05).start()
        try:
            async def session() -> dict[str, Any]:
                out: dict[str, Any] = {}
                async with Client(server.endpoint, timeout=5) as c:
                    idx = (await c.get_namespace_array()).index(MV)
                    sm = await c.nodes.objects.get_child([f"{idx}:VisionSystem", f"{idx}:VisionStateMachine"])

                    async def read(*path: str) -> Any:
                        return await (await sm.get_child([f"{idx}:{p}" for p in path])).read_value()

                    async def settle(want: str) -> str:
                        end = time.monotonic() + 5
                        while (await read("VisionAutomaticModeStateMachine", "CurrentState")).Text != want \
                                and time.monotonic() < end:
                            await asyncio.sleep(0.05)
                        return str((await read("VisionAutomaticModeStateMachine", "CurrentState")).Text)

                    out["disarmed"] = ((await read("CurrentState")).Text, await settle("Initialized"),
                                       await read("StationState"))
                    await asyncio.to_thread(station.arm, user="test")
                    out["armed"] = ((await read("CurrentState")).Text, await settle("Ready"),
                                    await read("CurrentState", "Number"))
                    rm = await c.nodes.objects.get_child([f"{idx}:VisionSystem", f"{idx}:RecipeManagement"])
                    out["prepare"] = await rm.call_method(f"{idx}:PrepareRecipe", ua.Variant(2, ua.VariantType.UInt16))
                    result, image = make_result(1, defective=True)
                    record = await asyncio.to_thread(station.inject, result, image)
                    last = await c.nodes.objects.get_child([f"{idx}:VisionSystem", f"{idx}:ResultManagement",
                                                            f"{idx}:LastResult", f"{idx}:ResultId"])
                    end = time.monotonic() + 5
                    while await last.read_value() != record.result_id and time.monotonic() < end:
                        await asyncio.sleep(0.05)
                    out["last"] = (await last.read_value(), record.result_id)
                return out

            out = asyncio.run(session())
        finally:
            server.stop()
    assert out["disarmed"] == ("Operational", "Initialized", "OPERATOR_ACCESS")
    assert out["armed"] == ("Operational", "Ready", 6)
    assert out["prepare"][0] is True and station.status().active_recipe == "pcb-b"
    assert out["last"][0] == out["last"][1]
