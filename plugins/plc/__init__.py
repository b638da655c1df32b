"""PLC bridges (Modbus TCP server and client), the PLC simulator, the conformance suite and bench."""

from __future__ import annotations

from typing import Any

from inspection.errors import MissingDependency


def require_pymodbus() -> Any:
    """pymodbus, or a MissingDependency naming the extra when it is not installed."""
    try:
        import pymodbus
    except ModuleNotFoundError as exc:
        raise MissingDependency("pymodbus", purpose="the Modbus TCP PLC bridge") from exc
    return pymodbus
