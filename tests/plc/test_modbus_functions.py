"""Issue #13, item 9: the station's Modbus server answered function codes 0x08 (diagnostics,
including force listen-only), 0x11 and 0x2B that docs/plc.md does not list. Real pymodbus client."""

from __future__ import annotations

import pytest
from pymodbus.client import ModbusTcpClient

from inspection.plc.contract import StationState


@pytest.mark.parametrize("call", [
    lambda c: c.diag_read_diagnostic_register(device_id=1),
    lambda c: c.diag_restart_communication(False, device_id=1),
    lambda c: c.diag_force_listen_only(device_id=1),
    lambda c: c.report_device_id(device_id=1),
    lambda c: c.read_device_information(device_id=1),
], ids=["fc08-diag-register", "fc08-restart", "fc08-listen-only", "fc11-report-id", "fc2b-device-info"])
def test_unlisted_function_codes_get_illegal_function(loopback, call):
    ls = loopback()
    # the registers compared below are those of the READY station, not of one still starting
    assert ls.station.wait_for(lambda im: im.state is StationState.READY, 5.0)
    client = ModbusTcpClient("127.0.0.1", port=ls.port, timeout=2, retries=0)
    assert client.connect()
    try:
        before = ls.station.registers()
        response = call(client)
        if response is not None:  # pymodbus's client does not wait for an answer to listen-only
            assert response.isError() and response.exception_code == 1
    finally:
        client.close()
    with ModbusTcpClient("127.0.0.1", port=ls.port, timeout=2, retries=0) as again:  # still serves
        regs = again.read_holding_registers(100, count=27, device_id=1)
        assert not regs.isError() and regs.registers[2:] == before[2:]
    assert ls.station.machine.error_code == 0
