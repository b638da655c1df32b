"""The arrows point one way: the core (inspection/) imports none of plugins/, hmi/, calibration/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("plugins", "hmi", "calibration")


def test_core_imports_no_plugin_hmi_or_calibration():
    bad = []
    for path in (ROOT / "inspection").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert bad == []
