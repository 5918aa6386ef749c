"""The store protocol every persistence adapter implements, and the logic built on it once.

A store keeps one `RunRecord` per run id and offers a few primitives: `create`, `load`,
`commit` (compare-and-set on the version), `acquire` / `release` (the exclusive right to
execute a run) and `run_ids`. Everything else (reads that apply overdue timeouts, decisions,
sweeps, cancellation, claims, listings) is built on those primitives here, once, so every
store behaves the same; a store may override a method to do it faster as long as it keeps the
semantics.

The contract, which the shared store test suite checks for every store:

- `create` stores a new run; an existing id raises `RunExists`.
- `load` returns the run as stored, or raises `RunNotFound`; unreadable data raises a
  `StoreError` (`CorruptRun`) naming where it is, never a foreign exception.
- `commit(run, expected_version)` replaces the stored run only if its version is still
  `expected_version`, and `run.version` must be greater; otherwise it raises `ConflictError`
  and nothing is written. A failed write raises; it never half-writes. A run whose encoding
  is over `max_run_bytes` raises `RunTooLarge`, before anything is written.
- `acquire(run_id)` gives one caller at a time the right to execute the run; a second caller
  gets `RunBusy` at once. `release` gives it back; so does the death of its process (or, for
  stores whose holds are leases, the end of the lease). A lease that can be lost fences the
  commits made with it: once lost they raise `LeaseLost` instead of writing.
- `run_ids` lists the stored runs' ids: never an entry that is not a valid run id (such junk
  is logged once and skipped).
- `now()` is the store's clock. Workflows use it unless given a clock of their own, so that
  every process sharing a store agrees on deadlines (a Redis store answers with the server's
  time). Whatever the store orders by (when a run becomes runnable, deadlines, leases) is
  anchored on its own clock, never on the clock of the process that wrote.
"""

from __future__ import annotations

import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import attrs

from statemachine.core.codec import MAX_RUN_BYTES
from statemachine.core.errors import (
    ConflictError,
    CorruptRun,
    DeadlinePassed,
    InvalidArgument,
    InvalidRunId,
    LeaseLost,
    RunBusy,
    RunNotFound,
    shorten,
)
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.runs import (
    DecisionResult,
    cancel_run,
    check_decision,
    decide,
    expire,
    fail,
    requeue,
)
from statemachine.store.logs import log_once

