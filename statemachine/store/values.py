"""What stores and their callers share: the states runs are listed by, when a run is
runnable, leases, retry policies, lists of runs, ids, and the checks every store applies."""

from __future__ import annotations

import itertools
import math
import os
import re
import time
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

import attrs

from statemachine.core.errors import CorruptRun, InvalidArgument, InvalidRunId, shorten
from statemachine.core.record import RunRecord, RunStatus

__all__ = [
    "LOG",
    "STATES",
    "Lease",
    "RetryPolicy",
    "RunList",
    "aware",
    "check_commit",
    "check_count",
    "check_flag",
    "check_page",
    "check_run_id",
    "check_seconds",
    "is_run_id",
    "new_id",
    "ready_delay",
    "run_state",
    "served",
]

STATES = (
    "pending",
    "running",
    "awaiting_confirmation",
    "awaiting_review",
    "completed",
    "cancelled",
    "failed",
)
"""What a run is doing, for indexes and listings: its status, with `paused` told apart by the
kind of pause. Every run is in exactly one of these."""

LOG = "statemachine.store"


def run_state(run: RunRecord) -> str:
    """The run's entry of `STATES`."""
    if run.status is RunStatus.paused:
        gate = run.pending_gate
        if gate is not None:
            return gate.state.value
    return run.status.value


def ready_delay(run: RunRecord) -> float | None:
    """Seconds after its write at which a worker may execute the run (0: at once), or None if
    it waits for something else (a human, or nothing: it ended, or was dead-lettered).

    A delay, not a time: `retry_at` and `updated_at` come from the clock of whoever wrote, so
    their difference is exact whatever that clock's error, and each store adds it to its own
    clock's time of the write.
    """
    status = run.status
    if status is RunStatus.pending or status is RunStatus.running:
        if run.retry_at is None:
            return 0.0
    elif status is not RunStatus.failed or run.retry_at is None:
        return None
    assert run.retry_at is not None
    return max(0.0, (run.retry_at - run.updated_at).total_seconds())


def _seconds(name: str, value: object, low: float, high: float, *, zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not (low <= value if zero else low < value)
        or value > high
    ):
        floor = f"at least {low}" if zero else f"over {low}"
        raise InvalidArgument(f"{name} must be a number of seconds {floor} and at most {high:g}")
    return float(value)


