"""The command line's commands, called in this process (`main(argv)`) against real stores: a
file store and a Redis server. `test_cli_process.py` keeps what needs a process of its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import attrs
import pytest

from statemachine import (
    HumanReview,
    RetryPolicy,
    RunRecord,
    RunStatus,
    Step,
    Store,
    Worker,
    Workflow,
    run_state,
)
from statemachine.core.runs import abandoned
from stores import open_store

from .cli_app import (
    Result,
    asking,
    draft,
    failing,
    file_store_url,
    invoke,
    letters,
    reviewed,
    timed,
)
from .servers import RedisServer

Cli = Callable[..., Result]


@pytest.fixture(params=["file", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store's URL: a file store, then a Redis one."""
    if request.param == "file":
        return file_store_url(tmp_path)
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=cli{uuid4().hex[:8]}"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    """The store `url` names, as the test's own code reaches it."""
    opened = open_store(url)
    yield opened
    opened.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str) -> Cli:
    """cli(*args, store=url): run the command with `store` (if any) in the environment."""

    def call(*args: str, store: str | None = url) -> Result:
        if store is None:
            monkeypatch.delenv("STATEMACHINE_STORE", raising=False)
        else:
            monkeypatch.setenv("STATEMACHINE_STORE", store)
        return invoke(capsys, *args)

    return call


def test_a_run_operated_from_the_command_line(cli: Cli, store: Store, url: str) -> None:
    """Run to a review, list, show, reject, confirm, with tables and JSON."""
    workflow = reviewed.bind(store)
    run_id = workflow.run("the notes").run_id

    listed = cli("runs", "--state", "awaiting_review", "--store", url, store=None)
    assert listed.code == 0
    assert "RUN_ID" in listed.out
    assert run_id in listed.out
    rows = json.loads(cli("runs", "--state", "paused", "--json").out)
    assert [row["run_id"] for row in rows] == [run_id]
    later = workflow.run("more notes").run_id
    for flags, order in (((), [later, run_id]), (("--oldest-first",), [run_id, later])):
        for state in ("paused", "awaiting_review"):
            rows = json.loads(cli("runs", "--state", state, "--json", *flags).out)
            assert [row["run_id"] for row in rows] == order, (flags, state)
    assert rows[0]["request_id"] == "loop:review:1"

    shown = cli("show", run_id)
    assert shown.code == 0
    assert "pending: review of 'loop' (iteration 1)" in shown.out
    assert "under review: draft 1\n" in shown.out
    assert "iteration_completed" in shown.out  # the history

    rejected = cli("reject", run_id, "--feedback", "more detail", "--decision-id", "web-1")
    assert (rejected.code, rejected.out.split(":")[0]) == (0, "applied")
    again = cli("reject", run_id, "--feedback", "more detail", "--decision-id", "web-1")
    assert (again.code, again.out.split(":")[0]) == (0, "duplicate")
    stale = cli("confirm", run_id, "--request", "loop:review:1", "--json")
    assert stale.code == 3
    assert "decided already" in stale.err

    assert workflow.continue_run(run_id).status is RunStatus.paused  # the second draft
    assert cli("confirm", run_id).code == 0
    assert workflow.continue_run(run_id).status is RunStatus.completed
    assert json.loads(cli("show", run_id, "--json").out)["status"] == "completed"


def test_a_decision_retried_after_the_run_moved_on_is_a_duplicate(cli: Cli, store: Store) -> None:
    """`reject RUN --decision-id X`, retried once the run started its next iteration, answers
    duplicate (exit 0) as its help promises; the same id with another verdict is a conflict
    (exit 3), and nothing changes."""
    workflow = reviewed.bind(store)
    run_id = workflow.run("the notes").run_id
    first = cli("reject", run_id, "--feedback", "more", "--decision-id", "web-7")
    assert (first.code, first.out.split(":")[0]) == (0, "applied"), first.err
    workflow.continue_run(run_id)
    assert store.load(run_id).gates[0].iteration == 2  # the run moved on
    again = cli("reject", run_id, "--feedback", "more", "--decision-id", "web-7")
    assert (again.code, again.out.split(":")[0]) == (0, "duplicate"), again.err
    other = cli("confirm", run_id, "--decision-id", "web-7")
    assert other.code == 3
    assert "web-7" in other.err
    recorded = [entry for entry in store.load(run_id).history if entry.decision_id == "web-7"]
    assert [entry.event for entry in recorded] == ["reject"]  # once, whatever was retried


