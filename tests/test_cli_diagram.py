"""``statemachine diagram --app module:workflow [RUN_ID]``: a workflow's flowchart, and
where one of its runs stands, read through the workflow's own store."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest

from statemachine.tools.flowchart import flowchart
from stores import FileStore

from .cli_app import Result, invoke, publishing


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, FileStore]:
    """A module importable by --app (a name of its own: modules stay imported) holding
    `publishing` on a file store, `both` (it and another workflow), and `other`."""
    name = f"diagram_app_{uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from stores import FileStore\n"
        "from statemachine import Step, Workflow\n"
        "from tests.cli_app import publishing\n"
        f"publishing = publishing.bind(FileStore({str(tmp_path / 'runs')!r}, create=True))\n"
        "both = [Workflow('other', [Step(name='a', executor=str)], publishing.store), publishing]\n"
        "other = both[0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return name, FileStore(tmp_path / "runs")


def test_the_diagram_of_a_workflow_and_of_a_run(
    app: tuple[str, FileStore], capsys: pytest.CaptureFixture[str]
) -> None:
    """`diagram --app module:workflow` prints the workflow's flowchart; with a run id (or a
    unique prefix), read through the workflow's own store, where that run stands."""
    module, store = app
    run = publishing.bind(store).run("x")
    assert invoke(capsys, "diagram", "--app", f"{module}:publishing") == Result(
        0, flowchart(publishing), ""
    )
    drawn = flowchart(publishing, store.load(run.run_id))
    assert invoke(capsys, "diagram", "--app", f"{module}:publishing", run.run_id[:24]) == Result(
        0, drawn, ""
    )
    both = invoke(capsys, "diagram", "--app", f"{module}:both", run.run_id, "--json")
    assert json.loads(both.out) == {"mermaid": drawn}  # the run's workflow, among several


@pytest.mark.parametrize(("attribute", "run", "code", "message"), [
    ("publishing", "no-such-run", 4, "no run 'no-such-run'"),
    ("other", "RUN", 1, "belongs to workflow 'publishing', not other"),
    ("both", None, 2, "holds several workflows (other, publishing): name one"),
])  # fmt: skip
def test_a_diagram_that_cannot_be_drawn_says_why(
    app: tuple[str, FileStore],
    capsys: pytest.CaptureFixture[str],
    attribute: str,
    run: str | None,
    code: int,
    message: str,
) -> None:
    """A run that is not there, a run of another workflow, and several workflows with no run
    to choose by are one line each, with their exit code."""
    module, store = app
    run_id = publishing.bind(store).run("x").run_id
    args = ["diagram", "--app", f"{module}:{attribute}"]
    args += [] if run is None else [run.replace("RUN", run_id)]
    result = invoke(capsys, *args)
    assert (result.code, result.out) == (code, "")
    assert message in result.err
    assert result.err.count("\n") == 1
