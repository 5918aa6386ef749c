"""The workflows of `examples/`, loaded without running the programs around them."""

from __future__ import annotations

import ast
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

from statemachine import Workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_DEFINITIONS = (
    ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef,
    ast.AsyncFunctionDef, ast.ClassDef,
)  # fmt: skip


def _makes_workflow(statement: ast.stmt) -> bool:
    value = getattr(statement, "value", None)
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "Workflow"
    )


@cache
def example_workflows() -> dict[str, Workflow]:
    """Every `Workflow` an example defines at its top level, by "file:name". Only the
    example's definitions run (imports, functions, classes, and assignments up to its last
    workflow), not its program."""
    for folder in (EXAMPLES, EXAMPLES / "agno"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    found: dict[str, Workflow] = {}
    here = os.getcwd()
    os.chdir(tempfile.mkdtemp(prefix="examples-"))  # their store lines make ./runs
    try:
        for path in sorted(EXAMPLES.rglob("*.py")):
            if path.name != "stand_ins.py":
                found.update(_workflows(path))
    finally:
        os.chdir(here)
    return found


def _workflows(path: Path) -> dict[str, Workflow]:
    tree = ast.parse(path.read_text())
    made = [n for n, statement in enumerate(tree.body) if _makes_workflow(statement)]
    tree.body = [
        statement
        for statement in tree.body[: made[-1] + 1 if made else 0]
        if isinstance(statement, _DEFINITIONS)
    ]
    namespace = {"__name__": f"explored_{path.stem}", "__file__": str(path)}
    exec(compile(tree, str(path), "exec"), namespace)
    return {
        f"{path.relative_to(EXAMPLES)}:{name}": value
        for name, value in namespace.items()
        if isinstance(value, Workflow)
    }
