"""The store contract, as a Hypothesis state machine: check any store against `MemoryStore`.

Every store shipped with this library passes it in CI, and a store you write should too::

    from statemachine.testing.contract import check_store

    def test_my_store_keeps_the_contract():
        check_store(lambda: MyStore(...), reopen=lambda old: MyStore(...))

The machine applies the same operations, at the same simulated times, to your store and to
the reference: create, get (which applies overdue timeouts), compare-and-set with the current
and with stale versions, decisions (applied, duplicate, stale, unknown, late), timeout sweeps,
cancellation, pages of runs by state, and reopening the store. Optionally it also leaves
things that are not runs where runs live (`litter`, which must change nothing) and replaces
a run with junk (`spoil`, which must then raise `CorruptRun` and be left alone).

Needs Hypothesis (``pip install hitl-statemachine[testing]``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import settings as Settings  # the argument is called settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from statemachine.core.errors import (
    CorruptRun,
    InvalidArgument,
    RunExists,
    StateMachineError,
    VersionConflict,
)
from statemachine.core.events import IterationCompleted, Start
from statemachine.core.machine import step
from statemachine.core.policy import HumanReview
from statemachine.core.record import Gate, RunRecord, RunStatus, Transition
from statemachine.store import STATES, Store
from statemachine.store.memory import MemoryStore
from statemachine.testing import EPOCH

__all__ = ["check_store", "sample_run", "store_agreement", "touched"]

IDS = ("r1", "r2", "r3")
DECISION_IDS = ("d1", "d2", "d3", "d4")


def sample_run(
    run_id: str, now: datetime, paused: bool = True, timeout: float | None = None
) -> RunRecord:
    """A run created at `now`: paused for a review (with a deadline if `timeout`), or pending."""
    gates: tuple[Gate, ...] = ()
    status = RunStatus.pending
    if paused:
        policy = HumanReview(requires_iteration_review=True, on_reject="retry", timeout=timeout)
        gate, _ = step(Gate(name="loop", policy=policy, max_iterations=3), Start(), now)
        gate, _ = step(gate, IterationCompleted("draft"), now)
        gates, status = (gate,), RunStatus.paused
    return RunRecord(
        run_id=run_id, workflow="contract", fingerprint="f", status=status, input="in",
        cursor="loop", gates=gates, created_at=now, updated_at=now, version=len(gates) * 2,
    )  # fmt: skip


def touched(run: RunRecord, now: datetime) -> RunRecord:
    """`run` with one more transition: what a plain compare-and-set writes."""
    entry = Transition(run.version + 1, now, "touch", "touched", "done")
    return attrs.evolve(run, version=run.version + 1, updated_at=now, history=(*run.history, entry))


def _awaited(store: Store, call: Callable[[Store], Any]) -> Any:
    """Run `call(store)`'s coroutine on an event loop of its own, closing the store's
    connections for that loop after."""

    async def main() -> Any:
        try:
            return await call(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


def _ids(runs: list[RunRecord]) -> list[str]:
    return [run.run_id for run in runs]


def _same(value: Any) -> Any:
    return value


def _outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the type of the library error it raised."""
    try:
        return call()
    except StateMachineError as exc:
        return type(exc)


