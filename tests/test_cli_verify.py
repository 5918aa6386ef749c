"""``statemachine verify --app module:workflow (RUN_ID | --all)``: stored runs' histories
checked against their workflow's definition."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import attrs
import pytest

from stores import FileStore

from .cli_app import invoke


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, FileStore]:
    """A module for --app holding `publishing` on a file store, with one paused run."""
    name = f"verify_app_{uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from stores import FileStore\n"
        "from tests.cli_app import publishing\n"
        f"publishing = publishing.bind(FileStore({str(tmp_path / 'runs')!r}, create=True))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return name, FileStore(tmp_path / "runs", create=True)


def test_verify_one_run_and_all(
    app: tuple[str, FileStore], capsys: pytest.CaptureFixture[str]
) -> None:
    name, store = app
    from tests.cli_app import publishing

    workflow = publishing.bind(store)
    good = workflow.run("a").run_id
    bad = workflow.run("b").run_id
    run = store.load(bad)
    history = list(run.history)
    history[-1] = attrs.evolve(history[-1], state="done")  # a review that never happened
    store.commit(attrs.evolve(run, history=tuple(history), version=run.version + 1), run.version)

    ok = invoke(capsys, "verify", "--app", f"{name}:publishing", good[:12])
    assert (ok.code, ok.out.strip()) == (0, "1 run checked, 0 invalid")
    every = invoke(capsys, "verify", "--app", f"{name}:publishing", "--all", "--json")
    assert every.code == 1
    found = json.loads(every.out)
    assert found["checked"] == 2
    assert [entry["run_id"] for entry in found["invalid"]] == [bad]
    assert "the run has it awaiting_review" in found["invalid"][0]["reason"]
    usage = invoke(capsys, "verify", "--app", f"{name}:publishing")
    assert (usage.code, usage.err.strip()) == (2, "statemachine: name a run, or pass --all")
