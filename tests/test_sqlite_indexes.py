"""The SQLite store's indexed plans (pages, dead letters, claims, timeout sweeps) against the
reference store's scans, after any sequence of writes, with a real database file."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from statemachine import StateMachineError, Store
from statemachine.core.runs import abandoned, fail
from statemachine.store import STATES
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run, touched
from stores import MemoryStore, SqliteStore

from .helpers import Clock


class ClockedMemory(MemoryStore):
    """The reference store, on the state machine's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now


class ClockedSqlite(SqliteStore):
    """The SQLite store, on the same clock: both time their writes alike."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(path, create=True)
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now


IDS = ("a1", "a2", "a3", "b1", "b2")


class IndexAgreement(RuleBasedStateMachine):
    """The same runs, written at the same instants, in SQLite and in the reference store: pages,
    dead letters, claims and sweeps answer the same."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(EPOCH)
        self.directory = Path(tempfile.mkdtemp())
        self.stores: tuple[Store, Store] = (
            ClockedMemory(self.clock), ClockedSqlite(self.directory / "runs.db", self.clock)
        )  # fmt: skip

    def teardown(self) -> None:
        self.stores[1].close()
        shutil.rmtree(self.directory)

    def both(self, call: Callable[[Store], Any]) -> Any:
        answers = []
        for store in self.stores:
            try:
                answers.append(call(store))
            except StateMachineError as exc:
                answers.append(type(exc))
        assert answers[0] == answers[1], answers
        return answers[0]

    @initialize(shapes=st.lists(st.sampled_from([(False, None), (True, None), (True, 60)]),
                                min_size=len(IDS), max_size=len(IDS)))  # fmt: skip
    def create(self, shapes: list[tuple[bool, float | None]]) -> None:
        for run_id, (paused, timeout) in zip(IDS, shapes, strict=True):
            run = sample_run(run_id, self.clock.now, paused, timeout)
            self.both(lambda store: store.create(attrs.evolve(run, workflow=run_id[0])))  # noqa: B023
            self.clock.advance(1)

    @rule(run_ids=st.sampled_from([IDS[:1], IDS[1:3], IDS]),
          retry=st.sampled_from([None, -5, 0, 30, 120]))  # fmt: skip
    def fail(self, run_ids: tuple[str, ...], retry: int | None) -> None:
        """Fail one run, or several at one instant (dead letters that tie on time)."""
        at = None if retry is None else self.clock.now + timedelta(seconds=retry)
        change = lambda run: fail(run, "loop", "boom", self.clock.now, retry_at=at)  # noqa: E731
        for run_id in run_ids:
            self.both(lambda store: store.update(run_id, change).version)  # noqa: B023

    @rule(run_id=st.sampled_from(IDS), backoff=st.sampled_from([None, 30]))
    def abandon(self, run_id: str, backoff: int | None) -> None:
        at = None if backoff is None else self.clock.now + timedelta(seconds=backoff)
        change = lambda run: abandoned(run, self.clock.now, retry_at=at)  # noqa: E731
        self.both(lambda store: store.update(run_id, change).version)

    @rule(run_id=st.sampled_from(IDS), how=st.sampled_from(["touch", "requeue", "cancel",
                                                           "confirm", "reject"]))  # fmt: skip
    def change(self, run_id: str, how: str) -> None:
        now = self.clock.now
        calls: dict[str, Callable[[Store], Any]] = {
            "touch": lambda store: store.update(run_id, lambda run: touched(run, now)),
            "requeue": lambda store: store.requeue(run_id),
            "cancel": lambda store: store.cancel(run_id),
            "confirm": lambda store: store.decide(run_id, None, "confirm", decision_id="c").run,
            "reject": lambda store: (
                store.decide(run_id, None, "reject", "again", decision_id="r").run
            ),
        }
        self.both(calls[how])

    @rule(seconds=st.sampled_from([1e-6, 1, 29, 31, 59, 60, 3600]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(state=st.sampled_from([None, *STATES]), limit=st.integers(1, 4),
          offset=st.integers(0, 4), oldest=st.booleans())  # fmt: skip
    def page(self, state: str | None, limit: int, offset: int, oldest: bool) -> None:
        self.both(lambda store: [run.run_id for run in store.page(
            state, limit=limit, offset=offset, oldest_first=oldest)])  # fmt: skip

    @rule(limit=st.integers(1, 4), offset=st.integers(0, 3), oldest=st.booleans())
    def dead(self, limit: int, offset: int, oldest: bool) -> None:
        self.both(lambda store: [run.run_id for run in store.dead(
            limit=limit, offset=offset, oldest_first=oldest)])  # fmt: skip

    @rule(workflows=st.sampled_from([None, ["a"], ["b"], ["a", "b"], []]),
          behind=st.sampled_from([0, 45, 7200]))  # fmt: skip
    def claim(self, workflows: list[str] | None, behind: int) -> None:
        """A claim at the store's time, or at a time before it (a run made runnable at once is
        runnable whatever the time); taken and given back."""

        def claimed(store: Store) -> str | None:
            lease = store.claim(self.clock.now - timedelta(seconds=behind), workflows=workflows)
            if lease is None:
                return None
            store.release(lease)
            return lease.run_id

        self.both(claimed)

    @rule()
    def expire_due(self) -> None:
        self.both(lambda store: sorted(store.expire_due(self.clock.now)))


def test_the_indexed_plans_agree_with_the_reference_scans() -> None:
    """Pages, dead letters, claims and timeout sweeps through SQLite's indexes answer as the
    reference store's scans do, after any sequence of writes."""
    run_state_machine_as_test(IndexAgreement)
