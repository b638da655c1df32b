"""A running station behind the HMI for tests: a real camera driver (file replay, or the pylon camera
emulator serving the parts), the Modbus server with the PLC simulator as the PLC, the real store,
and a recipe with a variation model (tolerance band)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from goodset_support import goodset_recipe, write_tiles
from tests_support import wait_stored

from hmi.auth.roles import Role
from hmi.auth.users import UserStore
from inspection.camera.settings import CameraSettings, Roi
from inspection.cli.demo_parts import generate_parts, generated_recipe
from inspection.plc.contract import StationState
from inspection.recipe.catalog import MemoryCatalog
from inspection.recipe.definition import Recipe
from inspection.station.config import PlcSection, StationConfig, StationSection, StorageSection
from inspection.station.runtime import Station
from plugins.plc.simulator import PlcSimulator

SHAPE = (240, 320)
PASSWORD = "pass-word-1"


def banded_recipe(reference: np.ndarray) -> Recipe:
    """The demo part's recipe with a variation model (a band widening from left to right)."""
    base = generated_recipe(reference, number=1)
    ramp = np.tile(np.linspace(6, 14, SHAPE[1], dtype=np.float32), (SHAPE[0], 1))
    return dataclasses.replace(base, spread_dark=ramp, spread_bright=ramp[::-1].copy())


def station_config(root: Path, folder: Path, camera: str = "replay") -> StationConfig:
    if camera == "pylon":
        os.environ.setdefault("PYLON_CAMEMU", "1")
        cam = CameraSettings(driver="pylon", emulated=True, name="test-cam", image_file=folder,
                             roi=Roi(width=SHAPE[1], height=SHAPE[0]), grab_timeout_s=5.0)
    else:
        cam = CameraSettings(driver="replay", image_file=folder, grab_timeout_s=2.0)
    return StationConfig(
        station=StationSection(id="teach-station", data_dir=root / "data"), camera=cam,
        plc=PlcSection(host="127.0.0.1", port=0, deadline_ms=3000, plc_heartbeat_timeout_ms=5000),
        storage=StorageSection(save_pass_every=1))


@dataclasses.dataclass
class Running:
    station: Station
    sim: PlcSimulator
    users: UserStore
    planted: list[bool]
    recipe: Recipe
    config: StationConfig
    catalog: MemoryCatalog
    seq: int = 0

    def run(self, n: int) -> None:
        """``n`` parts through the PLC handshake, then until the store holds every result so far."""
        for _ in range(n):
            self.seq += 1
            assert self.sim.run_part(self.seq, part_id=self.seq, part_id_str=f"SN{self.seq:04d}").ok
        wait_stored(self.station, self.seq)



@contextmanager
def running_station(root: Path, *, camera: str = "replay", parts: int = 12) -> Iterator[Running]:
    folder = root / "camera"
    reference, planted = generate_parts(folder, count=parts, defect_share=0.3, seed=11, shape=SHAPE)
    recipe = banded_recipe(reference)
    catalog = MemoryCatalog([recipe, dataclasses.replace(goodset_recipe(), number=2)])
    with _started(root, station_config(root, folder, camera), catalog, recipe, planted) as rs:
        yield rs


@contextmanager
def running_goodset_station(root: Path, defects: list[bool],
                            scales: tuple[tuple[int, int], ...] | None = None,
                            bank_knn: int = 0, parts: int = 0, tile_rows: int = 60,
                            target_frr: float = 0.0, **settings: object) -> Iterator[Running]:
    """The same with the good-set tile recipe (number 1, :func:`goodset_recipe`, per-slice banks
    with ``scales``) active and the replay camera serving textured tiles, one per entry of
    ``defects`` (a smooth spot where it says True). The test lets the station create the test
    extractor (:func:`goodset_support.use_block_features`); ``parts``: see
    :func:`goodset_support.write_tiles`, ``tile_rows``, ``target_frr``, ``settings``: :func:`goodset_support.goodset_recipe`."""
    folder = root / "camera"
    write_tiles(folder, defects, parts=parts)
    recipe = dataclasses.replace(goodset_recipe(0, scales=scales, bank_knn=bank_knn, tile_rows=tile_rows,
                                                  target_frr=target_frr, **settings), number=1)
    with _started(root, station_config(root, folder), MemoryCatalog([recipe]), recipe, list(defects)) as rs:
        yield rs


@contextmanager
def _started(root: Path, config: StationConfig, catalog: MemoryCatalog, recipe: Recipe,
             planted: list[bool]) -> Iterator[Running]:
    """The station started on ``config``, the PLC simulator connected with recipe 1 selected and the
    trigger enabled, and the users erik (engineer) and olga (operator)."""
    station = Station(config, catalog).start()
    sim = PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0).connect()
    users = UserStore(root / "users.db")
    for name, role in (("erik", Role.ENGINEER), ("olga", Role.OPERATOR)):
        if users.get(name) is None:
            users.create(name, role, PASSWORD)
    try:
        sim.wait(lambda v: v.state == StationState.READY, "recipe prepared", 20.0)
        sim.recipe_no = 1
        sim.enable(True)
        yield Running(station, sim, users, planted, recipe, config, catalog)
    finally:
        sim.close()
        station.stop()
        users.close()


def wait_teach_job(client: Any, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:
    """The HMI's teach-from-parts job once it has ended (``GET /api/teach/job``)."""
    t0 = time.monotonic()
    job = None
    while time.monotonic() - t0 < timeout:
        job = client.get("/api/teach/job", headers=headers).json()["job"]
        if job is not None and not job["running"]:
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"the teach job did not end: {job}")