def test_failed_runs_dead_letter_and_requeue(cli: Cli, store: Store) -> None:
    """A run failing past its attempts is dead-lettered; requeue makes it runnable again."""
    run_id = failing.bind(store).submit("x")
    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=2, base_seconds=0))
    worker.work_once()
    worker.work_once()  # the second attempt, due at once
    assert [run.run_id for run in store.dead()] == [run_id]
    assert store.load(run_id).attempts == 2
    listed = json.loads(cli("runs", "--dead", "--json").out)
    assert [row["run_id"] for row in listed] == [run_id]
    assert run_id in cli("runs", "--dead").out
    shown = cli("show", run_id)
    assert "error: RuntimeError: the model is down" in shown.out
    requeued = cli("requeue", run_id)
    assert requeued.code == 0, requeued.err
    assert store.load(run_id).status is RunStatus.pending
    assert store.dead() == []
    assert cli("runs", "--dead").out == "no dead-lettered runs\n"
    assert cli("requeue", run_id).code == 1  # not failed any more


def test_cancel_sweep_and_diagram(cli: Cli, store: Store) -> None:
    """cancel, sweep and diagram do what they say."""
    run_id = reviewed.bind(store).submit("x")
    cancelled = cli("cancel", run_id, "--json")
    assert json.loads(cancelled.out)["status"] == "cancelled"
    swept = cli("sweep")
    assert swept.out.strip() == "0 timeouts applied, 0 expired leases reaped"
    diagram = cli("diagram")
    assert diagram.out.startswith("stateDiagram-v2")
    assert json.loads(cli("diagram", "--json").out)["mermaid"] == diagram.out


