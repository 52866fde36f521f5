"""Imports flow one way: facts at the bottom, then infrastructure, the stages in lineage order, and the
operations and the code location on top (docs/architecture.md draws it). No module imports a module
of a higher layer, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "forecast_assets"

#: Lowest first; a module belongs to the layer of the longest prefix it starts with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("facts", ("stations", "partitions", "environment", "feeds")),
    (
        "infrastructure",
        ("staging", "ownership", "partition_checks", "daily_assets", "instance", "markdown", "dagster_internals"),
    ),
    ("raw stage", ("raw",)),
    ("weather stage", ("weather",)),
    ("mongo stage", ("mongo",)),
    ("readers and tools", ("read", "sample_data")),
    ("operations", ("operations", "jobs")),
    # the environment's resource set, what is built from it, and the CLI that uses it
    ("code location", ("resources", "definitions", "operations.landing_history")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    inner = module.removeprefix("forecast_assets").lstrip(".")
    if not inner:
        return 0  # the package itself
    matches = [
        (len(p), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for p in prefixes
        if inner == p or inner.startswith(p + ".")
    ]
    if matches:
        return max(matches)[1]
    raise AssertionError(
        f"{module} is in no layer: add it to LAYERS in {Path(__file__).name} and to docs/architecture.md"
    )


def imports_of(path: Path) -> set[str]:
    """Every forecast_assets module ``path`` imports (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("forecast_assets"):
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                or (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/") / "__init__.py").exists()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("forecast_assets"))
    return found - {"forecast_assets"}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_layer_and_the_layers_below(module):
    upward = [
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in sorted(GRAPH[module])
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, f"{module} ({LAYERS[layer_of(module)][0]}) imports a higher layer: {upward}"


def test_no_import_cycles():
    def edges(module: str) -> set[str]:
        # a package's __init__ re-exporting its own modules is not a cycle worth reporting
        return {t for t in GRAPH.get(module, ()) if t in GRAPH and not module.startswith(t + ".")}

    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges(module)):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check is not vacuous: a raw-stage module importing the mongo stage (even inside a function) is seen."""
    module = tmp_path / "checks.py"
    module.write_text("def f():\n    from forecast_assets.mongo.assets import load_day\n")
    found = imports_of(module)
    assert found == {"forecast_assets.mongo.assets"}
    assert layer_of("forecast_assets.mongo.assets") > layer_of("forecast_assets.raw.checks")
