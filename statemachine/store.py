"""The store protocol every persistence adapter implements, and the in-memory reference store.

A store keeps one `RunRecord` per run id and offers four primitives: `create`, `load`,
`commit` (compare-and-set on the version) and `hold` (the exclusive right to execute a run).
Everything else (reads that apply overdue timeouts, decisions, sweeps, cancellation) is built
on those primitives here, once, so every store behaves the same; a store may override a
method to do it faster as long as it keeps the semantics.

The contract, which the shared store test suite checks for every store:

- `create` stores a new run; an existing id raises `RunExists`.
- `load` returns the run as stored, or raises `RunNotFound`; unreadable data raises a
  `StoreError` (`CorruptRun`) naming where it is, never a foreign exception.
- `commit(run, expected_version)` replaces the stored run only if its version is still
  `expected_version`, and `run.version` must be greater; otherwise it raises `ConflictError`
  and nothing is written. A failed write raises; it never half-writes.
- `hold(run_id)` is a context manager giving one caller at a time the right to execute the
  run; a second caller gets `RunBusy` at once. It is released on exit, and when its process
  dies (or, for stores whose holds are leases, when the lease runs out). It yields a `Lease`
  when the hold can be lost while held; commits made with it are fenced: once the lease is
  lost they raise `LeaseLost` instead of writing.
- `now()` is the store's clock. Workflows use it unless given a clock of their own, so that
  every process sharing a store agrees on deadlines (a Redis store answers with the
  server's time).
- Run ids are checked by `check_run_id` before they reach storage.
"""

from __future__ import annotations

import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import attrs

from .errors import (
    ConflictError,
    CorruptRun,
    InvalidArgument,
    InvalidRunId,
    RunBusy,
    RunExists,
    RunNotFound,
)
from .record import RunRecord, RunStatus
from .runs import DecisionResult, Verdict, cancel_run, decide, expire, requeue

