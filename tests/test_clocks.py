"""Scheduling never depends on the clock of the process that wrote: when a run becomes
runnable is the store's own time of the write (the server's on Redis, the host's on files)
plus the run's delay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from statemachine import (
    HumanReview,
    Loop,
    RetryPolicy,
    RunStatus,
    Step,
    Store,
    Worker,
    Workflow,
)

from .conftest import STORE_KINDS

AHEAD = timedelta(hours=1)


def skewed(offset: timedelta) -> Callable[[], datetime]:
    """A process clock `offset` away from the truth."""
    return lambda: datetime.now(UTC) + offset


@pytest.mark.parametrize("offset", [AHEAD, -AHEAD], ids=["ahead", "behind"])
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_run_submitted_by_a_skewed_clock_is_runnable_at_once(
    kind: str, offset: timedelta, make_store: Callable[..., Store]
) -> None:
    """A run stored by a process whose clock is an hour off is claimed at once by the
    store's clock (before, a clock ahead stalled it for the hour)."""
    store = make_store(kind)
    workflow = Workflow(
        name="skewed",
        store=store,
        clock=skewed(offset),
        steps=[Step(name="s", executor=lambda si: "done")],
    )
    run_id = workflow.submit("x")
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == run_id
    store.release(lease)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_decision_from_a_skewed_clock_makes_the_run_runnable_at_once(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """A decision recorded by a process whose clock is an hour ahead makes the run runnable
    now, by the store's clock."""
    store = make_store(kind)
    steps = [
        Loop(
            name="loop",
            steps=[Step(name="s", executor=lambda si: "draft")],
            human_review=HumanReview(requires_confirmation=True),
        )
    ]
    workflow = Workflow(name="decided", store=store, steps=steps)
    paused = workflow.run("x")
    ahead = Workflow(name="decided", store=store, clock=skewed(AHEAD), steps=steps)
    ahead.get_run(paused.run_id).requirements[0].confirm()
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == paused.run_id
    store.release(lease)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_backoff_counts_from_the_stores_time_of_the_write(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """A failure recorded by a worker whose clock is an hour ahead waits its 10 s backoff by
    the store's clock: not claimable 5 s after, claimable 11 s after (before, an hour more)."""
    store = make_store(kind)

    def broken(step_input: object) -> str:
        raise RuntimeError("upstream API returned 503")

    workflow = Workflow(
        name="failing", store=store, clock=skewed(AHEAD),
        steps=[Step(name="s", executor=broken)],
    )  # fmt: skip
    run_id = workflow.submit("x")
    worker = Worker([workflow], store, retry=RetryPolicy(base_seconds=10))
    assert worker.work_once()
    failed = store.load(run_id)
    assert (failed.status, failed.attempts) == (RunStatus.failed, 1)
    now = store.now()
    assert store.claim(now + timedelta(seconds=5)) is None
    lease = store.claim(now + timedelta(seconds=11))
    assert lease is not None
    assert lease.run_id == run_id
    store.release(lease)
