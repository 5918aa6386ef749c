"""`check_history`: every run the runtime produces replays through the table and its
workflow's definition; an entry the machine could not have produced is caught, first."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from statemachine import HistoryInvalid, RunRecord, Store, Transition, Workflow
from statemachine.testing import Harness, check_history

from .hitl_flows import nested_workflow, tag
from .test_harness import memo


def finished_runs(store: Store) -> list[tuple[RunRecord, Workflow]]:
    """Runs of several shapes, taken to their ends through the harness."""
    made = []
    harness = Harness(memo(), store)
    harness.run("a")
    harness.reject("again")
    harness.advance(3601)
    harness.select("mail")
    made.append((harness.output.record, harness.workflow))
    nested = Harness(nested_workflow(store), store)
    nested.run("b")
    nested.edit("edited")
    made.append((nested.output.record, nested.workflow))
    cancelled = Harness(memo(), store)
    cancelled.run("c")
    cancelled.workflow.cancel_run(cancelled.output.run_id)
    made.append((store.load(cancelled.output.run_id), cancelled.workflow))
    return made


def test_runs_the_runtime_made_replay(store: Store) -> None:
    for run, workflow in finished_runs(store):
        check_history(run, workflow)


def tampered(run: RunRecord, index: int, **changes: Any) -> RunRecord:
    history = list(run.history)
    history[index] = attrs.evolve(history[index], **changes)
    return attrs.evolve(run, history=tuple(history))


def test_an_entry_the_machine_could_not_produce_is_caught(store: Store) -> None:
    (run, workflow), *_ = finished_runs(store)
    review = next(i for i, e in enumerate(run.history) if e.event == "iteration_completed")
    with pytest.raises(HistoryInvalid, match="no such row"):
        check_history(tampered(run, review, state="done", event="reject"), workflow)
    with pytest.raises(HistoryInvalid, match="not an event of the machine"):
        check_history(tampered(run, review, event="teleport"), workflow)
    with pytest.raises(HistoryInvalid, match="a step this workflow does not have"):
        check_history(tampered(run, 0, name="nowhere"), workflow)
    with pytest.raises(HistoryInvalid, match="versions must follow"):
        check_history(tampered(run, 1, version=99), workflow)
    gone = attrs.evolve(run, history=run.history[:-3])
    with pytest.raises(HistoryInvalid, match="the run has it"):
        check_history(gone, workflow)


def test_a_changed_definition_is_caught(store: Store) -> None:
    (run, workflow), *_ = finished_runs(store)
    renamed = Workflow(name=workflow.name, store=store, steps=[
        workflow.steps[0], tag("other"),
    ])  # fmt: skip
    with pytest.raises(HistoryInvalid, match="'send', a step this workflow does not have"):
        check_history(run, renamed)


def test_a_trimmed_history_is_checked_from_where_it_starts(store: Store) -> None:
    (run, workflow), *_ = finished_runs(store)
    check_history(attrs.evolve(run, history=run.history[3:]), workflow)
    assert isinstance(run.history[0], Transition)
