"""The core PLC modules import no transport: pymodbus and plugins stay out of inspection/."""

from __future__ import annotations

import ast
from pathlib import Path

import inspection

CORE = Path(inspection.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_plc_modules_import_no_transport():
    files = sorted((CORE / "plc").glob("*.py")) + sorted((CORE / "station").glob("*.py")) + [CORE / "cli" / "plc.py"]
    assert len(files) >= 18
    for path in files:
        bad = {n for n in _imports(path) if n.split(".")[0] in {"pymodbus", "plugins", "hmi", "calibration"}}
        assert not bad, f"{path.name} imports {bad}"