@pytest.mark.parametrize(("args", "code", "message"), [
    (("show", "no-such-run"), 4, "no run 'no-such-run'"),
    (("show", "../etc"), 1, "invalid run id"),
    (("runs", "--state", "sleeping"), 2, "invalid choice"),
    (("frobnicate",), 2, "invalid choice"),
    (("confirm", "x", "--store", "redis://127.0.0.1:1/0?retry_seconds=0.1"), 5, "127.0.0.1:1"),
    (("runs", "--store", "ftp://x"), 2, "unknown store URL scheme"),
    (("runs", "--store", "redis://localhost:abc"), 2, "Redis URL"),
    (("runs", "--store", "redis://[::1"), 2, "Redis URL"),
    (("runs", "--store", "redis://localhost:99999"), 2, "Redis URL"),
    (("runs", "--store", "file:///nowhere/at/all"), 4, "/nowhere/at/all"),
    (("runs", "--limit", "0"), 2, "--limit: must be an integer from 1 to 1000, not '0'"),
    (("runs", "--limit", "-3"), 2, "--limit"),
    (("runs", "--limit", "1001"), 2, "--limit: must be an integer from 1 to 1000"),
    (("runs", "--offset", "-1"), 2, "--offset: must be an integer of at least 0"),
    (("runs", "--state", "paused", "--offset", "999", "--limit", "2"), 2, "first 1000 runs"),
    (("diagram", "--store", "memory://"), 2, "unrecognized arguments: --store"),
    (("diagram", "some-run"), 2, "pass --app too"),
    (("diagram", "--app", "tests.cli_app:workflows"), 2, "several workflows"),
    (("worker", "--app", "tests.nowhere:app"), 2, "cannot load"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "0"), 2, "--concurrency"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "-2"), 2, "--concurrency"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "two"), 2, "--concurrency"),
    (("worker", "--app", "os:path"), 2, "is not a Workflow or a list of them"),
    (("worker", "--app", "os:sep"), 2, "is not a Workflow or a list of them"),
    (("worker", "--app", "os"), 2, "--app must be module:attribute"),
])  # fmt: skip
def test_bad_input_is_one_line_and_a_meaningful_exit_code(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    """Errors print one line on stderr, nothing on stdout, with the documented exit code."""
    result = cli(*args)
    assert result.code == code, result.err
    assert message in result.err
    assert result.err.startswith("statemachine: ")
    assert len(result.err.splitlines()) == 1, result.err
    assert result.out == ""


def test_an_app_that_fails_to_import_is_a_usage_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose --app module raises on import says so in one line and exits 2."""
    (tmp_path / "broken_app.py").write_text('raise RuntimeError("no API key configured")\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # restored afterwards, with what --app added
    result = cli("worker", "--app", "broken_app:workflows")
    assert result.code == 2, result.err
    assert result.err == (
        "statemachine: cannot load 'broken_app:workflows': importing broken_app raised "
        "RuntimeError: no API key configured\n"
    )


def test_confirming_a_run_with_nothing_pending_is_a_conflict(cli: Cli, store: Store) -> None:
    """confirm on a run that waits for no decision says so and exits 3."""
    run_id = reviewed.bind(store).submit("x")  # runnable, not paused
    result = cli("confirm", run_id)
    assert result.code == 3
    assert result.err == f"statemachine: run {run_id!r} is not waiting for a decision\n"


def test_json_times_are_null_when_absent(cli: Cli, store: Store) -> None:
    """In JSON a missing deadline is null, not an empty string; the table leaves it blank."""
    untimed = reviewed.bind(store).run("x").run_id  # paused for review, no deadline
    with_deadline = timed.bind(store).run("x").run_id
    submitted = reviewed.bind(store).submit("x")  # not paused at all
    rows = {row["run_id"]: row for row in json.loads(cli("runs", "--json").out)}
    assert rows[untimed]["deadline"] is None
    assert rows[submitted]["deadline"] is None
    gate = store.load(with_deadline).pending_gate
    assert gate is not None
    assert gate.deadline is not None
    assert rows[with_deadline]["deadline"] == gate.deadline.isoformat(timespec="seconds")
    shown = json.loads(cli("show", untimed, "--json").out)
    assert shown["deadline"] is None
    assert shown["pending"]["deadline"] is None
    assert all(shown[key] for key in ("created_at", "updated_at"))
    assert "deadline" not in cli("show", untimed).out
    assert json.loads(cli("show", with_deadline, "--json").out)["pending"]["deadline"]


def test_no_store_is_a_usage_error(cli: Cli) -> None:
    """Without --store or the environment variable, commands say how to name a store."""
    result = cli("runs", store=None)
    assert result.code == 2
    assert "STATEMACHINE_STORE" in result.err


def test_show_prints_text_as_text_and_json_that_parses(cli: Cli, store: Store) -> None:
    """Several lines of input or output are printed as lines under their label, not as one
    escaped string; --json holds the same values."""
    notes = "notes:\n- one\n- two"
    run_id = letters.bind(store).run(notes).run_id
    shown = cli("show", run_id).out
    assert "input:\n  notes:\n  - one\n  - two\n" in shown
    assert "under review:\n  Dear team,\n  the numbers are in.\n  \n  Best\n" in shown
    assert "\\n" not in shown
    data = json.loads(cli("show", run_id, "--json").out)
    assert data["record"]["input"] == notes
    assert data["pending"]["output"] == "Dear team,\nthe numbers are in.\n\nBest"


def test_show_of_a_completed_run_has_its_result_and_every_decision(cli: Cli, store: Store) -> None:
    """A completed run shows its result, and each decision: what, by whom, when, and the
    feedback it carried."""
    workflow = letters.bind(store)
    run_id = workflow.run("x").run_id
    store.decide(run_id, None, "reject", "shorter please\nand warmer", by="alice")
    workflow.continue_run(run_id)
    store.decide(run_id, None, "confirm", by="bob")
    assert workflow.continue_run(run_id).status is RunStatus.completed
    shown = cli("show", run_id).out
    assert "result:\n  Dear team,\n" in shown
    assert "decisions:\n  write:review:1: reject by alice at " in shown
    assert "    feedback:\n      shorter please\n      and warmer\n" in shown
    assert "  write:review:2: confirm by bob at " in shown
    data = json.loads(cli("show", run_id, "--json").out)
    assert data["result"] == "Dear team,\nthe numbers are in.\n\nBest"
    assert [(d["decision"], d["by"], d["kind"], d["value"]) for d in data["decisions"]] == [
        ("reject", "alice", "review", "shorter please\nand warmer"),
        ("confirm", "bob", "review", None),
    ]
    assert all(d["at"] for d in data["decisions"])
    assert data["pending"] is None


def test_show_says_what_each_kind_of_request_asks(cli: Cli, store: Store) -> None:
    """A confirmation shows its message; user input its fields; a route its choices; an
    error review the error; each decision given shows what it carried."""
    workflow = asking.bind(store)
    output = workflow.run("x")
    run_id = output.run_id
    assert "pending: confirmation of 'send' (iteration 0): Send the letter?\n" in (
        cli("show", run_id).out
    )
    output.requirements[0].confirm()
    output = workflow.continue_run(output)
    shown = cli("show", run_id).out
    assert "pending: input of 'tune' (iteration 0)" in shown
    assert '  field tone (str, required): how it sounds; one of ["warm", "dry"]\n' in shown
    assert "  field length (int, optional)\n" in shown
    fields = json.loads(cli("show", run_id, "--json").out)["pending"]["fields"]
    assert [field["name"] for field in fields] == ["tone", "length"]
    output.requirements[0].set_user_input(tone="warm")
    output = workflow.continue_run(output)
    shown = cli("show", run_id).out
    assert "pending: route of 'channel' (iteration 0)" in shown
    assert "  routes (one or more): mail, chat\n" in shown
    assert '    values: {"tone": "warm"}\n' in shown
    output.requirements[0].select("mail", "chat")
    output = workflow.continue_run(output)
    shown = cli("show", run_id).out
    assert "pending: error of 'post' (iteration 1)\n" in shown
    assert "failed with: RuntimeError: the model is down\n" in shown
    assert '    routes: ["mail", "chat"]\n' in shown
    pending = json.loads(cli("show", run_id, "--json").out)["pending"]
    assert (pending["kind"], pending["error"]) == ("error", "RuntimeError: the model is down")


def test_show_takes_a_unique_prefix_of_a_run_id(cli: Cli, store: Store) -> None:
    """A prefix that one run's id starts with shows that run; one that several start with is
    a usage error naming a few of them; one that none start with is not found."""
    workflow = reviewed.bind(store)
    first, second = (workflow.submit("x", run_id=f"job-{n}1") for n in "ab")
    extra = [workflow.submit("x", run_id=f"job-a1{n}") for n in range(6)]
    assert cli("show", "job-b").out.startswith(f"run_id: {second}\n")
    assert cli("show", first).out.startswith(f"run_id: {first}\n")  # an exact id wins
    ambiguous = cli("show", "job-a")
    assert ambiguous.code == 2
    assert ambiguous.err == (
        f"statemachine: 'job-a' is ambiguous: the ids of 7 runs start with it: {first}, "
        f"{', '.join(extra[:4])}, ...\n"
    )
    assert cli("show", "job-c").code == 4
    assert run_state(store.load(second)) == "pending"  # reading changed nothing


def running(run: RunRecord) -> RunRecord:
    """The run as a worker that took it stores it (the executor's own write)."""
    return attrs.evolve(run, status=RunStatus.running, version=run.version + 1)


def test_show_says_what_befell_a_run_whose_executor_was_lost(cli: Cli, store: Store) -> None:
    """A run whose executor died mid-unit shows it, with the attempt and when it runs again;
    a running run says what happens if its worker died; a dead letter says why."""
    workflow = reviewed.bind(store)
    run_id = workflow.submit("x")
    now = store.now()
    store.update(run_id, running)
    assert "note: a worker is executing it; if that worker died" in cli("show", run_id).out
    store.update(run_id, lambda run: abandoned(run, now, retry_at=now + timedelta(seconds=4)))
    shown = cli("show", run_id).out
    assert (
        "note: its executor was lost mid-unit (the process died or stalled past its lease): "
        in shown
    )
    assert "attempt 1, runnable again at " in shown
    store.update(run_id, lambda run: abandoned(running(run), now,
                                               retry_at=None))  # fmt: skip
    data = json.loads(cli("show", run_id, "--json").out)
    assert data["note"] == "dead-lettered: 2 executors in a row were lost mid-unit"
    assert data["status"] == "failed"


def test_a_decision_from_the_command_line_says_who_and_how(cli: Cli, store: Store) -> None:
    """--by and --group are checked against the request's assignees and groups; a refused
    actor writes nothing; the decision is recorded as made via the command line."""
    review = HumanReview(requires_output_review=True, candidate_groups=["editors"])
    workflow = Workflow("gated", [Step(name="write", executor=draft, human_review=review)], store)
    run_id = workflow.run("x").run_id
    refused = cli("confirm", run_id, "--by", "eve")
    assert refused.code == 3
    assert "'eve' may not decide request 'write:review:1'" in refused.err
    assert "Traceback" not in refused.err
    assert store.load(run_id).answers == ()
    assert cli("confirm", run_id, "--by", "bob", "--group", "editors").code == 0
    [answer] = store.load(run_id).answers
    assert (answer.by, answer.via) == ("bob", "cli")
    assert "  write:review:1: confirm by bob via cli at " in cli("show", run_id).out


def test_show_prints_a_failed_steps_traceback(cli: Cli, store: Store) -> None:
    run_id = failing.bind(store).run("x").run_id
    shown = cli("show", run_id).out
    assert "error: RuntimeError: the model is down\n" in shown
    assert "traceback:\n  Traceback (most recent call last):\n" in shown
    assert "in always_fails" in shown
    assert json.loads(cli("show", run_id, "--json").out)["traceback"].endswith(
        "RuntimeError: the model is down"
    )
