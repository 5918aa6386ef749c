"""The asyncio half of `Workflow`: the same runs, decisions and reads, awaited. Every method
drives the same plan as its synchronous twin (`driver`), through the asyncio shell."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from statemachine.core.events import JSON
from statemachine.core.record import RunRecord
from statemachine.core.runs import expire
from statemachine.runtime.effects import Plan
from statemachine.runtime.handles import RunOutput, Session
from statemachine.runtime.tree import Definition
from statemachine.store.protocol import Store
from statemachine.store.values import Lease, RetryPolicy, check_run_id

if TYPE_CHECKING:
    from statemachine.runtime.shells import Done
    from statemachine.runtime.stream import WorkflowEvent
    from statemachine.runtime.workflow import Workflow

__all__ = ["AsyncMethods"]


class AsyncMethods(ABC):
    """`Workflow`'s asyncio methods, and what they need of it."""

    name: str
    store: Store
    definition: Definition

    @property
    @abstractmethod
    def session_id(self) -> str: ...

    def _workflow(self) -> Workflow:
        return cast("Workflow", self)  # the only class these methods are part of

    @abstractmethod
    async def anow(self) -> datetime: ...

    @abstractmethod
    def own_time(self) -> datetime | None: ...

    @abstractmethod
    def _new_run(
        self, input: JSON, run_id: str | None, session_id: str | None, user_id: str | None,
        now: datetime, *, starting: bool = False,
    ) -> RunRecord: ...  # fmt: skip

    @abstractmethod
    def _plan(
        self, run_id: str, seen: RunRecord | None, events: bool, units: int | None,
        retry: RetryPolicy | None, fresh: bool = False,
    ) -> Plan: ...  # fmt: skip

    async def asubmit(
        self,
        input: JSON = None,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """`submit`, with the store's I/O awaited."""
        record = self._new_run(input, run_id, session_id, user_id, await self.anow())
        await self.store.acreate(record)
        return record.run_id

    async def _astart(self, input: JSON, ids: dict[str, Any]) -> str:
        """A new run its creator executes at once (see `Workflow._new_run`)."""
        record = self._new_run(input, ids.get("run_id"), ids.get("session_id"),
                               ids.get("user_id"), await self.anow(), starting=True)  # fmt: skip
        await self.store.acreate(record)
        return record.run_id

    @overload
    def arun(
        self, input: JSON = None, *, stream: Literal[False] = False, stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> Coroutine[Any, Any, RunOutput]: ...  # fmt: skip

    @overload
    def arun(
        self, input: JSON = None, *, stream: Literal[True], stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> AsyncGenerator[WorkflowEvent, None]: ...  # fmt: skip

    def arun(
        self,
        input: JSON = None,
        *,
        stream: bool = False,
        stream_events: bool = False,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> Coroutine[Any, Any, RunOutput] | AsyncGenerator[WorkflowEvent, None]:
        """`run` under asyncio: ``await workflow.arun(input)``, or ``async for event in
        workflow.arun(input, stream=True)``. ``async def`` executors are awaited.

        Cancelling the task that runs it, or leaving the stream early, never changes the
        stored run: it stays at its last commit, and can be continued.
        """
        ids = {"run_id": run_id, "session_id": session_id, "user_id": user_id}
        if stream:
            return self._astream_new(input, stream_events, ids)
        return self._arun(input, ids)

    async def _arun(self, input: JSON, ids: dict[str, str | None]) -> RunOutput:
        run_id = await self._astart(input, ids)
        from statemachine.runtime.shells import afinish  # loaded on first use, as in `_plan`

        return RunOutput(await afinish(self._aexecute(run_id, None, False)), self._workflow())

    async def _astream_new(
        self, input: JSON, stream_events: bool, ids: dict[str, str | None]
    ) -> AsyncGenerator[WorkflowEvent, None]:
        run_id = await self._astart(input, ids)
        async with aclosing(_events(self._aexecute(run_id, None, stream_events))) as events:
            async for event in events:
                yield event

    @overload
    def acontinue_run(
        self, run: RunOutput | str, *, stream: Literal[False] = False, stream_events: bool = False
    ) -> Coroutine[Any, Any, RunOutput]: ...

    @overload
    def acontinue_run(
        self, run: RunOutput | str, *, stream: Literal[True], stream_events: bool = False
    ) -> AsyncGenerator[WorkflowEvent, None]: ...

    def acontinue_run(
        self, run: RunOutput | str, *, stream: bool = False, stream_events: bool = False
    ) -> Coroutine[Any, Any, RunOutput] | AsyncGenerator[WorkflowEvent, None]:
        """`continue_run` under asyncio (awaited, or an async stream with ``stream=True``)."""
        run_id, seen = target(run)
        if stream:
            return _events(self._aexecute(run_id, seen, stream_events))
        return self._acontinue(run_id, seen)

    async def _acontinue(self, run_id: str, seen: RunRecord | None) -> RunOutput:
        from statemachine.runtime.shells import afinish

        return RunOutput(await afinish(self._aexecute(run_id, seen, False)), self._workflow())

    async def arun_unit(
        self,
        lease: Lease,
        retry: RetryPolicy | None = None,
        *,
        give_back: bool = False,
        run: RunRecord | None = None,
    ) -> RunRecord:
        """`run_unit`, with the store's I/O and ``async def`` user code awaited."""
        plan = self._plan(lease.run_id, run, False, 1, retry, fresh=run is not None)
        from statemachine.runtime.shells import aexecute, afinish

        return await afinish(aexecute(self._workflow(), plan, lease, give_back=give_back))

    async def aget_run(self, run_id: str) -> RunOutput:
        """`get_run`, awaited."""
        return RunOutput(await self.store.aget(run_id, now=self.own_time()), self._workflow())

    async def aget_session(self, session_id: str | None = None) -> Session:
        """`get_session`, awaited."""
        wanted = session_id_of(session_id) or self.session_id
        listed = await self.store.alist_runs(self.name)
        mine = [run for run in listed if run.session_id == wanted]
        now = await self.anow() if any(run.pending_gate for run in mine) else None
        runs = []
        for run in mine:
            if now is not None and expire(run, now) is not None:
                run = await self.store.aget(run.run_id, now=self.own_time())
            runs.append(run)
        workflow = self._workflow()
        return Session(
            self.name, [RunOutput(run, workflow) for run in runs], listed.unreadable, wanted
        )

    async def acancel_run(self, run_id: str) -> RunOutput:
        """`cancel_run`, awaited."""
        return RunOutput(await self.store.acancel(run_id, now=self.own_time()), self._workflow())

    def _aexecute(
        self, run_id: str, seen: RunRecord | None, stream_events: bool
    ) -> AsyncGenerator[WorkflowEvent | Done, None]:
        from statemachine.runtime.shells import Take, aexecute

        plan = self._plan(run_id, seen, stream_events, None, None)
        workflow = self._workflow()
        executed = aexecute(workflow, plan, Take(run_id))
        from statemachine.runtime.hooks import adelivering

        return adelivering(workflow, executed) if workflow.hooks else executed


def target(run: RunOutput | str) -> tuple[str, RunRecord | None]:
    """The run id a caller named, and the run as it saw it (if it gave a `RunOutput`)."""
    if isinstance(run, RunOutput):
        return run.run_id, run.record
    return check_run_id(run), None


def session_id_of(value: object) -> str | None:
    """A session or user id as given, checked."""
    from statemachine.runtime.workflow import check_id

    return check_id("session_id", value)


async def _events(
    execution: AsyncGenerator[WorkflowEvent | Done, None],
) -> AsyncGenerator[WorkflowEvent, None]:
    # Closing this stream closes the execution, whose lease is then let go at once (not when
    # the garbage collector gets to it).
    from statemachine.runtime.shells import Done

    async with aclosing(execution):
        async for item in execution:
            if not isinstance(item, Done):
                yield item
