"""The library's error tree.

Every error a public call raises on purpose derives from `StateMachineError` and carries the
fields a caller needs to react (state, event, versions, paths), not only a message. Foreign
exceptions (cattrs, json, drivers) are re-raised as one of these with ``from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

__all__ = [
    "CodecError",
    "ConflictError",
    "CorruptRun",
    "DefinitionChanged",
    "DefinitionError",
    "ExplorationFailed",
    "HistoryInvalid",
    "InvalidArgument",
    "InvalidRunId",
    "LeaseLost",
    "MalformedRecord",
    "PathDiverged",
    "ReplicationUncertain",
    "RunBusy",
    "RunExists",
    "RunNotFound",
    "RunTooLarge",
    "SchemaVersionError",
    "StateMachineError",
    "StoreError",
    "StoreNotFound",
    "StoreReset",
    "StoreUnavailable",
    "UnsafeStoreConfiguration",
    "VersionConflict",
    "shorten",
]


def shorten(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to about `limit` characters: errors name what they refuse without
    echoing a megabyte of it back, nor failing on a value too deeply nested to show."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<a {type(value).__name__} nested too deeply to show>"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...({len(text)} characters)"


class StateMachineError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidArgument(StateMachineError, ValueError):
    """A value given to a public call is not acceptable (a naive datetime, a wrong type)."""


class DefinitionError(InvalidArgument):
    """A policy, step or loop is defined in a way the library does not support."""


class ExplorationFailed(StateMachineError, AssertionError):
    """A definition violates a property every gate (or workflow) must have: found by the
    explorer, with every problem listed (an AssertionError too, so that tests fail plainly).

    Attributes:
        problems: each problem found, in words.
        exploration: what the explorer found.
    """

    def __init__(self, exploration: object, problems: Sequence[str]) -> None:
        self.exploration = exploration
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class PathDiverged(StateMachineError, AssertionError):
    """A run played along an explored path did not go where the exploration said: the runtime
    and the explorer's model disagree (a bug in one of them, or user code that does not do
    what the path scripts).

    Attributes:
        step: the index of the path's move after which they differ.
        move: that move, in words.
        expected: where the exploration said the run stands, in words.
        actual: where it stands, in words.
    """

    def __init__(self, step: int, move: str, expected: str, actual: str) -> None:
        self.step, self.move, self.expected, self.actual = step, move, expected, actual
        super().__init__(
            f"after move {step} ({move}): expected {expected}, but the run is {actual}"
        )


class HistoryInvalid(StateMachineError, AssertionError):
    """A stored run's history holds an entry the machine could not have produced (a changed
    definition, a bug, a record edited by hand): the first such entry, and why.

    Attributes:
        run_id: the run.
        version: the entry's version.
        reason: what is wrong with it, in words.
    """

    def __init__(self, run_id: str, version: int, reason: str) -> None:
        self.run_id, self.version, self.reason = run_id, version, reason
        super().__init__(f"run {shorten(run_id)}: history entry {version}: {reason}")


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


class RunTooLarge(CodecError):
    """A run's encoded snapshot is over the store's size limit; nothing was written.

    Attributes:
        run_id: the run.
        size: its encoded size in bytes.
        limit: the store's `max_run_bytes`.
    """

    def __init__(self, run_id: str, size: int, limit: int) -> None:
        self.run_id = run_id
        self.size = size
        self.limit = limit
        super().__init__(
            f"run {shorten(run_id)} would take {size:,} bytes, over this store's limit of "
            f"{limit:,} (max_run_bytes)"
        )


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
        super().__init__(f"no run {shorten(run_id)} in this store")


class RunExists(StoreError):
    """A run with this id is already stored."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {shorten(run_id)} already exists")


class ConflictError(StoreError):
    """Another writer or executor got to the run first: nothing was written and, from the
    runtime, no user code ran for this attempt.

    Attributes:
        run_id: the run.
    """

    def __init__(self, run_id: str, reason: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(reason or f"run {shorten(run_id)} changed meanwhile")


class VersionConflict(ConflictError):
    """The run moved on since it was read: compare-and-set refused the write.

    Attributes:
        expected_version: the version the writer read.
        actual_version: the version stored now.
    """

    def __init__(self, run_id: str, expected_version: int, actual_version: int) -> None:
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            run_id,
            f"run {shorten(run_id)} is at version {actual_version}, not {expected_version}: "
            "another process changed it first",
        )


class RunBusy(ConflictError):
    """Another process (or thread) is executing the run right now."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, f"run {shorten(run_id)} is being executed by another process")


class LeaseLost(ConflictError):
    """The execution lease ran out (the holder was too slow, or paused) and the run may now be
    someone else's: this commit is refused, so that a stale holder cannot overwrite a new one."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            run_id,
            f"the lease on run {shorten(run_id)} was lost: another holder may be executing it",
        )


class StoreUnavailable(StoreError):
    """The store could not be reached, even after retrying where retrying is safe."""


class ReplicationUncertain(StoreUnavailable):
    """A change was made, but fewer replicas than asked for acknowledged it in time (a Redis
    store opened with ``wait_replicas``): if the server fails over now, the change may be lost.
    It is not undone; reading the run again tells whether it stands, and retrying the same
    call is safe (a write already applied is refused, or answered as a duplicate).

    Attributes:
        run_id: the run changed.
        wanted: the replicas asked for.
        acknowledged: the replicas that acknowledged it in time.
    """

    def __init__(self, run_id: str, wanted: int, acknowledged: int, timeout_ms: int) -> None:
        self.run_id = run_id
        self.wanted = wanted
        self.acknowledged = acknowledged
        super().__init__(
            f"the change to run {shorten(run_id)} may not be replicated: {acknowledged} of "
            f"{wanted} replicas acknowledged it within {timeout_ms} ms, so a failover now could "
            "lose it"
        )


class StoreNotFound(StoreError):
    """The store does not exist (a file store's directory is missing): reading it would
    silently show an empty store, so it is refused. Create it explicitly, or let the first
    run written create it."""

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"no store at {where}")


class StoreReset(StoreError):
    """The store lost its data under a live store object: a Redis server restarted empty, or
    its keys were flushed. Nothing is written into the emptied store by this object; open the
    store again to start afresh, knowing the runs before are gone.

    Attributes:
        where: the store.
        expected: the epoch this object opened.
        found: the epoch found now, or None when it is gone.
    """

    def __init__(self, where: str, expected: str, found: str | None) -> None:
        self.where = where
        self.expected = expected
        self.found = found
        now = "is gone" if found is None else f"is now {found}"
        super().__init__(
            f"the store at {where} was reset: its epoch was {expected} and {now} "
            "(the server restarted empty, or was flushed); runs stored before are lost"
        )


class UnsafeStoreConfiguration(StoreError):
    """The store's server is configured so that it could lose runs silently (a Redis server
    whose `maxmemory-policy` evicts keys). Refused unless explicitly allowed."""


class CorruptRun(StoreError):
    """A stored run cannot be read: truncated, corrupt, or not a run of this library.

    Attributes:
        where: the file or key.
        reason: what is wrong with it.
        run_id: the run it should hold, when known.
    """

    def __init__(self, where: str, reason: str, run_id: str | None = None) -> None:
        self.where = where
        self.reason = reason
        self.run_id = run_id
        super().__init__(f"cannot read the run stored at {where}: {reason}")
