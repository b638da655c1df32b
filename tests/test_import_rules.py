"""Data flows one way: the core imports no plugin, HMI or calibration code, and no vendor SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("plugins", "hmi", "calibration", "pypylon", "pymodbus", "onnxruntime", "torch", "fastapi")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_import_nothing_forbidden() -> None:
    offenders = {}
    for path in (ROOT / "inspection").rglob("*.py"):
        if "cli" in path.parts or "train" in path.parts:
            # the CLI is the composition root: it wires plugins, HMI and calibration together, and
            # imports them lazily inside its commands (tests/cameras/test_sdk_imports.py checks
            # that, and the test below that importing it loads no SDK); training may use torch
            continue
        bad = _imports(path) & set(FORBIDDEN)
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders


def test_importing_the_core_and_cli_loads_no_vendor_sdk() -> None:
    code = ("import sys, inspection.pipeline, inspection.cli; inspection.cli.build_parser(); "
            "print(','.join(m for m in ('pypylon','pymodbus','onnxruntime','torch','fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
