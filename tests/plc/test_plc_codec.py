import pytest

from inspection.plc.codec import (
    PlcWords,
    PlcWriteRefused,
    ascii_to_words,
    u32_to_words,
    validate_plc_write,
    words_to_ascii,
    words_to_u32,
)
from inspection.plc.contract import Cmd, PlcReg, StnReg


@pytest.mark.parametrize("low_first", [True, False])
def test_u32_round_trip_and_word_order(low_first):
    words = u32_to_words(0x12345678, low_word_first=low_first)
    assert words == ((0x5678, 0x1234) if low_first else (0x1234, 0x5678))
    assert words_to_u32(*words, low_word_first=low_first) == 0x12345678


def test_ascii_is_high_byte_first_nul_padded_and_cut():
    words = ascii_to_words("AB1")
    assert words[:2] == [0x4142, 0x3100] and words[2:] == [0] * 6
    assert words_to_ascii(words) == "AB1"
    assert words_to_ascii(ascii_to_words("X" * 20)) == "X" * 16
    assert words_to_ascii(ascii_to_words("Ä\x01b")) == "??b"


@pytest.mark.parametrize("low_first", [True, False])
def test_plc_words_round_trip(low_first):
    words = PlcWords(cmd=Cmd.TRIGGER_ENABLE | Cmd.TRIGGER, heartbeat=7, recipe_no=12,
                     part_id=4_000_000_001, part_id_str="DMC-0042", trigger_seq=65535)
    assert PlcWords.decode(words.encode(low_word_first=low_first), low_word_first=low_first) == words


def test_valid_writes_pass():
    validate_plc_write(0, [int(Cmd.TRIGGER_ENABLE | Cmd.BUFFER_ENABLE), 1, 999])
    validate_plc_write(PlcReg.PART_ID_STR, ascii_to_words("SERIAL 12345"))
    validate_plc_write(PlcReg.TRIGGER_SEQ, [0xFFFF])


@pytest.mark.parametrize(("address", "values", "reason"), [
    (PlcReg.CMD, [0x0100], "reserved_bits"),
    (PlcReg.CMD, [0x8001], "reserved_bits"),
    (PlcReg.RECIPE_NO, [1000], "recipe_out_of_range"),
    (PlcReg.CMD, [1, 2, 1000], "recipe_out_of_range"),
    (PlcReg.PART_ID_STR, [0x41FF], "bad_ascii"),
    (StnReg.STS, [1], "status_block"),
    (StnReg.ACK_TIMEOUT_MS, [1], "status_block"),
    (95, [0] * 10, "status_block"),
    (14, [0], "unmapped"),
    (PlcReg.TRIGGER_SEQ, [1, 2], "unmapped"),
    (200, [1], "unmapped"),
    (0, [], "unmapped"),
    (0, [70000], "bad_value"),
])
def test_refused_writes_name_the_register_and_reason(address, values, reason):
    with pytest.raises(PlcWriteRefused) as info:
        validate_plc_write(address, values)
    assert info.value.reason == reason
    assert info.value.key == "plc_write_refused"