def check_count(name: str, value: object, low: int, high: int) -> int:
    """`value` if it is an int in [low, high], else `InvalidArgument` naming it."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidArgument(
            f"{name} must be an integer from {low} to {high}, not {shorten(value)}"
        )
    return value


def check_flag(name: str, value: object) -> bool:
    """`value` if it is True or False, else `InvalidArgument` naming it."""
    if type(value) is not bool:
        raise InvalidArgument(f"{name} must be True or False, not {shorten(value)}")
    return value


def check_seconds(name: str, value: object, low: float, high: float) -> float:
    """`value` if it is a finite number of seconds in (low, high], else `InvalidArgument`."""
    return _seconds(name, value, low, high)


_YEAR = 365 * 24 * 3600.0


@attrs.frozen
class RetryPolicy:
    """How often a failing unit of work is tried, and how long to wait between tries.

    Attributes:
        max_attempts: tries before the run is dead-lettered (failed, with no retry), 1 to 1,000.
        base_seconds, cap_seconds: the wait after the n-th failure is
            ``min(cap_seconds, base_seconds * 2 ** (n - 1))``; at most a year.

    Raises:
        InvalidArgument: a setting of the wrong type or out of range.
    """

    max_attempts: int = attrs.field(default=5)
    base_seconds: float = attrs.field(default=1.0)
    cap_seconds: float = attrs.field(default=300.0)

    def __attrs_post_init__(self) -> None:
        check_count("max_attempts", self.max_attempts, 1, 1000)
        _seconds("base_seconds", self.base_seconds, 0, _YEAR, zero=True)
        _seconds("cap_seconds", self.cap_seconds, 0, _YEAR, zero=True)

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failures, or None once they are used up."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.cap_seconds, self.base_seconds * 2.0 ** min(max(0, attempts - 1), 64))
        return now + timedelta(seconds=delay)


@attrs.frozen
class Lease:
    """The right to execute one run, held until released or lost.

    Attributes:
        run_id: the run held.
        token: who holds it; unique per hold.
        fence: rises with every new hold of the run; a commit with an older fence is refused.
    """

    run_id: str
    token: str
    fence: int


class RunList(list[RunRecord]):
    """Runs, and beside them the runs that could not be read: one corrupt run never hides the
    others from a listing.

    Attributes:
        unreadable: a `CorruptRun` for each run left out because it could not be read.
    """

    def __init__(self, runs: Iterable[RunRecord] = (), unreadable: Iterable[CorruptRun] = ()):
        super().__init__(runs)
        self.unreadable = list(unreadable)


_made = itertools.count()


def new_id() -> str:
    """A new 128-bit id, as 32 hex digits, that sorts in the order ids are made: microseconds
    since the epoch (14 digits), a counter of this process (4) and 56 random bits (14). Runs a
    process makes, even within one microsecond, sort in creation order."""
    micros = time.time_ns() // 1000
    return f"{micros:014x}{next(_made) & 0xFFFF:04x}{os.urandom(7).hex()}"


_VALID: set[str] = set()  # ids that passed, so that the common case is one set lookup
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: object) -> str:
    """Return `run_id` if it is safe as a file name and a key part, else raise `InvalidRunId`.

    Allowed: 1 to 128 characters from letters, digits, ``_``, ``-`` and ``.``, not starting
    with ``.`` or ``-`` and without ``..``: nothing that could climb out of a directory, change
    a Redis Cluster slot (``{`` ``}``), or hide control characters.
    """
    if type(run_id) is str and run_id in _VALID:
        return run_id  # checked before: every call on a run checks its id, often twice
    if type(run_id) is not str or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InvalidRunId(
            f"invalid run id {shorten(run_id)}: use 1-128 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-' and without '..'"
        )
    if len(_VALID) >= 4096:
        _VALID.clear()
    _VALID.add(run_id)
    return run_id


def is_run_id(candidate: str) -> bool:
    """Whether `candidate` is a valid run id (for stores sorting runs from junk)."""
    return _RUN_ID.fullmatch(candidate) is not None and ".." not in candidate


def check_commit(run: RunRecord, expected_version: int) -> None:
    """Refuse a commit that does not move the version forward: it would defeat compare-and-set."""
    if type(expected_version) is not int or run.version <= expected_version:
        raise InvalidArgument(
            f"commit of run {shorten(run.run_id)} at version {run.version} over "
            f"{shorten(expected_version)}: every write must raise the version"
        )


def check_page(state: str | None, limit: int, offset: int) -> None:
    """Refuse an unknown state or a page out of range, with `InvalidArgument`."""
    if state is not None and state not in STATES:
        raise InvalidArgument(f"unknown state {shorten(state)}; one of: {', '.join(STATES)}")
    if type(limit) is not int or type(offset) is not int or not 0 < limit <= 1000 or offset < 0:
        raise InvalidArgument("limit must be 1..1000 and offset at least 0")


def aware(now: object, name: str = "now") -> datetime:
    """`now` if it is a timezone-aware datetime, else `InvalidArgument`: a naive time would be
    written, and never read back."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidArgument(f"{name} must be a timezone-aware datetime, not {shorten(now)}")
    return now


def served(workflows: Collection[str] | None) -> frozenset[str] | None:
    """The workflow names a claim is limited to (None: any), checked."""
    if workflows is None:
        return None
    listed = isinstance(workflows, Iterable) and not isinstance(workflows, str | bytes)
    names = tuple(workflows) if listed else ()
    # A name no workflow can have (not printable: a NUL, a lone surrogate) could not even be
    # encoded for a store's query.
    if not listed or not all(type(name) is str and name.isprintable() for name in names):
        raise InvalidArgument(
            f"workflows must be a collection of workflow names, not {shorten(workflows)}"
        )
    return frozenset(names)
