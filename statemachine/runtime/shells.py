"""The two shells around the driver: they carry out its effects, synchronously or awaited,
and decide nothing themselves.

Both hold the run's execution lease while the driver works, and let it go before they hand
out the event that ends a stream (a pause, the end, a failure): a caller who stops reading
there leaves nothing held. A caller who stops reading earlier, or cancels the task, leaves
the run at its last commit: the shell releases the lease as it unwinds, and commits nothing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, aclosing, nullcontext
from typing import TYPE_CHECKING, Any

import attrs

from statemachine.core.record import RunRecord
from statemachine.runtime.calls import aask, acall, afork, ask, call, fork
from statemachine.runtime.effects import Ask, Call, Commit, Emit, Fork, Load, Now, Plan, Version
from statemachine.runtime.stream import (
    StepPausedEvent,
    WorkflowCompletedEvent,
    WorkflowEvent,
    WorkflowFailedEvent,
)
from statemachine.store.telemetry import active
from statemachine.store.values import Lease

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow
    from statemachine.store.protocol import Store

__all__ = ["Done", "aexecute", "execute"]

_ENDS = (StepPausedEvent, WorkflowCompletedEvent, WorkflowFailedEvent)


@attrs.frozen
class Done:
    """The last thing an asynchronous execution yields: the run as committed."""

    run: RunRecord


_ANSWERS: dict[type, Callable[[Workflow, Lease, Any], Any]] = {
    Now: lambda workflow, _, effect: workflow.now(),
    Commit: lambda workflow, lease, e: _commit(workflow.store, e, lease),
    Call: lambda workflow, _, e: call(e.step, e.step_input),
    Ask: lambda workflow, _, e: ask(e.function, e.args, e.name),
    Fork: lambda workflow, _, e: fork(e.branches),
    Load: lambda workflow, _, e: workflow.store.load(e.run_id),
    Version: lambda workflow, _, e: workflow.store.version(e.run_id),
}


def _commit(store: Store, effect: Commit, lease: Lease) -> None:
    metered = active()
    if metered is None:
        return store.commit(effect.run, effect.expected, lease=lease)
    try:
        store.commit(effect.run, effect.expected, lease=lease)
    except Exception as exc:
        metered.committed(store, exc)
        raise
    metered.committed(store, None)
    return None


async def _acommit(store: Store, effect: Commit, lease: Lease) -> None:
    metered = active()
    written = store.settled(store.acommit(effect.run, effect.expected, lease=lease))
    if metered is None:
        return await written
    try:
        await written
    except Exception as exc:
        metered.committed(store, exc)
        raise
    metered.committed(store, None)
    return None


def _traced(workflow: Workflow, lease: Lease) -> AbstractContextManager[Any]:
    """The unit's span, when tracing is on."""
    traced = active()
    if traced is None:
        return nullcontext()
    return traced.span(
        "statemachine.unit", lease.run_id, **{"statemachine.workflow": workflow.name}
    )


def _ended(span: Any, run: RunRecord) -> None:
    traced = active()
    if span is not None and traced is not None:
        traced.ended(span, run.status.value, run.error)


def execute(
    workflow: Workflow,
    plan: Plan,
    lease: Lease | AbstractContextManager[Lease],
) -> Generator[WorkflowEvent, None, RunRecord]:
    """Carry out `plan`, holding `lease` (a lease held already, or a hold to take); yields
    the events it emits and returns the run as committed."""
    last: WorkflowEvent | None = None
    answers = _ANSWERS
    with _held(lease) as held, _traced(workflow, held) as span:
        value: Any = None
        while True:
            try:
                effect = plan.send(value)
            except StopIteration as stop:
                run: RunRecord = stop.value
                _ended(span, run)
                break
            answer = answers.get(type(effect))
            if answer is not None:
                value = answer(workflow, held, effect)
                continue
            value = None
            assert type(effect) is Emit  # the one effect left
            event = effect.event
            if isinstance(event, _ENDS):
                last = event  # handed out once the lease is let go
            else:
                yield event
    if last is not None:
        yield last
    return run


async def aexecute(
    workflow: Workflow,
    plan: Plan,
    lease: Lease | AbstractAsyncContextManager[Lease],
) -> AsyncGenerator[WorkflowEvent | Done, None]:
    """`execute` with every effect awaited; the last item yielded is `Done(run)`."""
    store = workflow.store
    last: WorkflowEvent | None = None
    async with _aheld(lease) as held:
        with _traced(workflow, held) as span:
            value: Any = None
            while True:
                try:
                    effect = plan.send(value)
                except StopIteration as stop:
                    run: RunRecord = stop.value
                    _ended(span, run)
                    break
                kind = type(effect)
                value = None
                if kind is Emit:
                    event = effect.event  # type: ignore[union-attr]
                    if isinstance(event, _ENDS):
                        last = event
                    else:
                        yield event
                elif kind is Now:
                    value = await workflow.anow()
                elif kind is Commit:  # begun, a write ends before a cancellation is taken
                    await _acommit(store, effect, held)  # type: ignore[arg-type]
                elif kind is Call:
                    value = await acall(effect.step, effect.step_input)  # type: ignore[union-attr]
                elif kind is Ask:
                    value = await aask(effect.function, effect.args, effect.name)  # type: ignore[union-attr]
                elif kind is Fork:
                    value = await afork(effect.branches)  # type: ignore[union-attr]
                elif kind is Load:
                    value = await store.aload(effect.run_id)  # type: ignore[union-attr]
                elif kind is Version:
                    value = await store.aversion(effect.run_id)  # type: ignore[union-attr]
    if last is not None:
        yield last
    yield Done(run)


def finish(events: Generator[WorkflowEvent, None, RunRecord]) -> RunRecord:
    """Run an execution to its end, dropping its events; the run as committed."""
    while True:
        try:
            next(events)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def afinish(events: AsyncGenerator[WorkflowEvent | Done, None]) -> RunRecord:
    """`finish`, for an asynchronous execution."""
    async with aclosing(events):
        async for item in events:
            if isinstance(item, Done):
                return item.run
    raise AssertionError("an execution ends with Done")  # pragma: no cover


class _held:
    """A lease held already, or a hold to take, as one context manager."""

    def __init__(self, lease: Lease | AbstractContextManager[Lease]) -> None:
        self.lease = lease

    def __enter__(self) -> Lease:
        if isinstance(self.lease, Lease):
            return self.lease
        return self.lease.__enter__()

    def __exit__(self, *exc: object) -> None:
        if not isinstance(self.lease, Lease):
            self.lease.__exit__(*exc)  # type: ignore[arg-type]


class _aheld:
    """`_held`, for asynchronous holds."""

    def __init__(self, lease: Lease | AbstractAsyncContextManager[Lease]) -> None:
        self.lease = lease

    async def __aenter__(self) -> Lease:
        if isinstance(self.lease, Lease):
            return self.lease
        return await self.lease.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        if not isinstance(self.lease, Lease):
            await self.lease.__aexit__(*exc)  # type: ignore[arg-type]
