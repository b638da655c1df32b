"""A complete PLC-facing station on one address (state machine + Modbus TCP server), restartable on
the same port: what the tests, the benchmark, the conformance suite and ``inspection plc-serve`` run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from inspection.plc.job import InspectionJob, RecipePreparer, accept_any_recipe
from inspection.plc.station import PlcStation
from inspection.station.timing import MachineConfig
from plugins.plc.modbus import ModbusServerBridge

logger = logging.getLogger(__name__)


class LoopbackStation:
    """``job_factory()`` makes the inspection job for each (re)start. Port 0 picks a free port at the
    first start; a restart keeps it."""

    def __init__(self, job_factory: Callable[[], InspectionJob], *, config: MachineConfig | None = None,
                 host: str = "127.0.0.1", port: int = 0, unit_id: int | None = 1,
                 address_offset: int = 0, low_word_first: bool = True,
                 preparer: RecipePreparer = accept_any_recipe, initial_recipe: int | None = 0) -> None:
        self.job_factory = job_factory
        self.config = config or MachineConfig()
        self.host, self.port, self.unit_id = host, port, unit_id
        self.address_offset, self.low_word_first = address_offset, low_word_first
        self.preparer, self.initial_recipe = preparer, initial_recipe
        self.station: PlcStation | None = None
        self.bridge: ModbusServerBridge | None = None
        self.job: InspectionJob | None = None
        self.starts = 0

    def start(self) -> LoopbackStation:
        self.job = self.job_factory()
        self.station = PlcStation(self.job, config=self.config, preparer=self.preparer,
                                  initial_recipe=self.initial_recipe,
                                  low_word_first=self.low_word_first).start()
        try:
            self.bridge = ModbusServerBridge(self.station, host=self.host, port=self.port,
                                             unit_id=self.unit_id,
                                             address_offset=self.address_offset).start()
        except Exception:
            self.station.stop()
            raise
        self.port = self.bridge.port
        self.starts += 1
        return self

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.station is not None:
            self.station.stop()
            self.station = None

    def restart(self) -> None:
        """Power-cycle the station: everything it held is gone, the port stays."""
        logger.info("restarting the station on port %d", self.port)
        self.stop()
        self.start()

    def __enter__(self) -> LoopbackStation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
