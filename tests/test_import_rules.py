"""Data flows one way: the core imports no plugin, HMI or calibration code, and no vendor SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("plugins", "hmi", "calibration", "pypylon", "pymodbus", "onnxruntime", "torch", "fastapi",
             "paho", "psycopg", "asyncua", "snap7")


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
            "print(','.join(m for m in ('pypylon','pymodbus','onnxruntime','torch','fastapi','paho','psycopg',"
            "'asyncua','snap7') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


PACKAGES = ("inspection", "plugins", "calibration", "hmi")
ENTRY_ONLY = ("inspection.cli", "inspection.bench", "inspection.train")


def _module_graph() -> dict[str, set[str]]:
    """Every module of the tree -> the modules of the tree it imports (anywhere in the file, lazy
    imports and TYPE_CHECKING blocks included: a circle is a circle even when Python tolerates it)."""
    mods: dict[str, Path] = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            deps |= {r for r in map(resolve, targets) if r and r != mod}
        graph[mod] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_circles_anywhere() -> None:
    assert _cycles(_module_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_entry_points_import_cli_bench_and_train() -> None:
    offenders = sorted((mod, dep) for mod, deps in _module_graph().items() for dep in deps
                       if dep.startswith(ENTRY_ONLY) and not mod.startswith((*ENTRY_ONLY, "inspection.__main__")))
    assert offenders == []


def test_the_core_keeps_at_most_15_modules_at_its_root() -> None:
    root_modules = sorted(p.name for p in (ROOT / "inspection").glob("*.py"))
    assert len(root_modules) <= 15, root_modules


def test_each_plant_library_is_imported_by_exactly_one_module() -> None:
    """paho-mqtt, psycopg, asyncua, python-snap7: one module of plugins/ each (tests aside)."""
    users: dict[str, list[str]] = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            for lib in _imports(path) & {"paho", "psycopg", "asyncua", "snap7"}:
                users.setdefault(lib, []).append(str(path.relative_to(ROOT)))
    assert users.get("paho") == ["plugins/plant/mqtt.py"]
    assert users.get("psycopg") == ["plugins/plant/postgres.py"]
    assert users.get("asyncua") == ["plugins/plant/opcua.py"]
    assert users.get("snap7") == ["plugins/plc/s7.py"]
