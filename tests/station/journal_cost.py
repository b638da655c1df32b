"""What the result journal's fsync costs the PLC cycle (docs/station.md, "Durability").

    python tests/station/journal_cost.py fsync|nofsync [PARTS]

A real station (replay camera, Modbus TCP server on loopback, store and journal in a temporary
folder next to the repository, i.e. on the same disk) and the PLC simulator at about 30 parts/s;
prints the trigger-to-RESULT_VALID p50/p99/max as the PLC sees it. ``nofsync`` runs the same
journal without fdatasync, for comparison only.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import inspection.station.journal as journal  # noqa: E402
from inspection.camera.settings import CameraSettings  # noqa: E402
from inspection.cli.demo_parts import generate_parts, generated_recipe  # noqa: E402
from inspection.plc.contract import StationState  # noqa: E402
from inspection.recipe.catalog import MemoryCatalog  # noqa: E402
from inspection.station.config import PlcSection, StationConfig, StationSection  # noqa: E402
from inspection.station.runtime import Station  # noqa: E402
from plugins.plc.simulator import PlcSimulator  # noqa: E402


def main() -> None:
    mode, parts = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400
    original = journal.ResultJournal.__init__

    def init(self: journal.ResultJournal, folder: Path, **kw: object) -> None:
        original(self, folder, fsync=mode == "fsync")

    journal.ResultJournal.__init__ = init  # type: ignore[method-assign]
    tmp = Path(tempfile.mkdtemp(dir=ROOT))
    try:
        reference, _ = generate_parts(tmp / "camera", count=6, seed=5, shape=(120, 160))
        config = StationConfig(station=StationSection(id="cost", data_dir=tmp / "data"),
                               camera=CameraSettings(driver="replay", image_file=tmp / "camera",
                                                     grab_timeout_s=2.0),
                               plc=PlcSection(host="127.0.0.1", port=0, deadline_ms=3000,
                                              plc_heartbeat_timeout_ms=2000))
        station = Station(config, MemoryCatalog([generated_recipe(reference, number=1)])).start()
        sim = PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.0005).connect()
        sim.wait(lambda v: v.state == StationState.READY, "recipe prepared", 20)
        sim.enable(True)
        cycles = []
        for i in range(parts):
            cycles.append(sim.run_part(i + 1, part_id=i).result_ms)
            time.sleep(0.03)
        sim.close()
        station.stop()
        cycles.sort()
        n = len(cycles)
        print(f"{mode}: {n} parts, p50 {cycles[n // 2]:.2f} ms, p99 {cycles[int(n * 0.99)]:.2f} ms, "
              f"max {cycles[-1]:.2f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
