"""Decisions on every store: bad input refused in one place, decision ids that name one
decision for the life of a run, and the rule for time (the store's clock at recording)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from statemachine import (
    DeadlinePassed,
    DecisionConflict,
    HumanReview,
    InvalidArgument,
    Loop,
    OnReject,
    RunStatus,
    RunTooLarge,
    Step,
    Store,
    Workflow,
)
from statemachine.core.events import IterationCompleted
from statemachine.core.runs import apply_event
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run

from .conftest import STORE_KINDS

REQUEST = "loop:review:1"


class Opaque:
    """An object that is not a JSON value."""


BAD = {
    "decision_id": [1, 2.5, True, {"a": 1}, ["a"], b"bytes", Opaque(), "", "x" * 201, "tab\there"],
    "request_id": [7, 1.5, False, {"a": 1}, ["a"], b"bytes", Opaque(), ""],
    "feedback": [3, 1.5, True, {"a": 1}, ["a"], b"bytes", Opaque(), "lone \udc80 surrogate"],
    "decision": ["approve", 1, True, None, Opaque(), b"confirm"],
}


@pytest.mark.parametrize(
    ("argument", "value"),
    [(argument, value) for argument, values in BAD.items() for value in values],
    ids=[f"{argument}-{n}" for argument, values in BAD.items() for n, _ in enumerate(values)],
)
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_decision_argument_of_the_wrong_type_is_refused_and_nothing_stored(
    kind: str, argument: str, value: object, make_store: Callable[..., Store]
) -> None:
    """Every store refuses a bad decision argument with InvalidArgument, and the run stays
    readable and unchanged (today an int decision id was stored and bricked the run)."""
    store = make_store(kind)
    store.create(sample_run("r", EPOCH, True, None))
    before = store.load("r")
    arguments: dict[str, object] = {
        "request_id": REQUEST, "decision": "reject", "feedback": "fine", "decision_id": "d1",
    }  # fmt: skip
    arguments[argument] = value
    with pytest.raises(InvalidArgument) as info:
        store.decide(
            "r",
            arguments["request_id"],  # type: ignore[arg-type]
            arguments["decision"],
            arguments["feedback"],  # type: ignore[arg-type]
            decision_id=arguments["decision_id"],  # type: ignore[arg-type]
        )
    assert len(str(info.value)) < 300
    assert store.load("r") == before
    if kind != "memory":  # read back from storage by a fresh store object
        assert make_store(kind).load("r") == before


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_one_decision_id_names_one_decision(kind: str, make_store: Callable[..., Store]) -> None:
    """The same id with another verdict, other feedback or on a later request is a conflict,
    typed; the same decision sent again is a duplicate, however far the run moved on."""
    store = make_store(kind)
    store.create(sample_run("r", EPOCH, True, None))
    first = store.decide("r", REQUEST, "reject", "more", decision_id="web-1", now=EPOCH)
    assert first.outcome.value == "applied"
    for verdict, feedback, what in (
        ("confirm", None, "another verdict"),
        ("reject", "less", "other feedback"),
        ("reject", None, "other feedback"),
    ):
        with pytest.raises(DecisionConflict, match=what) as info:
            store.decide("r", REQUEST, verdict, feedback, decision_id="web-1", now=EPOCH)
        assert (info.value.decision_id, info.value.request_id) == ("web-1", REQUEST)
    assert store.load("r") == first.run

    # The run moves on: a new iteration, paused for its review.
    gate = first.run.gates[0]
    moved, _ = apply_event(first.run, gate, IterationCompleted("draft 2"), EPOCH)
    store.commit(moved, first.run.version)
    for request in (REQUEST, None):
        again = store.decide("r", request, "reject", "more", decision_id="web-1", now=EPOCH)
        assert again.outcome.value == "duplicate"
        assert again.run == moved
    with pytest.raises(DecisionConflict, match="another request"):
        store.decide("r", "loop:review:2", "reject", "more", decision_id="web-1", now=EPOCH)
    assert store.load("r") == moved


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_store_clock_at_recording_decides_against_the_deadline(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Recorded at the deadline, a decision wins; a moment after, DeadlinePassed carries the
    deadline and the timeout applies; after a sweep fired, the same, never a bare 'stale'."""
    store = make_store(kind)
    for run_id in ("at", "after", "swept"):
        store.create(sample_run(run_id, EPOCH, True, timeout=60))
    deadline = EPOCH + timedelta(seconds=60)

    applied = store.decide("at", REQUEST, "confirm", now=deadline)
    assert applied.run.gates[0].state.value == "done"

    with pytest.raises(DeadlinePassed) as late:
        store.decide("after", REQUEST, "confirm", now=deadline + timedelta(microseconds=1))
    assert late.value.deadline == deadline
    assert store.load("after").status is RunStatus.cancelled  # on_timeout=cancel applied

    assert store.expire_due(deadline + timedelta(seconds=1)) == ["swept"]
    with pytest.raises(DeadlinePassed) as swept:
        store.decide("swept", REQUEST, "reject", now=deadline + timedelta(seconds=2))
    assert swept.value.deadline == deadline


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_decision_time_before_the_request_is_refused(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """A caller's decided_at earlier than the request's creation is InvalidArgument; a later
    one is what the history shows."""
    store = make_store(kind)
    store.create(sample_run("r", EPOCH, True, timeout=60))
    with pytest.raises(InvalidArgument, match="before request"):
        store.decide("r", REQUEST, "confirm", decided_at=EPOCH - timedelta(seconds=1), now=EPOCH)
    decided = EPOCH + timedelta(seconds=5)
    result = store.decide("r", REQUEST, "confirm", decided_at=decided, now=decided)
    assert result.run.history[-1].at == decided


def sweep_until(store: Store, stop: threading.Event) -> None:
    """Sweep as fast as the store allows until `stop` is set."""
    while not stop.is_set():
        store.expire_due()


def reviewed_loop(store: Store, timeout: float) -> Workflow:
    """One loop with a reviewed iteration that times out (on_timeout=cancel)."""
    return Workflow(
        name="deadline_race",
        store=store,
        steps=[
            Loop(
                name="loop",
                steps=[Step(name="draft", executor=lambda si: "a draft")],
                max_iterations=2,
                human_review=HumanReview(
                    requires_iteration_review=True, on_reject=OnReject.retry, timeout=timeout
                ),
            )
        ],
    )


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_decision_racing_a_sweep_at_the_deadline_is_one_or_the_other(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """30 races of a decision and a sweeping thread around the deadline (aimed shortly before
    it, then just after, in turn), on the store's own clock: an applied decision always stands (no
    sweep overrides it), a refused one is always DeadlinePassed with the timeout stored, and
    both outcomes happen."""
    store = make_store(kind)
    workflow = reviewed_loop(store, timeout=0.05)
    outcomes: list[str] = []
    for trial in range(30):
        paused = workflow.run("x")
        request = paused.requirements[0]
        assert request.deadline is not None
        # Just after the deadline, or shortly before it: far enough that a loaded machine
        # (another process on the other core) still decides in time in some trials.
        aim = request.deadline + timedelta(milliseconds=-15 if trial % 2 else 3)
        stop = threading.Event()
        sweeper = threading.Thread(target=sweep_until, args=(store, stop))
        sweeper.start()
        while store.now() < aim:  # spin on the store's clock: the race is at the deadline
            pass
        late: DeadlinePassed | None = None
        try:
            request.confirm()
        except DeadlinePassed as exc:
            late = exc
        finally:
            stop.set()
            sweeper.join()
        outcomes.append("applied" if late is None else "late")
        assert late is None or late.deadline == request.deadline
        run = store.load(paused.run_id)
        events = [entry.event for entry in run.history if entry.name == "loop"]
        if outcomes[-1] == "applied":
            assert events[-1] == "confirm", events
            confirmed = run.history[-1]
            assert confirmed.at <= request.deadline
            assert "timeout" not in events
        else:
            assert events[-1] == "timeout", events
            assert run.status is RunStatus.cancelled
    assert set(outcomes) == {"applied", "late"}, outcomes


def test_the_memory_store_refuses_what_the_durable_stores_refuse(
    make_store: Callable[..., Store],
) -> None:
    """The oracle: a run too large, or holding what the wire format cannot carry, is refused
    by the memory store exactly as by the others."""
    for kind in STORE_KINDS:
        store = make_store(kind, name=f"oracle-{kind}")
        run = sample_run("big", EPOCH, False, None)
        store.create(run)
        huge = attrs.evolve(run, input="x" * (store.max_run_bytes or 0), version=1)
        with pytest.raises(RunTooLarge):
            store.commit(huge, 0)
        assert store.load("big") == run
