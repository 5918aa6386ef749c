"""Workers: processes that execute runs from a shared store, one unit of work at a time.

Theory of operation. Each worker thread loops: claim a runnable run (atomically taking its
lease), execute one unit of its work (a plain step, or one loop iteration) with the lease
renewed by a heartbeat, commit fenced by the lease, release. Every worker also sweeps about
once a second, with jitter and no leader: it fires the timeouts that are due and reaps the
leases that ran out (their runs count an attempt and become runnable again). Every step of
this is a compare-and-set, so two workers racing to do the same thing is harmless: one wins,
the other finds nothing to do.

State changes happen exactly once (compare-and-set, fences, operation ids). User code runs
at least once: a worker that dies, stalls past its lease or loses a race may have run a unit
whose result is then thrown away. `StepInput.idempotency_key` is the same for every attempt
at a unit: use it to make side effects idempotent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence

from statemachine.core.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    DefinitionChanged,
    InvalidArgument,
    LeaseLost,
    RunNotFound,
    StoreError,
)
from statemachine.core.record import RunRecord
from statemachine.core.runs import fail
from statemachine.runtime.workflow import Workflow
from statemachine.store import Lease, RetryPolicy, Store, check_count, check_seconds
from statemachine.store.logs import log_once

__all__ = ["Worker"]

log = logging.getLogger("statemachine.runtime.worker")


class Worker:
    """Executes runs of `workflows` from `store`, in `concurrency` threads.

    Args:
        workflows: the workflows whose runs this worker may execute, found by name.
        store: where the runs are (default: the first workflow's store); the workflows are
            bound to it.
        concurrency: threads claiming and executing runs.
        retry: how often a failing unit is retried, and the backoff between tries.
        poll_seconds: how long an idle thread waits before looking for work again.
        sweep_seconds: how often (with +-25% jitter) the worker fires due timeouts and reaps
            expired leases.

    Attributes:
        counts: what the worker did: ``units``, ``failures``, ``fenced`` (commits refused
            because the lease was lost), ``conflicts``, ``timeouts``, ``reaped``,
            ``dead_lettered`` (runs this worker could never execute, failed at once),
            ``errors`` (unexpected errors: a bug).

    Raises:
        InvalidArgument: no workflows, two with one name, or a setting out of range.
    """

    def __init__(
        self,
        workflows: Sequence[Workflow],
        store: Store | None = None,
        *,
        concurrency: int = 1,
        retry: RetryPolicy | None = None,
        poll_seconds: float = 0.05,
        sweep_seconds: float = 1.0,
    ) -> None:
        workflows = list(workflows) if not isinstance(workflows, Workflow) else [workflows]
        if not workflows or not all(isinstance(each, Workflow) for each in workflows):
            raise InvalidArgument("a Worker needs at least one workflow, and only Workflows")
        if len({each.name for each in workflows}) != len(workflows):
            raise InvalidArgument("a Worker's workflows need distinct names")
        self.store = store if store is not None else workflows[0].store
        if not isinstance(self.store, Store):
            raise InvalidArgument(f"store must be a Store, not {type(self.store).__name__}")
        self.workflows = {workflow.name: workflow.bind(self.store) for workflow in workflows}
        self.concurrency = check_count("concurrency", concurrency, 1, 1024)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgument(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self.retry = retry if retry is not None else RetryPolicy()
        self.poll_seconds = check_seconds("poll_seconds", poll_seconds, 0, 3600)
        self.sweep_seconds = check_seconds("sweep_seconds", sweep_seconds, 0, 3600)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; then finish the units under way, release, and return.

        A stopping worker counts no attempt against the runs it was executing.
        """
        threads = [
            threading.Thread(target=self._loop, args=(stop,), name=f"worker-{n}")
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.maybe_sweep()
                if not self.work_once():
                    stop.wait(self.poll_seconds * random.uniform(0.5, 1.5))
            except StoreError as exc:  # the store is unreachable: wait and try again
                log_once(log.name, f"{id(self)}:store:{type(exc).__name__}", "worker: %s", exc)
                stop.wait(min(1.0, self.poll_seconds * 10))
            except Exception:  # a bug must not silently take a worker thread down
                log.exception("worker: unexpected error; going on")
                self._count("errors")
                stop.wait(min(1.0, self.poll_seconds * 10))

    def maybe_sweep(self) -> None:
        """Sweep if this worker's turn has come (about every `sweep_seconds`, jittered)."""
        with self._lock:
            if time.monotonic() < self._next_sweep:
                return
            self._next_sweep = time.monotonic() + self.sweep_seconds * random.uniform(0.75, 1.25)
        self.sweep()

    def sweep(self) -> None:
        """Fire due timeouts and reap expired leases, now."""
        self._count("timeouts", len(self.store.expire_due()))
        self._count("reaped", len(self.store.reap(self.retry)))

    def work_once(self) -> bool:
        """Claim one runnable run of the workflows served and execute one unit of it. Whether
        there was work.

        A run this worker can never execute (its definition changed, its snapshot is corrupt,
        what it would store cannot be stored) is dead-lettered at once, its reason recorded,
        instead of being claimed again and again; a failure of user code is retried with
        backoff (see `RetryPolicy`).
        """
        lease = self.store.claim(workflows=self.workflows)
        if lease is None:
            return False
        with self.store.working(lease):
            self._execute(lease)
        return True

    def _execute(self, lease: Lease) -> None:
        try:
            run = self.store.load(lease.run_id)
        except RunNotFound:
            return
        except CorruptRun as exc:
            self._dead_letter(lease, f"its snapshot cannot be read: {exc}")
            return
        workflow = self.workflows.get(run.workflow)
        if workflow is None:  # the claim filters by workflow: only a store ignoring it gets here
            key = f"{id(self)}:unserved:{run.workflow}"
            log_once(log.name, key, "worker: no workflow %r (run %s)", run.workflow, run.run_id)
            return
        try:
            after = workflow.run_unit(lease, self.retry)
        except LeaseLost:
            self._count("fenced")  # it stalled past its lease: another worker has it
            return
        except ConflictError:
            self._count("conflicts")  # a decision or cancellation came first
            return
        except (DefinitionChanged, CodecError, InvalidArgument, CorruptRun) as exc:
            self._dead_letter(lease, f"{type(exc).__name__}: {exc}")
            return
        except StoreError:
            raise  # the store is away: the loop waits and tries again
        except Exception as exc:  # a bug: count an attempt, so that it backs off and ends
            key = f"{id(self)}:error:{lease.run_id}"
            message = "worker: run %s: unexpected error"
            log_once(log.name, key, message, lease.run_id, traceback=True)
            self._count("errors")
            self._fail(lease, f"unexpected error: {type(exc).__name__}: {exc}")
            return
        self._count("failures" if after.status.value == "failed" else "units")

    def _fail(self, lease: Lease, reason: str) -> None:
        now = self.store.now()
        retry = self.retry

        def change(run: RunRecord) -> RunRecord:
            retry_at = retry.next_attempt(run.attempts + 1, now)
            return fail(run, run.cursor or "", reason[:2000], now, retry_at=retry_at)

        try:
            self.store.update(lease.run_id, change, lease=lease)
        except (ConflictError, RunNotFound, CorruptRun):
            return

    def _dead_letter(self, lease: Lease, reason: str) -> None:
        """Fail the run for good, with `reason`: it is not its code that failed, and no retry
        would go otherwise."""
        log_once(log.name, f"{id(self)}:dead:{lease.run_id}", "worker: run %s dead-lettered: %s",
                 lease.run_id, reason)  # fmt: skip
        try:
            self.store.dead_letter(lease, reason)
        except (ConflictError, RunNotFound):
            return  # it moved on meanwhile (a decision, a cancellation): nothing to set aside
        self._count("dead_lettered")
