"""A third-party Modbus master (Debian's mbpoll, installed by dev.sh) reads the status block and has
its malformed writes refused."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from inspection.plc.contract import Cmd, StationState, StnReg, Sts

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None,
                                reason="mbpoll not installed (dev.sh installs it)")


def mbpoll(port: int, ref: int, *, count: int = 1, values: tuple[int, ...] = ()) -> tuple[int, str]:
    cmd = ["mbpoll", "-m", "tcp", "-a", "1", "-0", "-1", "-o", "3", "-p", str(port), "-r", str(ref)]
    if not values:
        cmd += ["-c", str(count)]
    p = subprocess.run([*cmd, "127.0.0.1", *map(str, values)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def registers(text: str) -> dict[int, int]:
    return {int(a): int(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", text, re.M)}


def test_mbpoll_reads_the_status_block_and_drives_enable(loopback):
    ls = loopback()
    rc, out = mbpoll(ls.port, 100, count=27)
    assert rc == 0, out
    regs = registers(out)
    assert sorted(regs) == list(range(100, 127))
    assert regs[StnReg.STATE] == StationState.READY
    assert regs[StnReg.DEADLINE_MS] == 200 and regs[StnReg.ACK_TIMEOUT_MS] == 300
    assert not regs[StnReg.STS] & (Sts.RESULT_VALID | Sts.PASS | Sts.READY)
    rc, out = mbpoll(ls.port, 0, values=(int(Cmd.TRIGGER_ENABLE),))
    assert rc == 0 and "Written 1 references" in out, out
    rc, out = mbpoll(ls.port, 100)
    assert registers(out)[100] & Sts.READY


@pytest.mark.parametrize(("ref", "value", "message"), [
    (0, 0x0100, "Illegal data value"),
    (2, 1000, "Illegal data value"),
    (100, 5, "Illegal data address"),
    (60, 5, "Illegal data address"),
])
def test_mbpoll_malformed_writes_are_refused(loopback, ref, value, message):
    ls = loopback()
    rc, out = mbpoll(ls.port, ref, values=(value,))
    assert rc != 0 and message in out, out
    assert ls.bridge.refused_writes == 1
    assert ls.station.image().error_code == 19  # MALFORMED_WRITE
