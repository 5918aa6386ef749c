"""`Workflow`: steps and loops with human gates, run through a store, synchronously or under
asyncio. Both APIs drive the same sans-IO plan (`driver`) through a shell of their own
(`shells`); the asyncio one never blocks the event loop on the store."""

from __future__ import annotations

import copy
import json
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Sequence,
)
from contextlib import aclosing
from datetime import datetime
from typing import Any, Literal, TypeAlias, overload

from statemachine.core.errors import DefinitionError, InvalidArgument
from statemachine.core.events import JSON, json_copy, json_problem
from statemachine.core.record import RunRecord, RunStatus
from statemachine.runtime.definitions import Loop, Step, check_name, describe, kind_of
from statemachine.runtime.driver import Definition, Plan, drive, prepare
from statemachine.runtime.handles import RunOutput, Session
from statemachine.runtime.shells import Done, aexecute, afinish, execute, finish
from statemachine.runtime.stream import WorkflowEvent
from statemachine.store.memory import MemoryStore
from statemachine.store.protocol import Store
from statemachine.store.values import Lease, RetryPolicy, aware, check_run_id, new_id

__all__ = ["Clock", "Workflow"]

Clock: TypeAlias = Callable[[], datetime]


def _check_id(name: str, value: object) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not 0 < len(value) <= 200 or not value.isprintable():
        raise InvalidArgument(f"{name} must be a printable string of 1 to 200 characters")
    return value