__all__ = [
    "STATES",
    "Lease",
    "MemoryStore",
    "RetryPolicy",
    "Store",
    "check_commit",
    "check_page",
    "check_run_id",
    "run_state",
    "runnable_at",
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


def run_state(run: RunRecord) -> str:
    """The run's entry of `STATES`."""
    if run.status is RunStatus.paused:
        gate = run.pending_gate
        if gate is not None:
            return gate.state.value
    return run.status.value


def runnable_at(run: RunRecord) -> datetime | None:
    """When a worker may execute the run, or None if it waits for something else.

    Pending and running runs are runnable (a running run is being executed only while its
    lease is held); a failed run is, from its `retry_at`.
    """
    if run.status is RunStatus.pending or run.status is RunStatus.running:
        return run.retry_at or run.updated_at
    if run.status is RunStatus.failed:
        return run.retry_at
    return None


@attrs.frozen
class RetryPolicy:
    """How often a failing unit of work is tried, and how long to wait between tries.

    Attributes:
        max_attempts: tries before the run is dead-lettered (failed, with no retry).
        base_seconds, cap_seconds: the wait after the n-th failure is
            ``min(cap_seconds, base_seconds * 2 ** (n - 1))``.
    """

    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failures, or None once they are used up."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
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


def new_id() -> str:
    """A random 128-bit id, as 32 hex digits (what uuid4().hex gives, without uuid's imports)."""
    return os.urandom(16).hex()


_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMMIT_ATTEMPTS = 100


def check_run_id(run_id: object) -> str:
    """Return `run_id` if it is safe as a file name and a key part, else raise `InvalidRunId`.

    Allowed: 1 to 128 characters from letters, digits, ``_``, ``-`` and ``.``, not starting
    with ``.`` or ``-`` and without ``..``: nothing that could climb out of a directory, change
    a Redis Cluster slot (``{`` ``}``), or hide control characters.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InvalidRunId(
            f"invalid run id {run_id!r}: use 1-128 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-' and without '..'"
        )
    return run_id


def check_commit(run: RunRecord, expected_version: int) -> None:
    """Refuse a commit that does not move the version forward: it would defeat compare-and-set."""
    if type(expected_version) is not int or run.version <= expected_version:
        raise InvalidArgument(
            f"commit of run {run.run_id!r} at version {run.version} over {expected_version!r}: "
            "every write must raise the version"
        )


def _aware(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidArgument(f"now must be a timezone-aware datetime, not {now!r}")
    return now


class Store(ABC):
    """Where runs live. Subclasses implement the four primitives; see the module docstring."""

    @abstractmethod
    def create(self, run: RunRecord) -> None:
        """Store a new run. Raises `RunExists` if the id is taken."""

    @abstractmethod
    def load(self, run_id: str) -> RunRecord:
        """The run as stored, with no timeout applied. Raises `RunNotFound`."""

    @abstractmethod
    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        """Replace the stored run if it is still at `expected_version`. Raises `ConflictError`.

        With a `lease` (from `hold`), also refuse with `LeaseLost` if the lease was lost.
        """

    @abstractmethod
    def acquire(self, run_id: str) -> Lease:
        """Take the exclusive right to execute the run. Raises `RunBusy` if someone holds it.

        Pair it with `release`, or use `hold` / `working`, which release for you.
        """

    @abstractmethod
    def release(self, lease: Lease) -> None:
        """Give the run back. Releasing a lease that was lost or released already is a no-op."""

    @abstractmethod
    def run_ids(self) -> list[str]:
        """The ids of every stored run, in no particular order."""

    def version(self, run_id: str) -> int:
        """The stored run's version (a store may read it without decoding the whole run)."""
        return self.load(run_id).version

    @contextmanager
    def working(self, lease: Lease) -> Iterator[Lease]:
        """Keep `lease` while the body runs (a store with expiring leases renews it), then
        release it."""
        try:
            yield lease
        finally:
            self.release(lease)

    @contextmanager
    def hold(self, run_id: str) -> Iterator[Lease]:
        """Hold the exclusive right to execute `run_id` for the body. Raises `RunBusy`."""
        with self.working(self.acquire(check_run_id(run_id))) as lease:
            yield lease

    def close(self) -> None:  # noqa: B027 (optional: most stores hold nothing open)
        """Release what the store holds open. The default has nothing to release."""

    def now(self) -> datetime:
        """The store's clock: timezone-aware, UTC. The default is this host's clock."""
        return datetime.now(UTC)

    def _at(self, now: datetime | None) -> datetime:
        return self.now() if now is None else _aware(now)

    # Work for workers: claiming, reaping, retrying.

    def claim(self, now: datetime | None = None) -> Lease | None:
        """Take the lease of one run that is runnable now (the longest waiting first), or None.

        This default reads every run; stores with a ready index answer from it.
        """
        at = self._at(now)
        waiting = []
        for run_id in self.run_ids():
            try:
                due = runnable_at(self.load(run_id))
            except (CorruptRun, RunNotFound):
                continue
            if due is not None and due <= at:
                waiting.append((due, run_id))
        for _, run_id in sorted(waiting):
            try:
                return self.acquire(run_id)
            except RunBusy:
                continue
        return None

    def reap(self, policy: RetryPolicy, now: datetime | None = None) -> list[str]:
        """Count an attempt for every run whose executor lost its lease, and make it runnable
        again (or dead-letter it). Returns the runs reaped.

        Stores whose holds end with their process (memory, file) have nothing to reap: a run
        whose worker died there is simply runnable again.
        """
        return []

    def requeue(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """Make a failed (or dead-lettered) run runnable again, its attempts forgotten."""
        at = self._at(now)
        return self.update(check_run_id(run_id), lambda run: requeue(run, at))

    def dead(self, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Failed runs that no worker will retry, most recently changed first."""
        return [run for run in self.page("failed", limit=1000) if run.retry_at is None][
            offset : offset + limit
        ]

    # What follows is built on the primitives, the same for every store.

    def update(
        self,
        run_id: str,
        change: Callable[[RunRecord], RunRecord | None],
        *,
        seen: RunRecord | None = None,
    ) -> RunRecord:
        """Apply `change` to the latest run and commit it, retrying when another writer won.

        `change` gets the stored run and returns the new one, or None to leave it alone; it
        must be pure, since it may run several times.

        Args:
            seen: the run as the caller last read it. The first attempt starts from it
                without reading the store; compare-and-set catches it if it is stale.

        Returns:
            The run as it now stands.
        """
        for attempt in range(_COMMIT_ATTEMPTS):
            trusting = attempt == 0 and seen is not None
            run = seen if trusting and seen is not None else self.load(run_id)
            new = change(run)
            if new is None or new is run:
                if trusting:
                    continue  # nothing to write: answer from the stored run, not the caller's
                return run
            try:
                self.commit(new, run.version)
            except ConflictError:
                continue
            return new
        raise ConflictError(run_id, None, None)

    def get(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """The run, with its overdue timeout applied (and stored) before it is returned."""
        at = self._at(now)
        return self.update(check_run_id(run_id), lambda run: expire(run, at))

    def page(
        self, state: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[RunRecord]:
        """Runs, most recently changed first, optionally only those in `state` (see `STATES`).

        This default reads every run; stores with indexes answer in time proportional to the
        page. Overdue timeouts are not applied: this is a listing, not a read of one run.
        """
        check_page(state, limit, offset)
        runs = [self.load(run_id) for run_id in self.run_ids()]
        if state is not None:
            runs = [run for run in runs if run_state(run) == state]
        runs.sort(key=lambda run: (run.updated_at, run.run_id), reverse=True)
        return runs[offset : offset + limit]

    def list_runs(
        self, workflow: str | None = None, *, now: datetime | None = None
    ) -> list[RunRecord]:
        """Every run (of `workflow`, if given), oldest first, overdue timeouts applied."""
        at = self._at(now)
        runs = []
        for run_id in self.run_ids():
            run = self.load(run_id)
            if workflow is None or run.workflow == workflow:
                if expire(run, at) is not None:  # only an overdue pause costs a write
                    run = self.update(run_id, lambda stored: expire(stored, at))
                runs.append(run)
        return sorted(runs, key=lambda run: (run.created_at, run.run_id))

    def decide(
        self,
        run_id: str,
        request_id: str,
        decision: Verdict | str,
        feedback: str | None = None,
        *,
        decision_id: str | None = None,
        decided_at: datetime | None = None,
        now: datetime | None = None,
        seen: RunRecord | None = None,
    ) -> DecisionResult:
        """Record a human decision on the pending request `request_id`, from any process.

        Args:
            decision: ``"confirm"`` or ``"reject"`` (or a `Verdict`).
            feedback: for a rejection, passed to the next iteration.
            decision_id: makes the call idempotent: a decision id already recorded answers
                `duplicate` and changes nothing. A fresh one is made when omitted.
            decided_at: when the human decided (default: `now`); a decision after the
                deadline is not applied, and the timeout action is, instead.
            now: the current time (default: the store's clock).
            seen: the run as the caller last read it, to save a read while it is current.

        Returns:
            `applied`, `duplicate` or `stale`, with the run as it now stands. A replayed or
            late decision never raises.

        Raises:
            RunNotFound: no such run. InvalidArgument: a bad decision, id or time.
        """
        at = self._at(now)
        when = at if decided_at is None else _aware(decided_at)
        try:
            verdict = Verdict(decision)
        except ValueError:
            raise InvalidArgument(
                f"decision must be 'confirm' or 'reject', not {decision!r}"
            ) from None
        if feedback is not None and not isinstance(feedback, str):
            raise InvalidArgument(f"feedback must be a string or None, not {feedback!r}")
        decision_id = decision_id or new_id()
        result: DecisionResult | None = None

        def change(run: RunRecord) -> RunRecord | None:
            nonlocal result
            result = decide(
                run, request_id, verdict, feedback=feedback, decision_id=decision_id,
                decided_at=when, now=at,
            )  # fmt: skip
            return result.run

        self.update(check_run_id(run_id), change, seen=seen)
        assert result is not None
        return result

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Apply every timeout that is due, with nobody calling `continue_run`.

        Returns:
            The ids of the runs whose timeout this call applied.
        """
        at = self._at(now)
        return [run_id for run_id in self.run_ids() if self._expire_one(run_id, at)]

    def _expire_one(self, run_id: str, at: datetime) -> bool:
        """Apply the run's timeout if it is due at `at`; whether this call applied it.

        A run that cannot be read is logged and skipped: one bad run must not stop the sweep
        from ending every other pause on time.
        """
        fired = False

        def change(run: RunRecord) -> RunRecord | None:
            nonlocal fired
            new = expire(run, at)
            fired = new is not None
            return new

        try:
            self.update(run_id, change)
        except (CorruptRun, RunNotFound) as exc:
            import logging  # only this rare path logs: keep it off import time

            logging.getLogger("statemachine.store").warning("sweep skipped run %r: %s", run_id, exc)
            return False
        return fired

    def cancel(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """Cancel the run from any process; a run being executed stops at its next commit."""
        at = self._at(now)
        return self.update(check_run_id(run_id), lambda run: cancel_run(run, at))


def check_page(state: str | None, limit: int, offset: int) -> None:
    if state is not None and state not in STATES:
        raise InvalidArgument(f"unknown state {state!r}; one of: {', '.join(STATES)}")
    if type(limit) is not int or type(offset) is not int or not 0 < limit <= 1000 or offset < 0:
        raise InvalidArgument("limit must be 1..1000 and offset at least 0")


class MemoryStore(Store):
    """The reference store: runs in a dict, in this process only. Also the test oracle."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._runs)} runs)"

    def create(self, run: RunRecord) -> None:
        check_run_id(run.run_id)
        with self._lock:
            if run.run_id in self._runs:
                raise RunExists(run.run_id)
            self._runs[run.run_id] = run

    def load(self, run_id: str) -> RunRecord:
        try:
            return self._runs[check_run_id(run_id)]
        except KeyError:
            raise RunNotFound(run_id) from None

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        with self._lock:
            stored = self._runs.get(run.run_id)
            if stored is None:
                raise RunNotFound(run.run_id)
            check_commit(run, expected_version)
            if stored.version != expected_version:
                raise ConflictError(run.run_id, expected_version, stored.version)
            self._runs[run.run_id] = run

    def acquire(self, run_id: str) -> Lease:
        # Held for as long as this process lives: no lease to lose, so no fence needed.
        check_run_id(run_id)
        with self._lock:
            if run_id not in self._runs:
                raise RunNotFound(run_id)
            if run_id in self._held:
                raise RunBusy(run_id)
            lease = Lease(run_id, new_id(), 0)
            self._held[run_id] = lease.token
        return lease

    def release(self, lease: Lease) -> None:
        with self._lock:
            if self._held.get(lease.run_id) == lease.token:
                del self._held[lease.run_id]

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)
