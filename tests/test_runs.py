"""Pure changes to run records: cancelling, failing, abandoning, requeueing, history bounds."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from statemachine import InvalidArgument, RunStatus, State
from statemachine.core.decisions import Outcome, Verdict, decide
from statemachine.core.record import MAX_HISTORY
from statemachine.core.runs import abandoned, cancel_run, fail, requeue
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run, touched


def test_cancelling_a_paused_run_cancels_its_gate() -> None:
    """Cancel goes to the live gate; the run follows it."""
    run = cancel_run(sample_run("r", EPOCH), EPOCH)
    assert run.status is RunStatus.cancelled
    assert run.gates[0].state is State.cancelled
    assert cancel_run(run, EPOCH) is run  # cancelling again changes nothing


def test_cancelling_between_gates_cancels_the_run_itself() -> None:
    """With no live gate at the cursor, the run is cancelled by a transition of its own."""
    run = cancel_run(sample_run("r", EPOCH, paused=False), EPOCH)
    assert (run.status, run.history[-1].event, run.version) == (RunStatus.cancelled, "cancel", 1)


def test_a_completed_run_cannot_be_cancelled() -> None:
    """Cancelling a completed run raises InvalidArgument."""
    done = attrs.evolve(sample_run("r", EPOCH, paused=False), status=RunStatus.completed)
    with pytest.raises(InvalidArgument, match="completed"):
        cancel_run(done, EPOCH)


def test_abandoned_runs_count_attempts_until_they_are_dead_lettered() -> None:
    """Each lost lease counts an attempt; with none left the run fails with no retry. Runs
    whose executor had committed (failed, finished, paused) are left alone."""
    run = sample_run("r", EPOCH, paused=False)
    again = abandoned(run, EPOCH, retry_at=EPOCH + timedelta(seconds=1))
    assert (again.status, again.attempts, again.retry_at) == (
        RunStatus.pending, 1, EPOCH + timedelta(seconds=1),
    )  # fmt: skip
    dead = abandoned(again, EPOCH, retry_at=None)
    assert (dead.status, dead.attempts, dead.retry_at) == (RunStatus.failed, 2, None)
    assert dead.error is not None
    assert "abandoned by 2 executors" in dead.error
    for finished in (
        fail(run, "s", "boom", EPOCH),
        attrs.evolve(run, status=RunStatus.completed),
        sample_run("p", EPOCH, paused=True),
    ):
        assert abandoned(finished, EPOCH, retry_at=EPOCH) is finished  # its work was committed


def test_requeue_only_takes_failed_runs() -> None:
    """requeue makes a failed run pending with its attempts forgotten, and refuses others."""
    failed = fail(sample_run("r", EPOCH, paused=False), "s", "boom", EPOCH)
    again = requeue(failed, EPOCH)
    assert (again.status, again.attempts, again.retry_at) == (RunStatus.pending, 0, None)
    with pytest.raises(InvalidArgument, match="not failed"):
        requeue(again, EPOCH)


def test_history_is_bounded_but_the_version_keeps_counting() -> None:
    """Past MAX_HISTORY transitions the oldest entries go; the version counts them all."""
    run = sample_run("r", EPOCH, paused=False)
    run = attrs.evolve(run, history=tuple(touched(run, EPOCH).history) * MAX_HISTORY)
    longer = cancel_run(run, EPOCH)
    assert len(longer.history) == MAX_HISTORY
    assert longer.history[-1].event == "cancel"
    assert longer.version == run.version + 1


def test_cancelling_an_iterating_gate_records_no_answer() -> None:
    """A gate cancelled while it iterates had no request to answer: the answers stay empty."""
    paused = sample_run("r", EPOCH)
    confirmed = decide(paused, None, Verdict.confirm, decision_id="d", now=EPOCH).run
    iterating = attrs.evolve(
        confirmed,
        gates=(attrs.evolve(confirmed.gates[0], state=State.iterating, iteration=2, request=None),),
        status=RunStatus.running,
    )
    cancelled = cancel_run(iterating, EPOCH)
    assert cancelled.status is RunStatus.cancelled
    assert cancelled.answers == confirmed.answers


def test_decision_ids_recorded_before_answers_were_kept_are_duplicates() -> None:
    """A run stored by the previous schema has its decision ids only in its history: a
    decision sent again with one of them is still a duplicate."""
    paused = sample_run("r", EPOCH)
    decided = decide(paused, None, Verdict.confirm, decision_id="old", now=EPOCH).run
    legacy = attrs.evolve(decided, answers=())
    again = decide(legacy, None, Verdict.reject, decision_id="old", now=EPOCH)
    assert again.outcome is Outcome.duplicate
    assert again.run is legacy


def test_a_change_keeps_every_field_of_the_run_it_does_not_set() -> None:
    """`_record` builds the new record field by field (cheaper than `attrs.evolve`): every
    field of `RunRecord` must be named there, or a new field would be dropped by each change."""
    import inspect

    from statemachine.core import runs
    from statemachine.core.record import RunRecord

    source = inspect.getsource(runs._record)
    missing = [f.name for f in attrs.fields(RunRecord) if f"{f.name}=" not in source]
    assert missing == []
    run = attrs.evolve(sample_run("r", EPOCH), session_id="s", user_id="u", error="e",
                       attempts=2, retry_at=EPOCH, traceback="tb")  # fmt: skip
    later = EPOCH + timedelta(seconds=1)
    assert runs._record(run, [], later) == attrs.evolve(run, updated_at=later)