class Workflow:
    """Steps and loops run in order, with human gates, persisted in a store.

    Args:
        name: identifies the workflow's runs in the store.
        steps: `Step` and `Loop` objects, run in order. Names must be unique, loop bodies
            included.
        store: where runs live (default: a new in-memory `MemoryStore`).
        clock: a zero-argument callable returning a timezone-aware `datetime` (default: the
            store's clock, `store.now`: this host's UTC clock, or the Redis server's). It
            stamps deadlines and decisions.
        session_id: the session this workflow object's runs belong to, as in the peer
            framework (default: a new one, so a session is this object's own runs);
            `get_session` lists a session's runs. Give the same id to find a session again
            from another process.
        user_id: who the runs are for, kept with each run.

    Raises:
        DefinitionError (a ValueError): a bad name, duplicate step names, or a bad step.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Step | Loop],
        store: Store | None = None,
        clock: Clock | None = None,
        description: str | None = None,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.name = check_name("Workflow", name)
        self.steps: tuple[Step | Loop, ...] = tuple(steps)
        self.store = store if store is not None else MemoryStore()
        if not isinstance(self.store, Store):
            raise DefinitionError(f"Workflow {name!r}: store must be a Store, not {store!r}")
        if clock is not None and not callable(clock):
            raise DefinitionError(f"Workflow {name!r}: clock must be callable, not {clock!r}")
        self._clock = clock
        self.description = description
        self.session_id = _check_id("session_id", session_id) or new_id()
        self.user_id = _check_id("user_id", user_id)
        if not self.steps:
            raise DefinitionError(f"Workflow {name!r} needs at least one step")
        seen: set[str] = set()
        for step in self.steps:
            if not isinstance(step, Step | Loop):
                raise DefinitionError(f"Workflow {name!r}: {step!r} is not a Step or a Loop")
            named: tuple[Step | Loop, ...] = (
                (step, *step.steps) if isinstance(step, Loop) else (step,)
            )
            for each in named:
                if each.name in seen:
                    raise DefinitionError(f"Workflow {name!r}: two steps are named {each.name!r}")
                seen.add(each.name)
        self.gated = [step.name for step in self.steps if step.is_gated]
        """The names of the steps and loops a human can pause."""
        shape = json.dumps([describe(step) for step in self.steps], sort_keys=True)
        import hashlib  # here, not at import: loading OpenSSL's hashes takes milliseconds

        self.definition = Definition(
            name=self.name,
            steps=self.steps,
            fingerprint=hashlib.sha256(shape.encode()).hexdigest()[:16],
            index={step.name: position for position, step in enumerate(self.steps)},
        )

    def __repr__(self) -> str:
        names = [step.name for step in self.steps]
        return f"Workflow(name={self.name!r}, steps={names}, store={self.store!r})"

    @property
    def fingerprint(self) -> str:
        """A digest of the definition (names, kinds, policies): runs record it."""
        return self.definition.fingerprint

    @property
    def clock(self) -> Clock:
        """The clock that stamps this workflow's deadlines and decisions."""
        return self._clock if self._clock is not None else self.store.now

    def now(self) -> datetime:
        """The time by this workflow's clock, checked: a clock that answers with a naive
        datetime (or not a datetime) is refused with `InvalidArgument` before anything is
        written, since what it stamped could never be read back."""
        return aware(self.clock(), "the workflow's clock")

    async def anow(self) -> datetime:
        """`now`, with the store's clock awaited (a Redis store asks its server)."""
        if self._clock is not None:
            return self.now()
        return aware(await self.store.anow(), "the workflow's clock")

    def own_time(self) -> datetime | None:
        """The time by this workflow's own clock, or None when it uses the store's (which
        then reads it itself, when it records)."""
        return None if self._clock is None else self.now()

    def bind(self, store: Store) -> Workflow:
        """This workflow (the same steps, name, session and clock choice) on another store."""
        bound = copy.copy(self)
        bound.store = store
        return bound

    # Starting runs

    def _new_run(
        self, input: JSON, run_id: str | None, session_id: str | None, user_id: str | None,
        now: datetime,
    ) -> RunRecord:  # fmt: skip
        if problem := json_problem(input, "the workflow input"):
            raise InvalidArgument(problem)
        return RunRecord(
            run_id=check_run_id(run_id if run_id is not None else new_id()),
            workflow=self.name,
            fingerprint=self.fingerprint,
            session_id=_check_id("session_id", session_id) or self.session_id,
            user_id=_check_id("user_id", user_id) or self.user_id,
            status=RunStatus.pending,
            input=json_copy(input),  # the caller keeps no handle on what is stored
            cursor=self.steps[0].name,
            outline=tuple((step.name, kind_of(step)) for step in self.steps),
            created_at=now,
            updated_at=now,
        )

    def submit(
        self,
        input: JSON = None,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Store a new run, runnable, without executing it: a `Worker` will.

        Returns:
            The run id.

        Raises:
            RunExists: a run with this id exists.
            InvalidRunId: the run id is not acceptable.
            InvalidArgument: the input is not a JSON value.
        """
        record = self._new_run(input, run_id, session_id, user_id, self.now())
        self.store.create(record)
        return record.run_id

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

    @overload
    def run(
        self, input: JSON = None, *, stream: Literal[False] = False, stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> RunOutput: ...  # fmt: skip

    @overload
    def run(
        self, input: JSON = None, *, stream: Literal[True], stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> Iterator[WorkflowEvent]: ...  # fmt: skip

    def run(
        self,
        input: JSON = None,
        *,
        stream: bool = False,
        stream_events: bool = False,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> RunOutput | Iterator[WorkflowEvent]:
        """Start a new run and execute it until it pauses, completes, is cancelled or fails.

        Args:
            input: the run's input, a JSON value (usually a string).
            stream: return an iterator of events instead of the final `RunOutput`.
            stream_events: with `stream`, also yield step and iteration events, not only the
                one that ends the stream.
            run_id: the new run's id (default: a new one; ids made here sort in creation order).
            session_id, user_id: the run's session (default: the workflow's) and user.

        A step's exception does not raise: the run comes back `failed`.

        Raises:
            RunExists: a run with this id exists.
            InvalidRunId: the run id is not acceptable.
            InvalidArgument: the input is not a JSON value.
        """
        run_id = self.submit(input, run_id=run_id, session_id=session_id, user_id=user_id)
        events = self._execute(run_id, None, stream_events)
        return events if stream else RunOutput(finish(events), self)

    @overload
    def arun(
        self, input: JSON = None, *, stream: Literal[False] = False, stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> Coroutine[Any, Any, RunOutput]: ...  # fmt: skip

    @overload
    def arun(
        self, input: JSON = None, *, stream: Literal[True], stream_events: bool = False,
        run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    ) -> AsyncIterator[WorkflowEvent]: ...  # fmt: skip

    def arun(
        self,
        input: JSON = None,
        *,
        stream: bool = False,
        stream_events: bool = False,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> Coroutine[Any, Any, RunOutput] | AsyncIterator[WorkflowEvent]:
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
        run_id = await self.asubmit(input, **ids)
        return RunOutput(await afinish(self._aexecute(run_id, None, False)), self)

    async def _astream_new(
        self, input: JSON, stream_events: bool, ids: dict[str, str | None]
    ) -> AsyncIterator[WorkflowEvent]:
        run_id = await self.asubmit(input, **ids)
        async with aclosing(_events(self._aexecute(run_id, None, stream_events))) as events:
            async for event in events:
                yield event

    # Continuing runs

    @overload
    def continue_run(
        self, run: RunOutput | str, *, stream: Literal[False] = False, stream_events: bool = False
    ) -> RunOutput: ...

    @overload
    def continue_run(
        self, run: RunOutput | str, *, stream: Literal[True], stream_events: bool = False
    ) -> Iterator[WorkflowEvent]: ...

    def continue_run(
        self, run: RunOutput | str, *, stream: bool = False, stream_events: bool = False
    ) -> RunOutput | Iterator[WorkflowEvent]:
        """Execute a run from where it stands, in this process or any other.

        Args:
            run: a `RunOutput` (the run must not have changed since it was read, other than by
                this process's own decisions) or a run id (the run as it is stored now).

        Returns:
            As `run`. A run still waiting for a decision comes back paused, unchanged; a
            finished one comes back as it is.

        Raises:
            ConflictError: the run changed since the given `RunOutput` was read, or another
                process is executing it (`RunBusy`); no user code ran.
            DefinitionChanged: the run's current step is not in this workflow any more under
                the same name and kind.
            RunNotFound: there is no such run.
            InvalidRunId: the run id is not acceptable.
        """
        run_id, seen = _target(run)
        events = self._execute(run_id, seen, stream_events)
        return events if stream else RunOutput(finish(events), self)

    @overload
    def acontinue_run(
        self, run: RunOutput | str, *, stream: Literal[False] = False, stream_events: bool = False
    ) -> Coroutine[Any, Any, RunOutput]: ...

    @overload
    def acontinue_run(
        self, run: RunOutput | str, *, stream: Literal[True], stream_events: bool = False
    ) -> AsyncIterator[WorkflowEvent]: ...

    def acontinue_run(
        self, run: RunOutput | str, *, stream: bool = False, stream_events: bool = False
    ) -> Coroutine[Any, Any, RunOutput] | AsyncIterator[WorkflowEvent]:
        """`continue_run` under asyncio (awaited, or an async stream with ``stream=True``)."""
        run_id, seen = _target(run)
        if stream:
            return _events(self._aexecute(run_id, seen, stream_events))
        return self._acontinue(run_id, seen)

    async def _acontinue(self, run_id: str, seen: RunRecord | None) -> RunOutput:
        return RunOutput(await afinish(self._aexecute(run_id, seen, False)), self)

    def run_unit(self, lease: Lease, retry: RetryPolicy | None = None) -> RunRecord:
        """Execute one unit of the leased run's work (a plain step, or one loop iteration),
        commit it fenced by the lease, and return the run as committed. What a worker does.

        The run is left `pending` if more work follows, so that any worker can take the next
        unit. A failing unit is retried after `retry`'s backoff, or dead-lettered once its
        attempts are used up (without `retry`: left for a person to retry).

        Raises:
            LeaseLost: the lease ran out before the commit; nothing was written.
            ConflictError: the run changed meanwhile (a decision or a cancellation came first).
            DefinitionChanged: the run's current step no longer fits this workflow.
            InvalidArgument: the run belongs to another workflow.
        """
        return finish(execute(self, self._plan(lease.run_id, None, False, 1, retry), lease))

    async def arun_unit(self, lease: Lease, retry: RetryPolicy | None = None) -> RunRecord:
        """`run_unit`, with the store's I/O and ``async def`` user code awaited."""
        plan = self._plan(lease.run_id, None, False, 1, retry)
        return await afinish(aexecute(self, plan, lease))

    # Reading and cancelling runs

    def get_run(self, run_id: str) -> RunOutput:
        """The run as stored, with an overdue timeout applied first. Raises `RunNotFound`."""
        return RunOutput(self.store.get(run_id, now=self.own_time()), self)

    async def aget_run(self, run_id: str) -> RunOutput:
        """`get_run`, awaited."""
        return RunOutput(await self.store.aget(run_id, now=self.own_time()), self)

    def get_session(self, session_id: str | None = None) -> Session:
        """The runs of a session (default: this workflow's), in the order they were created,
        each with an overdue timeout applied first.

        Raises:
            StoreNotFound: the store does not exist (a file store's directory is missing).
        """
        wanted = _check_id("session_id", session_id) or self.session_id
        listed = self.store.list_runs(self.name)
        runs = [self.store.get(run.run_id, now=self.own_time()) if _overdue(run) else run
                for run in listed if run.session_id == wanted]  # fmt: skip
        return Session(self.name, [RunOutput(run, self) for run in runs], listed.unreadable, wanted)

    async def aget_session(self, session_id: str | None = None) -> Session:
        """`get_session`, awaited."""
        wanted = _check_id("session_id", session_id) or self.session_id
        listed = await self.store.alist_runs(self.name)
        runs = []
        for run in listed:
            if run.session_id == wanted:
                overdue = _overdue(run)
                runs.append(
                    await self.store.aget(run.run_id, now=self.own_time()) if overdue else run
                )
        return Session(self.name, [RunOutput(run, self) for run in runs], listed.unreadable, wanted)

    def cancel_run(self, run_id: str) -> RunOutput:
        """Cancel the run; a process executing it stops at its next commit."""
        return RunOutput(self.store.cancel(run_id, now=self.own_time()), self)

    async def acancel_run(self, run_id: str) -> RunOutput:
        """`cancel_run`, awaited."""
        return RunOutput(await self.store.acancel(run_id, now=self.own_time()), self)

    # Execution

    def _plan(
        self, run_id: str, seen: RunRecord | None, events: bool, units: int | None,
        retry: RetryPolicy | None,
    ) -> Plan:  # fmt: skip
        run = yield from prepare(self.definition, run_id, seen)
        return (yield from drive(self.definition, run, events=events, units=units, retry=retry))

    def _execute(
        self, run_id: str, seen: RunRecord | None, stream_events: bool
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        plan = self._plan(run_id, seen, stream_events, None, None)
        return execute(self, plan, self.store.hold(run_id))

    def _aexecute(
        self, run_id: str, seen: RunRecord | None, stream_events: bool
    ) -> AsyncGenerator[WorkflowEvent | Done, None]:
        plan = self._plan(run_id, seen, stream_events, None, None)
        return aexecute(self, plan, self.store.ahold(run_id))


def _target(run: RunOutput | str) -> tuple[str, RunRecord | None]:
    if isinstance(run, RunOutput):
        return run.run_id, run.record
    return check_run_id(run), None


def _overdue(run: RunRecord) -> bool:
    gate = run.pending_gate
    return gate is not None and gate.deadline is not None and not run.status.is_finished


async def _events(
    execution: AsyncGenerator[WorkflowEvent | Done, None],
) -> AsyncGenerator[WorkflowEvent, None]:
    # Closing this stream closes the execution, whose lease is then let go at once (not when
    # the garbage collector gets to it).
    async with aclosing(execution):
        async for item in execution:
            if not isinstance(item, Done):
                yield item
