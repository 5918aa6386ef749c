"""Test helpers: gate records in any state, built directly from their fields."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from statemachine import Gate, HumanReview, Request, RequestKind, State, Store

if TYPE_CHECKING:
    from stores import RedisStore

T = TypeVar("T")

REQUEST_KIND = {
    State.awaiting_confirmation: RequestKind.confirmation,
    State.awaiting_review: RequestKind.review,
}


def gate_in(
    state: State, iteration: int, policy: HumanReview, max_iterations: int, paused_at: datetime
) -> Gate:
    """A consistent gate record in `state` at `iteration`, as if it had paused at `paused_at`."""
    outputs = tuple(f"output {i}" for i in range(1, iteration + 1))
    if state is State.iterating:
        outputs = outputs[:-1]
    request = None
    if state in REQUEST_KIND:
        deadline = None if policy.timeout is None else paused_at + timedelta(seconds=policy.timeout)
        kind = REQUEST_KIND[state]
        request = Request(f"g:{kind.value}:{iteration}", kind, "message", deadline)
    return Gate(
        name="g",
        policy=policy,
        max_iterations=max_iterations,
        state=state,
        iteration=iteration,
        request=request,
        feedback=("earlier",) * max(0, iteration - 1) if policy.reviews_iterations else (),
        outputs=outputs,
        version=7,
    )


def positions(max_iterations: int) -> list[tuple[State, int]]:
    """Every (state, iteration) a gate with this maximum can be in."""
    before = [(State.pending, 0), (State.awaiting_confirmation, 0)]
    during = [
        (state, k)
        for state in (State.iterating, State.awaiting_review, State.done)
        for k in range(1, max_iterations + 1)
    ]
    ended = [(state, k) for state in (State.skipped, State.cancelled) for k in (0, max_iterations)]
    return before + during + ended


class Clock:
    """A clock tests move by hand: timeouts are tested without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def aio(store: Store, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main())`, closing the store's connections for that loop at its end (each
    event loop has connections of its own)."""

    async def wrapped() -> T:
        try:
            return await main()
        finally:
            await store.aclose()

    return asyncio.run(wrapped())


def cluster_node(store: RedisStore, run_id: str) -> str:
    """The name of the Cluster node that holds the run."""
    key = store._keys(run_id).run
    node = store.client.driver.get_node_from_key(key)
    return str(node.name)
