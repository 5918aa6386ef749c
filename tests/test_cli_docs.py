"""The command line's page on the docs site stays true: its exit-code table is the command's,
every command has a section, and its diagram is what the page's own workflow and run draw.
And `make demo` installs only what the demo needs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from statemachine import RunOutput, Workflow
from statemachine.cli.app import parser
from statemachine.cli.commands import EXIT_CODES
from statemachine.tools.flowchart import flowchart

from .test_docs import CODE

ROOT = Path(__file__).parent.parent
PAGE = ROOT / "docs" / "cli.md"


def test_the_exit_code_table_is_the_commands() -> None:
    """docs/cli.md's table lists every exit code, in order, as `EXIT_CODES` says it."""
    rows = re.findall(r"^\| (\d+) \| (.*) \|$", PAGE.read_text(encoding="utf-8"), re.M)
    assert rows == [(str(code), meaning) for code, meaning in EXIT_CODES]


def test_every_command_has_a_section() -> None:
    """Each command of the parser has a section, with an example of it run."""
    text = PAGE.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.*)$", text, re.M)
    subparsers = next(a for a in parser()._actions if a.dest == "command")
    assert subparsers.choices
    for name in subparsers.choices:
        assert any(f"`{name}`" in heading for heading in headings), name
        assert re.search(rf"^statemachine {name}\b", text, re.M), name
    assert "Command line: cli.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_the_pages_diagram_is_its_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Mermaid block under the generated marker is the flowchart of the page's workflow
    and run, as its Python blocks define them."""
    text = PAGE.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_cli"}
    for block in CODE.findall(text):
        exec(compile(block, str(PAGE), "exec"), namespace)
    shown = re.search(r"<!-- generated: the run above.*?-->\n```mermaid\n(.*?)```", text, re.S)
    assert shown is not None
    workflow, run = namespace["workflow"], namespace["run"]
    assert isinstance(workflow, Workflow)
    assert isinstance(run, RunOutput)
    assert shown.group(1) == flowchart(workflow, run.record)


def test_make_demo_installs_only_the_package(tmp_path: Path) -> None:
    """`make demo` installs the package alone (no test, lint or docs tools) into the same
    virtual environment, under a stamp of its own; `make test` still installs everything."""

    def planned(target: str) -> list[str]:
        dry = ["make", "--no-print-directory", "--dry-run", "--always-make", target,
               f"VENV={tmp_path}/venv"]  # fmt: skip
        # Under `make test` this runs inside another make: its settings must not leak in.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        return subprocess.run(
            dry, cwd=ROOT, capture_output=True, text=True, check=True, env=env
        ).stdout.splitlines()

    demo = planned("demo")
    installs = [line for line in demo if "pip install" in line]
    assert installs == [
        f"{tmp_path}/venv/bin/python -m pip install --quiet --disable-pip-version-check -e ."
    ]
    assert f"touch {tmp_path}/venv/.demo-stamp" in demo
    assert demo[-1] == f"{tmp_path}/venv/bin/python examples/refinement_loop.py"
    assert any("-e '.[test]'" in line for line in planned("lint"))
