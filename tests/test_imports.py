"""The layers as `docs/architecture.md` draws them: each imports only the layers below it,
and importing the library stays light (no store drivers, no test tools, no asyncio)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each layer may import from this project; a layer always may import itself.
ALLOWED = {
    "statemachine.core": set(),
    "statemachine.store": {"statemachine.core"},
    "statemachine.runtime": {"statemachine.core", "statemachine.store"},
    "statemachine.tools": {"statemachine.core", "statemachine.testing"},  # the explorer
    "statemachine.testing": {"statemachine.core", "statemachine.store", "statemachine.runtime"},
    "statemachine.web": {
        "statemachine.core", "statemachine.store", "statemachine.runtime", "statemachine.tools",
    },
    "statemachine.cli": {
        "statemachine.core", "statemachine.store", "statemachine.runtime", "statemachine.tools",
        "statemachine.testing", "stores",  # testing: `verify` checks histories
        "statemachine.web",  # `serve`, imported when it runs
    },
    "stores": {"statemachine.core", "statemachine.store"},
}  # fmt: skip
FOREIGN = {  # drivers and frameworks: only adapters and tools import them
    "statemachine.core": {"redis", "hypothesis", "starlette", "fastapi", "opentelemetry"},
    "statemachine.store": {"redis", "hypothesis", "transitions"},
    "statemachine.runtime": {"redis", "hypothesis", "transitions"},
    "statemachine.tools": {"starlette", "uvicorn", "jinja2"},
    "statemachine.web": {"redis", "hypothesis", "transitions", "stores"},
}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer(module: str) -> str | None:
    return next((layer for layer in ALLOWED if module.split(".")[: len(layer.split("."))]
                 == layer.split(".")), None)  # fmt: skip


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    folder = ROOT.joinpath(*layer.split("."))
    files = sorted(folder.rglob("*.py"))
    assert files, layer
    for path in files:
        for name in _imported(path):
            top = name.split(".")[0]
            assert top not in FOREIGN.get(layer, set()), f"{path.relative_to(ROOT)} imports {name}"
            other = _layer(name)
            if name == "statemachine" or (top == "statemachine" and other is None):
                other = "statemachine"  # the package's face, or a module outside the layers
            if top in {"statemachine", "stores"} and other != layer:
                assert other in ALLOWED[layer], f"{path.relative_to(ROOT)} imports {name}"


def test_core_import_pulls_in_no_drivers_or_stores() -> None:
    """`import statemachine` loads no driver, store, test tool, or what only some uses need
    (cattrs for encoding, transitions for building the machine, the worker, and the
    executing half of the runtime: a process that only reads runs or decides never runs one)."""
    script = "import sys, statemachine\nprint('\\n'.join(sorted(sys.modules)))\n"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert "statemachine" in loaded
    for forbidden in (
        "redis",
        "stores",
        "hypothesis",
        "cattrs",
        "transitions",
        "statemachine.testing",
        "statemachine.tools.diagram",
        "statemachine.runtime.worker",
        "statemachine.runtime.driver",
        "statemachine.runtime.shells",
        "statemachine.runtime.stream",
        "statemachine.web",
        "starlette",
        "uvicorn",
        "jinja2",
        "asyncio",
    ):
        assert forbidden not in loaded, forbidden
        assert not any(name.startswith(forbidden + ".") for name in loaded), forbidden
