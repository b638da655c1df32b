"""A real station process for the kill -9 tests: replay camera, Modbus TCP server on a free port,
the real store under DATA. Prints "PORT <n>" when ready; SIGTERM stops it cleanly.

    python station_child.py DATA CAMERA_FOLDER
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import cv2

from inspection.camera.settings import CameraSettings
from inspection.cli.demo_parts import generated_recipe
from inspection.recipe.catalog import MemoryCatalog
from inspection.station.config import PlcSection, StationConfig, StationSection
from inspection.station.runtime import Station


def main() -> None:
    data, folder = Path(sys.argv[1]), Path(sys.argv[2])
    reference = cv2.imread(str(folder.parent / "reference.png"), cv2.IMREAD_UNCHANGED)
    config = StationConfig(
        station=StationSection(id="kill-test", data_dir=data),
        camera=CameraSettings(driver="replay", image_file=folder, grab_timeout_s=2.0),
        plc=PlcSection(host="127.0.0.1", port=0, deadline_ms=3000, plc_heartbeat_timeout_ms=2000),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    station = Station(config, MemoryCatalog([generated_recipe(reference, number=1)])).start()
    print(f"PORT {station.modbus_port}", flush=True)
    stop.wait()
    station.stop()


if __name__ == "__main__":
    main()
