"""`Workflow`: steps and loops with human gates, run through a store, synchronously or under
asyncio. Both APIs drive the same sans-IO plan (`driver`) through a shell of their own
(`shells`); the asyncio one never blocks the event loop on the store."""

from __future__ import annotations

import copy
from collections.abc import (
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from statemachine.core.errors import DefinitionError, InvalidArgument
from statemachine.core.events import JSON, json_copy, json_problem
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.runs import expire
from statemachine.runtime.aworkflow import AsyncMethods, target
from statemachine.runtime.containers import Node, as_nodes
from statemachine.runtime.definitions import check_name
from statemachine.runtime.effects import Plan
from statemachine.runtime.handles import RunOutput, Session
from statemachine.runtime.hooks import delivering, plan, registry
from statemachine.runtime.tree import Definition
from statemachine.store.memory import MemoryStore
from statemachine.store.protocol import Store
from statemachine.store.values import Lease, RetryPolicy, aware, check_run_id, new_id

if TYPE_CHECKING:
    from statemachine.runtime.hooks import PauseNotice
    from statemachine.runtime.requirements import StepRequirement
    from statemachine.runtime.stream import WorkflowEvent

__all__ = ["Clock", "Workflow"]

Clock: TypeAlias = Callable[[], datetime]


def check_id(name: str, value: object) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not 0 < len(value) <= 200 or not value.isprintable():
        raise InvalidArgument(f"{name} must be a printable string of 1 to 200 characters")
    return value


STARTING_SECONDS = 30.0
"""How long workers leave a run that `run` just created to its creator, which executes it at
once: without it a worker could claim the run between its creation and its creator's hold."""


class Workflow(AsyncMethods):
    """Steps and loops run in order, with human gates, persisted in a store.

    Args:
        name: identifies the workflow's runs in the store.
        steps: `Step`, `Loop`, `Steps`, `Condition`, `Router` and `Parallel` objects (or
            plain functions, each a `Step` named after it), run in order. The steps of one
            container (and of the workflow) have names of their own.
        store: where runs live (default: a new in-memory `MemoryStore`).
        clock: a zero-argument callable returning a timezone-aware `datetime` (default: the
            store's clock, `store.now`: this host's UTC clock, or the Redis server's). It
            stamps deadlines and decisions.
        session_id: the session this workflow object's runs belong to, as in the peer
            framework (default: a new one, so a session is this object's own runs);
            `get_session` lists a session's runs. Give the same id to find a session again
            from another process.
        user_id: who the runs are for, kept with each run.
        authorize: ``authorize(actor, requirement) -> bool``, asked before a decision made
            through this workflow (its requirements, the inbox with ``--app``) is recorded;
            False refuses it with `ActorRefused` and nothing is written. The request's own
            `assignees`, `candidate_groups` and `forbid_self_approval` are checked by every
            store, with or without the workflow.
        on_pause: hooks told of every pause (a `PauseNotice`): callables, coroutine functions
            or `Webhook`s, each named (its ``name``, else its function name), and limited to
            some steps by a ``steps`` attribute. Recorded with the pause, delivered after it
            is stored, retried after a failure; see `statemachine.runtime.hooks`.

    Raises:
        DefinitionError (a ValueError): a bad name, duplicate step names, or a bad step.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Node | Callable[..., Any]],
        store: Store | None = None,
        clock: Clock | None = None,
        description: str | None = None,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        authorize: Callable[[str | None, StepRequirement], bool] | None = None,
        on_pause: Iterable[Callable[[PauseNotice], Any]] = (),
    ) -> None:
        self.name = check_name("Workflow", name)
        if authorize is not None and not callable(authorize):
            raise DefinitionError(f"Workflow {name!r}: authorize must be callable")
        self.authorize = authorize
        self.hooks = registry(on_pause)
        """The `on_pause` hooks, by name."""
        self.steps: tuple[Node, ...] = as_nodes(steps)
        self.store = store if store is not None else MemoryStore()
        if not isinstance(self.store, Store):
            raise DefinitionError(f"Workflow {name!r}: store must be a Store, not {store!r}")
        if clock is not None and not callable(clock):
            raise DefinitionError(f"Workflow {name!r}: clock must be callable, not {clock!r}")
        self._clock = clock
        self.description = description
        self._session_id = check_id("session_id", session_id)
        self.user_id = check_id("user_id", user_id)
        if not self.steps:
            raise DefinitionError(f"Workflow {name!r} needs at least one step")
        self.definition = Definition.build(self.name, self.steps)
        self.gated = [key for key in self.definition.nodes if self.definition.gated(key)]
        """The keys of the steps a human can pause, or that keep a gate record."""
        self._hook_plan = plan(self.hooks)  # what the driver needs of them, made once
        self.notifies = bool(self.hooks) or any(
            policy is not None and policy.escalate_after is not None
            for policy in self.definition.policies.values()
        )
        """Whether its runs owe notices or escalations: a worker's sweep looks for them."""

    def __repr__(self) -> str:
        names = [step.name for step in self.steps]
        return f"Workflow(name={self.name!r}, steps={names}, store={self.store!r})"

    @property
    def session_id(self) -> str:
        """The session this object's runs belong to (made on first use if none was given)."""
        if self._session_id is None:
            self._session_id = new_id()
        return self._session_id

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

    def bind(self, store: Store, *, clock: Clock | None = None) -> Workflow:
        """This workflow (the same steps, name and session) on another store, with `clock`
        if given (else the same clock choice)."""
        if clock is not None and not callable(clock):
            raise InvalidArgument(f"clock must be callable, not {clock!r}")
        bound = copy.copy(self)
        bound.store = store
        if clock is not None:
            bound._clock = clock
        return bound

    # Starting runs

    def _new_run(
        self, input: JSON, run_id: str | None, session_id: str | None, user_id: str | None,
        now: datetime, *, starting: bool = False,
    ) -> RunRecord:  # fmt: skip
        """A new run; `starting`: its creator executes it at once (`run`), so workers leave it
        alone for `STARTING_SECONDS` (taken over after that if the creator died first)."""
        if problem := json_problem(input, "the workflow input"):
            raise InvalidArgument(problem)
        return RunRecord(
            retry_at=now + timedelta(seconds=STARTING_SECONDS) if starting else None,
            run_id=check_run_id(run_id if run_id is not None else new_id()),
            workflow=self.name,
            fingerprint=self.fingerprint,
            session_id=check_id("session_id", session_id) or self.session_id,
            user_id=check_id("user_id", user_id) or self.user_id,
            status=RunStatus.pending,
            input=json_copy(input),  # the caller keeps no handle on what is stored
            cursor=self.steps[0].name,
            outline=self.definition.outline(),
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
            session_id: the run's session (default: the workflow's).
            user_id: who the run is for (default: the workflow's).

        A step's exception does not raise: the run comes back `failed`.

        Raises:
            RunExists: a run with this id exists.
            InvalidRunId: the run id is not acceptable.
            InvalidArgument: the input is not a JSON value.
        """
        from statemachine.runtime.shells import finish  # the executing half: see _plan

        record = self._new_run(input, run_id, session_id, user_id, self.now(), starting=True)
        self.store.create(record)
        events = self._execute(record.run_id, None, stream_events)
        return events if stream else RunOutput(finish(events), self)

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
        from statemachine.runtime.shells import finish

        run_id, seen = target(run)
        events = self._execute(run_id, seen, stream_events)
        return events if stream else RunOutput(finish(events), self)

    def run_unit(
        self,
        lease: Lease,
        retry: RetryPolicy | None = None,
        *,
        give_back: bool = False,
        run: RunRecord | None = None,
    ) -> RunRecord:
        """Execute one unit of the leased run's work (a plain step, or one loop iteration),
        commit it fenced by the lease, and return the run as committed. What a worker does.

        The run is left `pending` if more work follows, so that any worker can take the next
        unit. A failing unit is retried after `retry`'s backoff, or dead-lettered once its
        attempts are used up (without `retry`: left for a person to retry). With `give_back`,
        the lease may go back with the unit's commit (a worker's, which releases it next
        anyway: then at no cost). `run`: the run as read just now under the lease (a
        worker's), executed without reading it again; the commit's compare-and-set still
        refuses it if it changed meanwhile (`ConflictError`).

        Raises:
            LeaseLost: the lease ran out before the commit; nothing was written.
            ConflictError: the run changed meanwhile (a decision or a cancellation came first).
            DefinitionChanged: the run's current step no longer fits this workflow.
            InvalidArgument: the run belongs to another workflow.
        """
        from statemachine.runtime.shells import execute, finish

        plan = self._plan(lease.run_id, run, False, 1, retry, fresh=run is not None)
        return finish(execute(self, plan, lease, give_back=give_back))

    # Reading and cancelling runs

    def get_run(self, run_id: str) -> RunOutput:
        """The run as stored, with an overdue timeout applied first. Raises `RunNotFound`."""
        return RunOutput(self.store.get(run_id, now=self.own_time()), self)

    def get_session(self, session_id: str | None = None) -> Session:
        """The runs of a session (default: this workflow's), in the order they were created,
        each with an overdue timeout applied first.

        Raises:
            StoreNotFound: the store does not exist (a file store's directory is missing).
        """
        wanted = check_id("session_id", session_id) or self.session_id
        listed = self.store.list_runs(self.name)
        mine = [run for run in listed if run.session_id == wanted]
        now = self.now() if any(run.pending_gate for run in mine) else None
        # A read never shows a pause past its deadline: an overdue one is read again, which
        # applies (and stores) its timeout.
        runs = [
            self.store.get(run.run_id, now=self.own_time())
            if now is not None and expire(run, now) is not None
            else run
            for run in mine
        ]
        return Session(self.name, [RunOutput(run, self) for run in runs], listed.unreadable, wanted)

    def cancel_run(self, run_id: str) -> RunOutput:
        """Cancel the run; a process executing it stops at its next commit."""
        return RunOutput(self.store.cancel(run_id, now=self.own_time()), self)

    # Execution

    def _plan(
        self, run_id: str, seen: RunRecord | None, events: bool, units: int | None,
        retry: RetryPolicy | None, fresh: bool = False,
    ) -> Plan:  # fmt: skip
        # The executing half (driver, shells, events) loads on first use: a process that only
        # reads runs or records decisions never needs it.
        from statemachine.runtime.driver import drive

        return drive(
            self.definition, run_id, seen, events=events, units=units, retry=retry,
            hooks=self._hook_plan, fresh=fresh,
        )  # fmt: skip

    def _execute(
        self, run_id: str, seen: RunRecord | None, stream_events: bool
    ) -> Generator[WorkflowEvent, None, RunRecord]:
        from statemachine.runtime.shells import Take, execute

        plan = self._plan(run_id, seen, stream_events, None, None)
        executed = execute(self, plan, Take(run_id))
        return delivering(self, executed) if self.hooks else executed


def _overdue(run: RunRecord) -> bool:
    gate = run.pending_gate
    return gate is not None and gate.deadline is not None and not run.status.is_finished
