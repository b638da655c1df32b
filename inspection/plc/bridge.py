"""PLC bridges and tools, found by name (transport plugins live in plugins/plc and are imported only
when asked for).

A bridge connects a :class:`inspection.plc.station.PlcStation` to a PLC over one transport; every
transport maps the same state machine and register names (docs/plc.md). Third parties add bridges
through the entry-point group ``inspection.plc_bridges``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from inspection.registry import Registry


class PlcBridge(Protocol):
    def start(self) -> Any:
        ...

    def stop(self) -> None:
        ...


plc_bridges: Registry[PlcBridge] = Registry("PLC bridge", "inspection.plc_bridges")
plc_bridges.register("modbus", "plugins.plc.modbus:create_bridge")
plc_bridges.register("s7", "plugins.plc.s7:create_bridge", extra="s7")

# Command-line tools of a transport: "<bridge>-<tool>" -> func(args) -> exit code.
plc_tools: Registry[int] = Registry("PLC tool", "inspection.plc_tools")
for _tool in ("simulate", "conformance", "bench", "serve"):
    plc_tools.register(f"modbus-{_tool}", f"plugins.plc.cli_tools:{_tool}")

ToolFunc = Callable[[argparse.Namespace], int]
