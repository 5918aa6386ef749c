"""Retention on every store: `purge` removes finished runs for good and nothing else, leaves
a tombstone that no late write gets past, and runs from the command line and the workers'
sweeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from statemachine import (
    HumanReview,
    InvalidArgument,
    OnReject,
    RetryPolicy,
    RunExists,
    RunNotFound,
    Step,
    Store,
    VersionConflict,
    Worker,
    Workflow,
)
from statemachine.store.protocol import Store as BareStore

from .cli_app import invoke


def work(step_input: Any) -> str:
    return "done"


def fail(step_input: Any) -> str:
    raise RuntimeError("down")


def workflows(store: Store) -> tuple[Workflow, Workflow, Workflow]:
    plain = Workflow("plain", [Step(name="s", executor=work)], store)
    reviewed = Workflow("reviewed", [Step(name="s", executor=work, human_review=HumanReview(
        requires_output_review=True, on_reject=OnReject.retry))], store)  # fmt: skip
    failing = Workflow("failing", [Step(name="s", executor=fail)], store)
    return plain, reviewed, failing


def test_only_finished_runs_go_and_a_tombstone_keeps_them_gone(store: Store) -> None:
    plain, reviewed, failing = workflows(store)
    done = [plain.run(f"x{n}").run_id for n in range(3)]
    paused = reviewed.run("y").run_id
    cancelled = reviewed.run("z")
    reviewed.cancel_run(cancelled.run_id)
    pending = plain.submit("later")
    retried = failing.submit("f")
    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=3, base_seconds=60))
    worker.work_once()  # failed, to be retried: not finished
    dead = failing.submit("g")
    Worker([failing], store, retry=RetryPolicy(max_attempts=1)).work_once()  # dead-lettered
    assert store.load(dead).retry_at is None

    old = store.load(done[0])
    later = store.now() + timedelta(seconds=1)
    assert sorted(store.purge(later, dry_run=True)) == sorted([*done, cancelled.run_id, dead])
    assert store.load(done[0]).status.value == "completed"  # a dry run removes nothing
    assert store.purge(later, workflow="plain", limit=2) == done[:2]  # oldest first
    removed = store.purge(later)
    assert sorted(removed) == sorted([done[2], cancelled.run_id, dead])
    for run_id in [*done, cancelled.run_id, dead]:
        with pytest.raises(RunNotFound):
            store.load(run_id)
    kept = {paused, pending, retried}
    assert kept <= set(store.run_ids())
    assert not ({*done, dead} & set(store.run_ids()))
    assert store.purge(later) == []

    # A late write of a slow process: a commit of its old view, a create of the same id.
    with pytest.raises(RunNotFound):
        store.commit(attrs.evolve(old, version=old.version + 1), old.version)
    ghost = plain._new_run("x", done[0], None, None, store.now())
    with pytest.raises(RunExists):
        store.create(ghost)
    assert len(store.page("completed")) == 0


def test_a_run_that_changed_since_the_listing_is_left_alone(store: Store) -> None:
    plain, _, _ = workflows(store)
    run = store.load(plain.run("x").run_id)
    with pytest.raises(VersionConflict):
        store.delete(run.run_id, run.version - 1)
    assert store.load(run.run_id) == run


def test_purge_refuses_a_naive_time_and_a_store_that_cannot_remove(store: Store) -> None:
    from datetime import datetime

    with pytest.raises(InvalidArgument):
        store.purge(datetime(2030, 1, 1))

    class Bare(BareStore):
        create = load = commit = acquire = release = run_ids = None  # type: ignore[assignment]

    with pytest.raises(InvalidArgument, match="cannot remove runs"):
        BareStore.delete(Bare.__new__(Bare), "r" * 32, 1)


def test_the_command_line_purges_and_the_workers_keep_a_time_to_live(
    make_store: Callable[..., Store],
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stores import open_store

    from .cli_app import file_store_url

    url = file_store_url(tmp_path)
    store = open_store(url)
    plain, reviewed, _ = workflows(store)
    done = plain.run("x").run_id
    paused = reviewed.run("y").run_id
    monkeypatch.setenv("STATEMACHINE_STORE", url)
    later = (store.now() + timedelta(seconds=1)).isoformat()
    dry = invoke(capsys, "purge", "--finished-before", later, "--dry-run")
    assert dry.code == 0
    assert f"would remove 1 finished run(s)\n  {done}" in dry.out
    assert invoke(capsys, "purge", "--finished-before", later).out.startswith("removed 1")
    assert invoke(capsys, "purge", "--finished-before", "yesterday").code == 2
    assert invoke(capsys, "purge").code == 2
    assert store.run_ids() == [paused]

    # A worker keeping finished runs a minute removes, at its next sweep, one that ended an
    # hour ago (by the clock of the workflow that ran it), and keeps the paused one.
    hour_ago = store.now() - timedelta(hours=1)
    again = plain.bind(store, clock=lambda: hour_ago).run("z").run_id
    worker = Worker([plain, reviewed], store, keep_finished=60)
    worker.sweep()
    assert worker.counts["purged"] == 1
    with pytest.raises(RunNotFound):
        store.load(again)
    assert store.run_ids() == [paused]


def test_purge_awaited(store: Store) -> None:
    import asyncio

    plain, _, _ = workflows(store)
    done = plain.run("x").run_id

    async def main() -> list[str]:
        try:
            return await store.apurge(store.now() + timedelta(seconds=1))
        finally:
            await store.aclose()  # this event loop's connections

    assert asyncio.run(main()) == [done]
    with pytest.raises(RunNotFound):
        store.load(done)


@pytest.mark.parametrize("kind", ["memory", "file", "sqlite", "redis"])
def test_a_store_url_gives_finished_runs_a_time_to_live(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    from stores import open_store

    base = {
        "memory": "memory://",
        "file": f"file://{tmp_path}/runs?create=1",
        "sqlite": f"sqlite://{tmp_path}/runs.db?create=1",
        "redis": "",
    }[kind]
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        base = f"{server.url}?prefix=ttl{tmp_path.name[-8:]}"
    glue = "&" if "?" in base else "?"
    store = open_store(f"{base}{glue}keep_finished_days=30")
    try:
        assert store.keep_finished == 30 * 86400
        plain, _, _ = workflows(store)
        month_ago = store.now() - timedelta(days=31)
        old = plain.bind(store, clock=lambda: month_ago).run("old").run_id
        recent = plain.run("recent").run_id
        worker = Worker([plain], store)  # no keep_finished of its own: the store's holds
        worker.sweep()
        assert store.run_ids() == [recent]
        with pytest.raises(RunNotFound):
            store.load(old)
    finally:
        store.close()
    with pytest.raises(InvalidArgument, match="keep_finished_days"):
        open_store(f"{base}{glue}keep_finished_days=soon")
