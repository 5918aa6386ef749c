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

from .errors import ConflictError, LeaseLost, StateMachineError, StoreError
from .store import RetryPolicy, Store
from .workflow import Workflow

__all__ = ["Worker"]

log = logging.getLogger("statemachine.worker")


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
            because the lease was lost), ``conflicts``, ``timeouts``, ``reaped``, ``skipped``.
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
        if not workflows:
            raise ValueError("a Worker needs at least one workflow")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store if store is not None else workflows[0].store
        self.workflows = {workflow.name: workflow.bind(self.store) for workflow in workflows}
        self.concurrency = concurrency
        self.retry = retry if retry is not None else RetryPolicy()
        self.poll_seconds = poll_seconds
        self.sweep_seconds = sweep_seconds
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
                log.warning("worker: %s", exc)
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
        """Claim one runnable run and execute one unit of it. Whether there was work."""
        lease = self.store.claim()
        if lease is None:
            return False
        with self.store.working(lease):
            run = self.store.load(lease.run_id)
            workflow = self.workflows.get(run.workflow)
            if workflow is None:
                log.warning("worker: no workflow %r for run %r", run.workflow, run.run_id)
                self._count("skipped")
                return True
            try:
                after = workflow.run_unit(lease, self.retry)
            except LeaseLost:
                self._count("fenced")  # it stalled past its lease: another worker has it
                return True
            except ConflictError:
                self._count("conflicts")  # a decision or cancellation came first
                return True
            except StateMachineError as exc:
                log.warning("worker: run %r: %s", lease.run_id, exc)
                self._count("skipped")
                return True
        self._count("failures" if after.status.value == "failed" else "units")
        return True
