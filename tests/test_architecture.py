"""The rooms and what each may import (docs/architecture.md), read from every import statement in the code,
including imports inside functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("quant", "live_runtime", "assets", "resources", "sensors", "orchestration", "benchmarks")
# quant/'s own modules that are not a domain folder: the format, the drift statistics and the settings.
QUANT_MODULES = {"__init__", "drift", "journal", "settings"}
# What each part of quant/ may import inside quant/ (docs/architecture.md holds the same table).
QUANT_MAY_IMPORT = {
    "market": set(),
    "simulator": {"market"},
    "features": {"market"},
    "chains": {"market", "settings"},
    "wallets": {"market", "settings"},
    "models": {"market", "features", "settings"},
    "evaluation": {"market", "features", "models", "simulator", "settings", "wallets", "retrieval", "drift"},
    "retrieval": {"market", "wallets", "settings"},
    "agents": {"market", "features", "models", "evaluation", "wallets"},
    "drift": {"models"},
    "journal": set(),
    "settings": {"simulator"},
}
NEVER = {
    "quant": {"dagster", "live_runtime", "assets", "resources", "sensors", "orchestration"},
    "live_runtime": {"dagster", "assets", "resources", "sensors", "orchestration"},
    "resources": {"assets", "sensors", "orchestration", "live_runtime"},
    "assets": {"sensors", "orchestration", "live_runtime"},
    "sensors": {"assets", "orchestration", "live_runtime"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def imports() -> dict[str, set[str]]:
    """Module -> the absolute module names it imports (`from a.b import c` gives a.b and a.b.c)."""
    found: dict[str, set[str]] = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            names = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            found[_module(path)] = names
    return found


def _quant_part(module: str) -> str | None:
    """`quant.wallets.scanner.rules` -> "wallets"; None outside quant or for an imported name, not a module."""
    parts = module.split(".")
    if parts[0] != "quant" or len(parts) < 2:
        return None
    part = parts[1]
    return part if (ROOT / "quant" / part).is_dir() or (ROOT / "quant" / f"{part}.py").exists() else None


def test_quant_is_folders_by_domain():
    flat = {p.stem for p in (ROOT / "quant").glob("*.py")} - QUANT_MODULES
    assert not flat, f"flat modules in quant/ that belong in a domain folder: {sorted(flat)}"
    parts = {p.name for p in (ROOT / "quant").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert parts | (QUANT_MODULES - {"__init__"}) == set(QUANT_MAY_IMPORT)


def test_rooms_import_only_what_they_may():
    wrong = []
    for module, names in imports().items():
        room = module.split(".")[0]
        for name in names:
            if name.split(".")[0] in NEVER.get(room, ()):
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def test_quant_parts_import_only_what_they_may_and_form_no_cycle():
    graph: dict[str, set[str]] = {part: set() for part in QUANT_MAY_IMPORT}
    wrong = []
    for module, names in imports().items():
        part = _quant_part(module)
        if part is None:
            continue
        for name in names:
            other = _quant_part(name)
            if other is None or other == part:
                continue
            graph[part].add(other)
            if other not in QUANT_MAY_IMPORT[part]:
                wrong.append(f"{module} imports {name} ({part} may import {sorted(QUANT_MAY_IMPORT[part])})")
    assert not wrong, "\n".join(sorted(wrong))
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        pytest.fail(f"import cycle between quant's folders: {err.args[1]}")


def test_no_module_imports_another_modules_private_name():
    wrong = [f"{module} imports {name}" for module, names in imports().items() for name in names
             if name.rsplit(".", 1)[-1].startswith("_") and not name.rsplit(".", 1)[-1].startswith("__")
             and name.rsplit(".", 1)[0] != module]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_asset_module_imports_another():
    wrong = [f"{module} imports {name}" for module, names in imports().items() if module.startswith("assets.")
             for name in names if name.startswith("assets.") and name.split(".")[1] != module.split(".")[1]
             and name.split(".")[1] in {p.stem for p in (ROOT / "assets").glob("*.py")} - {"partitions", "common"}]
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize(("statement", "absent"), [
    ("import live_runtime.engine, live_runtime.models, live_runtime.api", "dagster"),
    ("import quant.features, quant.models.registry, quant.wallets.scanner.stages, quant.retrieval.search", "dagster"),
    ("from quant.agents import ENTER, EXIT, entry_observation, load_agent", "stable_baselines3"),
])
def test_importing_does_not_load(statement, absent):
    """What is imported at run time, not only what the source says: a policy loads no training code, and the
    live runtime and the domain load no Dagster."""
    code = f"import sys; {statement}; print({absent!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"`{statement}` loads {absent}"


# Touching os.environ without parsing a variable, each in one named module: a write before a library loads
# (`setdefault`), or the whole environment copied to a child process (`{**os.environ, ...}`).
ENVIRONMENT_WRITES = {("benchmarks.scanner", "setdefault"), ("quant.retrieval.embedders", "setdefault"),
                      ("benchmarks.live", "copy")}


def _environment_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, "read" | "setdefault" | "copy") of every os.environ / os.getenv in a module."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {"environ", "getenv"} & {a.name for a in
                                                                                             node.names}:
            uses.append((node.lineno, "read"))
        if not (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name) and node.value.id == "os"):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr == "setdefault":
            uses.append((node.lineno, "setdefault"))
        elif isinstance(parent, ast.Dict) and any(k is None and v is node
                                                  for k, v in zip(parent.keys, parent.values, strict=True)):
            uses.append((node.lineno, "copy"))
        else:
            uses.append((node.lineno, "read"))
    return uses


def test_only_quant_settings_reads_the_environment():
    wrong = []
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            module = _module(path)
            if module == "quant.settings":
                continue
            wrong += [f"{module}:{line} ({use})" for line, use in _environment_uses(ast.parse(path.read_text()))
                      if (module, use) not in ENVIRONMENT_WRITES]
    assert not wrong, "read the environment outside quant/settings.py:\n" + "\n".join(sorted(wrong))


def test_importing_the_definitions_and_the_assets_reads_no_environment():
    """Settings are read when Dagster loads `defs`, not at import: a bad value fails the load, not the import."""
    modules = ["orchestration.definitions", *sorted(f"assets.{p.stem}" for p in (ROOT / "assets").glob("*.py")
                                                    if p.stem != "__init__")]
    code = f"import importlib; [importlib.import_module(m) for m in {modules!r}]"
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "QUANT_WORLD": "bogus", "QUANT_ENV": "bogus"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    load = subprocess.run([sys.executable, "-c", "from orchestration.definitions import defs; defs()"], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False)
    assert load.returncode != 0 and "QUANT_WORLD must be one of" in load.stderr
