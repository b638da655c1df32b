"""Words <-> values of the PLC contract: u32 word order, ASCII strings, the PLC command block,
and the validation every PLC write goes through (whatever the transport).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inspection.errors import PlcWriteRefused
from inspection.plc.contract import (
    CMD_RESERVED_MASK,
    PART_ID_STR_WORDS,
    PLC_BLOCK_LEN,
    PLC_BLOCK_START,
    RECIPE_MAX,
    STN_BLOCK_LEN,
    STN_BLOCK_START,
    Cmd,
    PlcReg,
)


def u32_to_words(value: int, *, low_word_first: bool = True) -> tuple[int, int]:
    """Split an unsigned 32-bit value into two registers in the configured word order."""
    value = int(value) & 0xFFFFFFFF
    low, high = value & 0xFFFF, value >> 16
    return (low, high) if low_word_first else (high, low)


def words_to_u32(first: int, second: int, *, low_word_first: bool = True) -> int:
    low, high = (first, second) if low_word_first else (second, first)
    return ((high & 0xFFFF) << 16) | (low & 0xFFFF)


def ascii_to_words(text: str, *, words: int = PART_ID_STR_WORDS) -> list[int]:
    """``text`` as ASCII, two characters per register, first character in the high byte,
    NUL-padded to ``words`` registers. Characters outside printable ASCII become '?'; text longer
    than ``2 * words`` is cut."""
    raw = bytes(c if 0x20 <= c <= 0x7E else 0x3F for c in text.encode("ascii", "replace"))
    raw = raw[: 2 * words].ljust(2 * words, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, 2 * words, 2)]


def words_to_ascii(values: Sequence[int]) -> str:
    raw = b"".join(int(v & 0xFFFF).to_bytes(2, "big") for v in values)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


@dataclass(frozen=True)
class PlcWords:
    """The PLC command block, decoded."""

    cmd: Cmd = field(default_factory=lambda: Cmd(0))
    heartbeat: int = 0
    recipe_no: int = 0
    part_id: int = 0
    part_id_str: str = ""
    trigger_seq: int = 0

    @classmethod
    def decode(cls, values: Sequence[int], *, low_word_first: bool = True) -> PlcWords:
        if len(values) != PLC_BLOCK_LEN:
            raise ValueError(f"the PLC block has {PLC_BLOCK_LEN} registers, got {len(values)}")
        p = PlcReg.PART_ID
        s = PlcReg.PART_ID_STR
        return cls(
            cmd=Cmd(values[PlcReg.CMD] & ~CMD_RESERVED_MASK & 0xFFFF),
            heartbeat=int(values[PlcReg.PLC_HEARTBEAT]),
            recipe_no=int(values[PlcReg.RECIPE_NO]),
            part_id=words_to_u32(values[p], values[p + 1], low_word_first=low_word_first),
            part_id_str=words_to_ascii(values[s : s + PART_ID_STR_WORDS]),
            trigger_seq=int(values[PlcReg.TRIGGER_SEQ]),
        )

    def encode(self, *, low_word_first: bool = True) -> list[int]:
        out = [0] * PLC_BLOCK_LEN
        out[PlcReg.CMD] = int(self.cmd) & 0xFFFF
        out[PlcReg.PLC_HEARTBEAT] = self.heartbeat & 0xFFFF
        out[PlcReg.RECIPE_NO] = self.recipe_no & 0xFFFF
        p = PlcReg.PART_ID
        out[p], out[p + 1] = u32_to_words(self.part_id, low_word_first=low_word_first)
        s = PlcReg.PART_ID_STR
        out[s : s + PART_ID_STR_WORDS] = ascii_to_words(self.part_id_str)
        out[PlcReg.TRIGGER_SEQ] = self.trigger_seq & 0xFFFF
        return out


def validate_plc_write(address: int, values: Sequence[int]) -> None:
    """Check one PLC write of ``values`` starting at contract ``address`` (0-based, offset removed).

    Raises :class:`PlcWriteRefused` for anything the contract does not allow; a refused write must
    be refused whole (no register of it applied).
    """
    if not values:
        raise PlcWriteRefused("empty write", register=address, reason="unmapped")
    end = address + len(values)
    stn_end = STN_BLOCK_START + STN_BLOCK_LEN
    if address < stn_end and end > STN_BLOCK_START:
        raise PlcWriteRefused("the station status block (HR100-126) is read-only for the PLC",
                              register=max(address, STN_BLOCK_START), reason="status_block")
    if address < PLC_BLOCK_START or end > PLC_BLOCK_START + PLC_BLOCK_LEN:
        raise PlcWriteRefused(f"write of {len(values)} register(s) outside the PLC block HR0-13",
                              register=address, reason="unmapped")
    for i, value in enumerate(values):
        reg = address + i
        if not 0 <= int(value) <= 0xFFFF:
            raise PlcWriteRefused(f"value {value} is not a 16-bit register", register=reg,
                                  reason="bad_value")
        if reg == PlcReg.CMD and value & CMD_RESERVED_MASK:
            raise PlcWriteRefused(f"reserved CMD bits set ({value & CMD_RESERVED_MASK:#06x})",
                                  register=reg, reason="reserved_bits")
        if reg == PlcReg.RECIPE_NO and value > RECIPE_MAX:
            raise PlcWriteRefused(f"RECIPE_NO {value} out of range 0-{RECIPE_MAX}", register=reg,
                                  reason="recipe_out_of_range")
        if PlcReg.PART_ID_STR <= reg < PlcReg.PART_ID_STR + PART_ID_STR_WORDS:
            for byte in (value >> 8, value & 0xFF):
                if byte and not 0x20 <= byte <= 0x7E:
                    raise PlcWriteRefused(f"PART_ID_STR byte {byte:#04x} is not printable ASCII",
                                          register=reg, reason="bad_ascii")
