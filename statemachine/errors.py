"""The library's error tree.

Every error a public call raises on purpose derives from `StateMachineError` and carries the
fields a caller needs to react (state, event, versions, paths), not only a message. Foreign
exceptions (cattrs, json, drivers) are re-raised as one of these with ``from exc``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import Event
    from .states import State

__all__ = [
    "CodecError",
    "ConflictError",
    "CorruptRun",
    "DeadlinePassed",
    "DecisionRefused",
    "DefinitionChanged",
    "DefinitionError",
    "InvalidArgument",
    "InvalidRunId",
    "LeaseLost",
    "MalformedRecord",
    "RunBusy",
    "RunExists",
    "RunNotFound",
    "SchemaVersionError",
    "StaleRequest",
    "StateMachineError",
    "StoreError",
    "StoreUnavailable",
    "TimeoutNotDue",
    "TransitionRefused",
]


class StateMachineError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidArgument(StateMachineError, ValueError):
    """A value given to a public call is not acceptable (a naive datetime, a wrong type)."""


class DefinitionError(InvalidArgument):
    """A policy, step or loop is defined in a way the library does not support."""


class TransitionRefused(StateMachineError):
    """The transition table has no transition for this event in this state.

    The gate record is unchanged: `step` is pure and builds nothing before it raises.
    """

    def __init__(self, state: State, event: Event, gate: str | None = None) -> None:
        self.state = state
        self.event = event
        self.gate = gate
        where = f"gate {gate!r}" if gate is not None else "a gate"
        super().__init__(f"{where} in state {state.value!r} refuses {event!r}")


class TimeoutNotDue(TransitionRefused):
    """A `Timeout` arrived for a pause that has no deadline, or before its deadline."""

    def __init__(
        self,
        state: State,
        event: Event,
        deadline: datetime | None,
        now: datetime,
        gate: str | None = None,
    ) -> None:
        super().__init__(state, event, gate)
        self.deadline = deadline
        self.now = now
        when = "has no deadline" if deadline is None else f"is due after {deadline.isoformat()}"
        self.args = (f"{self.args[0]}: the pause {when}, now is {now.isoformat()}",)


class DecisionRefused(StateMachineError):
    """A human decision cannot be applied to the pause it names."""


class DeadlinePassed(DecisionRefused):
    """The decision was made after the pause's deadline: the timeout action applies instead."""

    def __init__(self, request_id: str, deadline: datetime, decided_at: datetime) -> None:
        self.request_id = request_id
        self.deadline = deadline
        self.decided_at = decided_at
        super().__init__(
            f"decision on request {request_id!r} made at {decided_at.isoformat()}, "
            f"after its deadline {deadline.isoformat()}"
        )


class StaleRequest(DecisionRefused):
    """The decision names a request that is no longer the pending one."""

    def __init__(self, request_id: str, pending_request_id: str | None) -> None:
        self.request_id = request_id
        self.pending_request_id = pending_request_id
        super().__init__(
            f"decision on request {request_id!r}, but the pending request is {pending_request_id!r}"
        )


class CodecError(StateMachineError):
    """A record cannot be encoded to, or decoded from, the wire format."""


class SchemaVersionError(CodecError):
    """The data was written with a schema version this library does not read."""

    def __init__(self, found: object, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"schema_version {found!r} is not supported (this library reads {supported})"
        )


class MalformedRecord(CodecError):
    """The data is not a well-formed record: bad JSON, missing or extra fields, wrong types."""


class InvalidRunId(InvalidArgument):
    """A run id that could escape a directory or key namespace, or is empty or too long."""


class DefinitionChanged(StateMachineError):
    """The run was started by a different definition and its current step no longer fits."""

    def __init__(self, run_id: str, step: str | None, reason: str) -> None:
        self.run_id = run_id
        self.step = step
        super().__init__(f"run {run_id!r} cannot resume at step {step!r}: {reason}")


class StoreError(StateMachineError):
    """Persistence failed or refused; what was stored before the call is intact."""


class RunNotFound(StoreError):
    """No run with this id is stored."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {run_id!r} in this store")


class RunExists(StoreError):
    """A run with this id is already stored."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} already exists")


class ConflictError(StoreError):
    """The run moved on since it was read: another process changed it first.

    Nothing was written and, from the workflow runtime, no user code ran for this attempt.
    """

    def __init__(
        self, run_id: str, expected_version: int | None, actual_version: int | None
    ) -> None:
        self.run_id = run_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"run {run_id!r} is at version {actual_version}, not {expected_version}: "
            "another process changed it first"
        )


class RunBusy(ConflictError):
    """Another process (or thread) is executing the run right now."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, None, None)
        self.args = (f"run {run_id!r} is being executed by another process",)


class LeaseLost(ConflictError):
    """The execution lease ran out (the holder was too slow, or paused) and the run may now be
    someone else's: this commit is refused, so that a stale holder cannot overwrite a new one."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, None, None)
        self.args = (f"the lease on run {run_id!r} was lost: another holder may be executing it",)


class StoreUnavailable(StoreError):
    """The store could not be reached, even after retrying where retrying is safe."""


class CorruptRun(StoreError):
    """A stored run cannot be read: truncated, corrupt, or not a run of this library."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"cannot read the run stored at {where}: {reason}")
