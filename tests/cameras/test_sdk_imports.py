"""Import rules for the camera layer: pypylon is imported by exactly one module, and lazily;
the core (inspection/) imports no plugin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, id(node) in top))
    return out


def test_pypylon_is_imported_only_by_the_pylon_plugin_and_lazily():
    users = {}
    for path in sorted((ROOT / "inspection").rglob("*.py")) + sorted((ROOT / "plugins").rglob("*.py")):
        for module, at_top in _imports(path):
            if module.split(".")[0] == "pypylon":
                users[path.relative_to(ROOT).as_posix()] = at_top
    assert users == {"plugins/cameras/pylon.py": False}


def test_the_core_imports_no_plugin():
    # the CLI (inspection/cli) is the composition root: it may import plugins, the HMI and
    # calibration, but only inside its commands, never when it is imported
    for path in sorted((ROOT / "inspection").rglob("*.py")):
        in_cli = "cli" in path.relative_to(ROOT).parts
        for module, at_top in _imports(path):
            if module.split(".")[0] in {"plugins", "hmi", "calibration"}:
                assert in_cli and not at_top, (path, module)


def test_importing_the_camera_layer_does_not_load_pypylon():
    code = ("import sys, inspection.camera.contract, inspection.camera.check, inspection.cli.camera, "
            "plugins.cameras.pylon, plugins.cameras.replay; print('pypylon' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
