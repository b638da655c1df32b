"""The fault matrix, short form (issue #13): a real `inspection run` station on loopback with the
production-style config (absolute paths), the PLC simulator at 20 parts/s, faults injected from
outside. Every row must show 0 lost, 0 duplicated, 0 stale, 0 PASS without inspection."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("fault_matrix", Path(__file__).parent / "fault_matrix.py")
assert _spec is not None and _spec.loader is not None
fault_matrix = importlib.util.module_from_spec(_spec)
sys.modules["fault_matrix"] = fault_matrix  # dataclasses look their module up there
_spec.loader.exec_module(fault_matrix)


@pytest.mark.slow
def test_fault_matrix_short_form(tmp_path: Path) -> None:
    rows = fault_matrix.run_matrix(tmp_path, parts=20, rate=20.0)
    print("\n" + fault_matrix.table(rows))
    assert len(rows) == 9
    for row in rows:
        assert row["parts"] >= 10, row
        for key in ("lost", "duplicated", "stale", "pass_without_inspection"):
            assert row[key] == 0, row
        assert float(str(row["worst_cycle_ms"])) <= 500.0, row