def store_agreement(
    make: Callable[[], Store],
    *,
    reopen: Callable[[Store], Store] | None = None,
    spoil: Callable[[Store, str], bytes] | None = None,
    junk: Callable[[Store, str], bytes] | None = None,
    litter: Callable[[Store], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """The contract as a `RuleBasedStateMachine` class, for `run_state_machine_as_test`.

    Args:
        make: a new, empty store (called once per example).
        reopen: the same store opened again (default: the same object).
        spoil: replace the stored run with junk; returns the junk, as bytes.
        junk: read the junk back (with `spoil`), to check nothing overwrote it.
        litter: leave things that are not runs where runs live.
    """
    if (spoil is None) != (junk is None):
        raise InvalidArgument("spoil and junk go together: give both, or neither")

    class StoreAgreement(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.reference = MemoryStore()
            self.store = make()
            self.now = EPOCH
            self.corrupt: dict[str, bytes] = {}

        def teardown(self) -> None:
            self.store.close()

        def both(self, call: Callable[[Store], Any]) -> Any:
            expected = _outcome(lambda: call(self.reference))
            actual = _outcome(lambda: call(self.store))
            assert actual == expected, (actual, expected)
            return expected

        def live(self, run_id: str) -> bool:
            return run_id not in self.corrupt

        def stored(self, run_id: str) -> RunRecord | None:
            found = _outcome(lambda: self.reference.load(run_id))
            return found if isinstance(found, RunRecord) else None

        @rule(
            run_id=st.sampled_from(IDS), paused=st.booleans(), timeout=st.sampled_from([None, 60])
        )
        def create(self, run_id: str, paused: bool, timeout: float | None) -> None:
            run = sample_run(run_id, self.now, paused, timeout)
            if self.live(run_id):
                self.both(lambda store: store.create(run))
            else:
                assert _outcome(lambda: self.store.create(run)) is RunExists

        @rule(run_id=st.sampled_from(IDS))
        def get(self, run_id: str) -> None:
            if self.live(run_id):
                self.both(lambda store: store.get(run_id, now=self.now))

        @rule(run_id=st.sampled_from(IDS))
        def commit_current(self, run_id: str) -> None:
            current = self.stored(run_id)
            if self.live(run_id) and current is not None:
                new = touched(current, self.now)
                self.both(lambda store: store.commit(new, current.version))

        @rule(run_id=st.sampled_from(IDS), delta=st.sampled_from([-2, -1, 1, 3]))
        def commit_stale(self, run_id: str, delta: int) -> None:
            current = self.stored(run_id)
            if self.live(run_id) and current is not None and current.version + delta >= 0:
                expected = current.version + delta
                new = attrs.evolve(touched(current, self.now), version=expected + 1)
                assert self.both(lambda store: store.commit(new, expected)) is VersionConflict

        @rule(
            run_id=st.sampled_from([*IDS, "unknown"]),
            which=st.sampled_from(["pending", "stale", "unknown"]),
            verdict=st.sampled_from(["confirm", "reject"]),
            decision_id=st.sampled_from(DECISION_IDS),
            late=st.booleans(),
        )
        def decide(
            self, run_id: str, which: str, verdict: str, decision_id: str, late: bool
        ) -> None:
            if not self.live(run_id):
                return
            request = {"pending": "loop:review:1", "stale": "loop:review:0", "unknown": "x"}[which]
            decided_at = self.now + timedelta(seconds=61 if late else 0)
            self.both(lambda store: store.decide(
                run_id, request, verdict, "feedback", decision_id=decision_id,
                decided_at=decided_at, now=max(self.now, decided_at),
            ))  # fmt: skip

        @rule(
            run_id=st.sampled_from(IDS),
            operation=st.sampled_from(
                ["get", "decide", "cancel", "page", "list_runs", "expire_due"]
            ),
            verdict=st.sampled_from(["confirm", "reject"]),
            decision_id=st.sampled_from(DECISION_IDS),
        )
        def awaited(self, run_id: str, operation: str, verdict: str, decision_id: str) -> None:
            """The same operations through the asyncio API: they must answer as the
            synchronous ones do (the reference's answer)."""
            if not self.live(run_id):
                return
            now = self.now
            arguments: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
                "get": ((run_id,), {"now": now}),
                "decide": ((run_id, "loop:review:1", verdict), {"decision_id": decision_id,
                                                               "now": now}),
                "cancel": ((run_id,), {"now": now}),
                "page": ((), {"limit": 10}),
                "list_runs": ((), {}),
                "expire_due": ((now,), {}),
            }  # fmt: skip
            args, kwargs = arguments[operation]
            shape: Callable[[Any], Any] = _same
            if operation in ("page", "list_runs"):
                shape = _ids
            elif operation == "expire_due":
                shape = sorted

            expected = _outcome(lambda: shape(getattr(self.reference, operation)(*args, **kwargs)))

            async def awaited(store: Store) -> Any:
                return shape(await getattr(store, f"a{operation}")(*args, **kwargs))

            actual = _outcome(lambda: _awaited(self.store, awaited))
            assert actual == expected, (operation, actual, expected)

        @rule()
        def expire_due(self) -> None:
            assert sorted(self.store.expire_due(self.now)) == sorted(
                self.reference.expire_due(self.now)
            )

        @rule(run_id=st.sampled_from(IDS))
        def cancel(self, run_id: str) -> None:
            if self.live(run_id):
                self.both(lambda store: store.cancel(run_id, now=self.now))

        @rule(seconds=st.sampled_from([1, 59, 60, 61, 3600]))
        def advance_clock(self, seconds: int) -> None:
            self.now += timedelta(seconds=seconds)

        @rule()
        def reopen(self) -> None:
            if reopen is not None:
                self.store = reopen(self.store)

        @precondition(lambda self: litter is not None)
        @rule()
        def litter(self) -> None:
            assert litter is not None
            litter(self.store)

        @precondition(lambda self: spoil is not None)
        @rule(run_id=st.sampled_from(IDS))
        def spoil(self, run_id: str) -> None:
            assert spoil is not None
            if self.live(run_id) and self.stored(run_id) is not None:
                self.corrupt[run_id] = spoil(self.store, run_id)
                self.reference._runs.pop(run_id)  # the reference cannot hold junk: forget it

        @precondition(lambda self: bool(self.corrupt))
        @rule(data=st.data())
        def junk_is_reported_and_left_alone(self, data: st.DataObject) -> None:
            assert junk is not None
            run_id = data.draw(st.sampled_from(sorted(self.corrupt)))
            for call in (
                lambda: self.store.load(run_id),
                lambda: self.store.get(run_id, now=self.now),
                lambda: self.store.decide(run_id, "loop:review:1", "confirm", now=self.now),
                lambda: self.store.cancel(run_id, now=self.now),
            ):
                assert _outcome(call) is CorruptRun
            assert junk(self.store, run_id) == self.corrupt[run_id]

        @invariant()
        def same_runs(self) -> None:
            stored = set(self.store.run_ids()) - set(self.corrupt)
            assert stored == set(self.reference.run_ids())
            for run_id in stored:
                assert self.store.load(run_id) == self.reference.load(run_id)

        @invariant()
        def same_pages(self) -> None:
            for state, oldest_first in itertools.product((None, *STATES), (False, True)):
                page = self.store.page(state, limit=10, oldest_first=oldest_first)
                theirs = self.reference.page(state, limit=10, oldest_first=oldest_first)
                assert [run.run_id for run in page] == [run.run_id for run in theirs], state
                # A run that cannot be read is left out of the page, and reported beside it.
                assert {exc.run_id for exc in page.unreadable} <= set(self.corrupt)

        @invariant()
        def same_listings(self) -> None:
            listed = self.store.list_runs()
            theirs = self.reference.list_runs()
            assert [run.run_id for run in listed] == [run.run_id for run in theirs]
            assert {exc.run_id for exc in listed.unreadable} == set(self.corrupt)

    return StoreAgreement


def check_store(
    make: Callable[[], Store], *, settings: Settings | None = None, **hooks: Any
) -> None:
    """Run the contract against the store `make` builds.

    Args:
        settings: Hypothesis settings (default: the current profile's).
        hooks: `reopen`, `spoil`, `junk`, `litter`, as for `store_agreement`.

    Raises:
        AssertionError (through Hypothesis): the store disagreed with `MemoryStore`, with the
            shortest sequence of operations that shows it.
    """
    machine = store_agreement(make, **hooks)
    run_state_machine_as_test(machine, settings=settings if settings is not None else Settings())
