"""The two shells around the driver: they carry out its effects, synchronously or awaited,
and decide nothing themselves.

Both hold the run's execution lease while the driver works, and let it go before they hand
out the event that ends a stream (a pause, the end, a failure): a caller who stops reading
there leaves nothing held. A caller who stops reading earlier, or cancels the task, leaves
the run at its last commit: the shell releases the lease as it unwinds, and commits nothing.
A lease the shell takes itself (`Take`) comes with the read every execution starts with, and
goes back with its last commit, where the store can do either in the same request.
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
from statemachine.store.telemetry import active, committing
from statemachine.store.values import Lease

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow
    from statemachine.store.protocol import Store

__all__ = ["Done", "Take", "aexecute", "execute"]

_ENDS = (StepPausedEvent, WorkflowCompletedEvent, WorkflowFailedEvent)


@attrs.frozen
class Take:
    """The run's lease, to take with the read an execution starts with (one request, where
    the store can: `Store.acquire_reading`), keep while it runs, and give back with its last
    commit."""

    run_id: str


@attrs.frozen
class Done:
    """The last thing an asynchronous execution yields: the run as committed."""

    run: RunRecord


_ANSWERS: dict[type, Callable[[Workflow, Lease, Any], Any]] = {
    Now: lambda workflow, _, effect: workflow.now(),
    Commit: lambda workflow, lease, e: _counted(workflow.store, workflow.store.commit, e, lease),
    Call: lambda workflow, _, e: call(e.step, e.step_input),
    Ask: lambda workflow, _, e: ask(e.function, e.args, e.name),
    Fork: lambda workflow, _, e: fork(e.branches),
    Load: lambda workflow, _, e: workflow.store.load(e.run_id),
    Version: lambda workflow, _, e: workflow.store.version(e.run_id),
}


def _counted(store: Store, commit: Callable[..., None], effect: Commit, lease: Lease) -> None:
    """`commit` (the store's `commit` or `commit_last`) of the effect's run, counted."""
    with committing(store):
        commit(effect.run, effect.expected, lease=lease)


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
    workflow: Workflow, plan: Plan, lease: Lease | Take, *, give_back: bool = False
) -> Generator[WorkflowEvent, None, RunRecord]:
    """Carry out `plan` holding `lease` (a lease held already, or one to `Take`); yields the
    events it emits and returns the run as committed. The lease taken, or with `give_back`
    the one given, goes back with the last commit where the store can (`commit_last`)."""
    store = workflow.store
    last: WorkflowEvent | None = None
    answers = _ANSWERS
    value: Any = None
    if isinstance(lease, Take):
        first = plan.send(None)
        held, value = store.acquire_reading(lease.run_id, version_only=_reads(first))
        holding: AbstractContextManager[Lease] = store.working(held)
        give_back = True
    else:
        held, holding = lease, nullcontext(lease)
    with holding, _traced(workflow, held) as span:
        while True:
            try:
                effect = plan.send(value)
            except StopIteration as stop:
                run: RunRecord = stop.value
                _ended(span, run)
                break
            if give_back and type(effect) is Commit and effect.last:
                _counted(store, store.commit_last, effect, held)
                value = None
                continue
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
    workflow: Workflow, plan: Plan, lease: Lease | Take, *, give_back: bool = False
) -> AsyncGenerator[WorkflowEvent | Done, None]:
    """`execute` with every effect awaited; the last item yielded is `Done(run)`."""
    store = workflow.store
    last: WorkflowEvent | None = None
    value: Any = None
    if isinstance(lease, Take):
        first = plan.send(None)
        held, value = await store.aacquire_reading(lease.run_id, version_only=_reads(first))
        holding: AbstractAsyncContextManager[Lease] = store.aworking(held)
        give_back = True
    else:
        held, holding = lease, nullcontext(lease)
    async with holding:
        with _traced(workflow, held) as span:
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
                    if give_back and effect.last:  # type: ignore[union-attr]
                        write = store.acommit_last(effect.run, effect.expected, lease=held)  # type: ignore[union-attr]
                    else:
                        write = store.acommit(effect.run, effect.expected, lease=held)  # type: ignore[union-attr]
                    with committing(store):
                        await store.settled(write)
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


def _reads(first: object) -> bool:
    """Whether the read an execution starts with is of the version only (else the run)."""
    assert type(first) is Load or type(first) is Version, "an execution starts with a read"
    return type(first) is Version


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
