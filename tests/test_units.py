"""Pixels to millimetres for results, PLC registers and the HMI."""

from __future__ import annotations

import pytest

from inspection.findings import Finding
from inspection.units import area_mm2, finding_geometry, length_mm, plc_area, plc_position, plc_units


def test_calibrated_registers_are_tenths_of_mm_and_hundredths_of_mm2():
    mm = 0.05
    assert plc_position(123.4, mm) == 62  # 6.17 mm -> 61.7 -> 62 (0.1 mm)
    assert plc_area(400, mm) == 100  # 400 px x 0.0025 mm2 = 1.00 mm2 -> 100 (0.01 mm2)
    assert plc_units(mm) == {"position": "0.1 mm", "area": "0.01 mm2"}
    assert length_mm(10, mm) == pytest.approx(0.5) and area_mm2(4, mm) == pytest.approx(0.01)


def test_uncalibrated_registers_are_pixels():
    assert plc_position(123.4, None) == 123
    assert plc_area(400, None) == 400
    assert plc_units(None) == {"position": "px", "area": "px"}
    assert length_mm(10, None) is None and area_mm2(4, None) is None


def test_registers_saturate_to_16_bits():
    assert plc_position(1e9, None) == 65535 and plc_position(-5, 0.1) == 0
    assert plc_area(float("inf"), 0.1) == 65535
    with pytest.raises(ValueError):
        plc_position(1.0, 0.0)


def test_finding_geometry_in_mm():
    f = Finding(box=(10, 20, 30, 60), score=0.9, area_px=200)
    g = finding_geometry(f, 0.1)
    assert g["unit"] == "mm" and g["center_mm"] == pytest.approx([2.0, 4.0])
    assert g["size_mm"] == pytest.approx([2.0, 4.0]) and g["area_mm2"] == pytest.approx(2.0)
    assert g["length_mm"] == pytest.approx(4.0)
    assert finding_geometry(f, None)["unit"] == "px" and "center_mm" not in finding_geometry(f, None)
