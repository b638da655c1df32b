"""Short machine timings of the PLC tests (a module of its own: ``from conftest import`` breaks when
another test folder's conftest was loaded last)."""

from __future__ import annotations

from inspection.station.timing import MachineConfig

# Short timings so the fault cases run fast; the same values a PLC would read from HR125/126.
FAST = MachineConfig(deadline_ms=200, ack_timeout_ms=300, plc_heartbeat_timeout_ms=300, simulation=True)