__all__ = [
    "STATES",
    "Lease",
    "RetryPolicy",
    "RunList",
    "Store",
    "check_commit",
    "check_page",
    "check_run_id",
    "ready_delay",
    "run_state",
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
    if type(run_id) is not str or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InvalidRunId(
            f"invalid run id {shorten(run_id)}: use 1-128 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-' and without '..'"
        )
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
    if isinstance(workflows, str) or not all(type(name) is str for name in workflows):
        raise InvalidArgument("workflows must be a collection of workflow names")
    return frozenset(workflows)


class Store(ABC):
    """Where runs live. Subclasses implement the primitives; see the module docstring.

    Attributes:
        max_run_bytes: the largest encoded run a commit writes (`RunTooLarge` above it), or
            None for no limit. Stores take it as a keyword argument.
    """

    max_run_bytes: int | None = MAX_RUN_BYTES

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
        return self.now() if now is None else aware(now)

    # Reading many runs, whatever junk lies among them.

    def scan(self) -> Iterator[tuple[RunRecord, datetime]]:
        """Every readable run with the time of its last write by the store's clock; each run
        that cannot be read is logged once and left out (`unreadable` lists them).

        The default takes the run's own `updated_at` as the time of its write: stores that
        know better (a file's modification time) override `written_at`.
        """
        for run_id in self.run_ids():
            run = self._readable(run_id)
            if run is not None:
                yield run, self.written_at(run)

    def written_at(self, run: RunRecord) -> datetime:
        """When the run was last written, by the store's clock."""
        return run.updated_at

    def _readable(
        self, run_id: str, unreadable: list[CorruptRun] | None = None
    ) -> RunRecord | None:
        try:
            return self.load(run_id)
        except RunNotFound:
            self.forget_dangling(run_id)
            return None
        except CorruptRun as exc:
            log_once(LOG, f"{id(self)}:{run_id}", "skipping run %s: %s", run_id, exc)
            if unreadable is not None:
                unreadable.append(exc)
            return None

    # Work for workers: claiming, reaping, retrying, dead letters.

    def claim(
        self, now: datetime | None = None, *, workflows: Collection[str] | None = None
    ) -> Lease | None:
        """Take the lease of one run that is runnable now (the longest waiting first), or None.

        Args:
            now: the time (default: the store's clock). A run made runnable at once (a
                decision, a new run, the next unit) is runnable whatever the time; a failed
                run waits for its backoff, counted from its write by the store's clock.
            workflows: only runs of these workflows (a worker claims what it can execute).

        This default reads every run; stores with a ready index answer from it.
        """
        at = self._at(now)
        names = served(workflows)
        waiting = []
        for run, written in self.scan():
            if names is not None and run.workflow not in names:
                continue
            delay = ready_delay(run)
            if delay is None:
                continue
            due = written + timedelta(seconds=delay)
            if delay == 0 or due <= at:
                waiting.append((due, run.run_id))
        for _, run_id in sorted(waiting):
            try:
                return self.acquire(run_id)
            except (RunBusy, RunNotFound):
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

    def dead(self, *, limit: int = 50, offset: int = 0) -> RunList:
        """Failed runs that no worker will retry, most recently changed first."""
        failed = self.page("failed", limit=1000)
        dead = [run for run in failed if run.retry_at is None][offset : offset + limit]
        return RunList(dead, failed.unreadable)

    def dead_letter(self, lease: Lease, reason: str, *, now: datetime | None = None) -> None:
        """Fail the held run with no retry, for a reason that is not its user code (it cannot
        be executed by this definition, or stored): a worker moves on at once instead of
        claiming it again and again. An unreadable run is set aside by `quarantine`.
        """
        at = self._at(now)
        try:
            self.update(
                lease.run_id, lambda run: fail(run, run.cursor or "", reason, at), lease=lease
            )
        except CorruptRun:
            self.quarantine(lease.run_id, reason)

    def forget_dangling(self, run_id: str) -> None:  # noqa: B027 (optional)
        """A run listed by an index is gone (evicted, deleted by hand): a store with indexes
        removes its entries. The default has no indexes."""

    def quarantine(self, run_id: str, reason: str) -> None:  # noqa: B027 (optional)
        """Set aside a run that cannot be read, so that no claim returns it again. Stores whose
        claims read the runs (and so skip unreadable ones) have nothing to do."""

    # What follows is built on the primitives, the same for every store.

    def update(
        self,
        run_id: str,
        change: Callable[[RunRecord], RunRecord | None],
        *,
        seen: RunRecord | None = None,
        lease: Lease | None = None,
    ) -> RunRecord:
        """Apply `change` to the latest run and commit it, retrying when another writer won.

        `change` gets the stored run and returns the new one, or None to leave it alone; it
        must be pure, since it may run several times.

        Args:
            seen: the run as the caller last read it. The first attempt starts from it
                without reading the store; compare-and-set catches it if it is stale.
            lease: commit fenced by this lease.

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
                self.commit(new, run.version, lease=lease)
            except (LeaseLost, RunBusy):
                raise  # retrying cannot help
            except ConflictError:
                continue
            return new
        raise ConflictError(run_id, None, None)

    def get(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """The run, with its overdue timeout applied (and stored) before it is returned."""
        at = self._at(now)
        return self.update(check_run_id(run_id), lambda run: expire(run, at))

    def page(self, state: str | None = None, *, limit: int = 50, offset: int = 0) -> RunList:
        """Runs, most recently changed first, optionally only those in `state` (see `STATES`).

        This default reads every run; stores with indexes answer in time proportional to the
        page. Overdue timeouts are not applied: this is a listing, not a read of one run.
        Runs that cannot be read are left out, and listed in the answer's `unreadable`.
        """
        check_page(state, limit, offset)
        unreadable: list[CorruptRun] = []
        runs = [
            run
            for run_id in self.run_ids()
            if (run := self._readable(run_id, unreadable)) is not None
            and (state is None or run_state(run) == state)
        ]
        runs.sort(key=lambda run: (run.updated_at, run.run_id), reverse=True)
        return RunList(runs[offset : offset + limit], unreadable)

    def list_runs(self, workflow: str | None = None, *, now: datetime | None = None) -> RunList:
        """Every run (of `workflow`, if given), oldest first, overdue timeouts applied. Runs
        that cannot be read are left out, and listed in the answer's `unreadable`."""
        at = self._at(now)
        unreadable: list[CorruptRun] = []
        runs = []
        for run_id in self.run_ids():
            run = self._readable(run_id, unreadable)
            if run is None or (workflow is not None and run.workflow != workflow):
                continue
            if expire(run, at) is not None:  # only an overdue pause costs a write
                try:
                    run = self.update(run_id, lambda stored: expire(stored, at))
                except (CorruptRun, RunNotFound):
                    continue
            runs.append(run)
        runs.sort(key=lambda run: (run.created_at, run.run_id))
        return RunList(runs, unreadable)

    def decide(
        self,
        run_id: str,
        request_id: str | None,
        decision: object,
        feedback: str | None = None,
        *,
        decision_id: str | None = None,
        decided_at: datetime | None = None,
        now: datetime | None = None,
        seen: RunRecord | None = None,
    ) -> DecisionResult:
        """Record a human decision on the pending request `request_id`, from any process.

        Args:
            request_id: the request decided; None for whichever is pending (a retry with the
                same decision id then still answers `duplicate` after the run moved on).
            decision: ``"confirm"`` or ``"reject"`` (or a `Verdict`).
            feedback: for a rejection, passed to the next iteration.
            decision_id: makes the call idempotent: the same decision sent again with this id
                answers `duplicate` and changes nothing, for the life of the run. A fresh one is
                made when omitted.
            decided_at: when the human decided, for the history (default: when it is
                recorded). It does not decide whether the decision is in time: the store's
                clock when the decision is recorded does.
            now: the time of recording (default: the store's clock, read on each attempt).
            seen: the run as the caller last read it, to save a read while it is current.

        Returns:
            `applied` or `duplicate`, with the run as it now stands.

        Raises:
            DeadlinePassed: recorded after the request's deadline: the timeout's action is
                applied and stored instead.
            StaleRequest: the request is not pending (decided, cancelled, unknown), or nothing is.
            DecisionConflict: the decision id was recorded for another decision.
            RunNotFound: no such run.
            InvalidArgument: an argument of the wrong type or shape; nothing was read or written.
        """
        verdict = check_decision(request_id, decision, feedback, decision_id)
        check_run_id(run_id)
        fixed = None if now is None else aware(now)
        when = None if decided_at is None else aware(decided_at, "decided_at")
        decision_id = decision_id or new_id()
        result: DecisionResult | None = None
        late: DeadlinePassed | None = None

        def change(run: RunRecord) -> RunRecord | None:
            nonlocal result, late
            at = self.now() if fixed is None else fixed  # each attempt records at its own time
            result, late = None, None
            try:
                result = decide(
                    run, request_id, verdict, feedback=feedback, decision_id=decision_id,
                    decided_at=when, now=at,
                )  # fmt: skip
            except DeadlinePassed as exc:
                late = exc
                return expire(run, at)  # None when the timeout was applied already
            return result.run

        self.update(run_id, change, seen=seen)
        if late is not None:
            raise late
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

        A run that cannot be read is logged (once) and skipped: one bad run must not stop the
        sweep from ending every other pause on time.
        """
        fired = False

        def change(run: RunRecord) -> RunRecord | None:
            nonlocal fired
            new = expire(run, at)
            fired = new is not None
            return new

        try:
            self.update(run_id, change)
        except RunNotFound:
            self.forget_dangling(run_id)
            return False
        except (CorruptRun, InvalidRunId) as exc:
            log_once(LOG, f"{id(self)}:{run_id}", "sweep skipped run %s: %s", shorten(run_id), exc)
            return False
        return fired

    def cancel(self, run_id: str, *, now: datetime | None = None) -> RunRecord:
        """Cancel the run from any process; a run being executed stops at its next commit."""
        at = self._at(now)
        return self.update(check_run_id(run_id), lambda run: cancel_run(run, at))
