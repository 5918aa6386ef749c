"""Workers: processes that execute runs from a shared store, one unit of work at a time.

Theory of operation. Each worker thread loops: claim a runnable run of a workflow it serves
(atomically taking its lease), execute one unit of its work (a plain step, or one loop
iteration) with the lease renewed by a heartbeat, commit fenced by the lease, release. What
becomes of a claimed run is decided once, in `work.unit`, for this worker and the asyncio one.
Every worker also sweeps about once a second, with jitter and no leader: it fires the
timeouts that are due and reaps the leases that ran out (their runs count an attempt and
become runnable again). Every step of this is a compare-and-set, so two workers racing to do
the same thing is harmless: one wins, the other finds nothing to do.

State changes happen exactly once (compare-and-set, fences, operation ids). User code runs
at least once: a worker that dies, stalls past its lease or loses a race may have run a unit
whose result is then thrown away. `StepInput.idempotency_key` is the same for every attempt
at a unit: use it to make side effects idempotent.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from statemachine.core.errors import StoreError
from statemachine.runtime.hooks import deliver_due
from statemachine.runtime.work import (
    PURGED_PER_SWEEP,
    Execute,
    Fail,
    Idle,
    Letter,
    Load,
    Tally,
    failed,
    log,
    settings,
    unit,
)
from statemachine.runtime.workflow import Workflow
from statemachine.store.plans import carry_out
from statemachine.store.protocol import Store
from statemachine.store.telemetry import active
from statemachine.store.values import Lease, RetryPolicy, check_seconds

__all__ = ["Worker"]


class Worker:
    """Executes runs of `workflows` from `store`, in `concurrency` threads.

    Args:
        workflows: the workflows whose runs this worker may execute, found by name.
        store: where the runs are (default: the first workflow's store); the workflows are
            bound to it.
        concurrency: threads claiming and executing runs (1 to 1,024).
        retry: how often a failing unit is retried, and the backoff between tries.
        poll_seconds: how long a thread that found no work waits before looking again; each
            further empty look doubles the wait, up to `idle_seconds`, so that an idle worker
            costs little. Work found resets it.
        sweep_seconds: how often (with +-25% jitter) the worker fires due timeouts and reaps
            expired leases.
        idle_seconds: the longest wait between looks for work.

    Attributes:
        counts: what the worker did (see `Tally`).

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
        idle_seconds: float = 1.0,
        keep_finished: float | None = None,
    ) -> None:
        checked = settings(workflows, store, concurrency, 1024, retry, poll_seconds, sweep_seconds)
        self.idle_seconds = check_seconds("idle_seconds", idle_seconds, 0, 3600)
        self.store, self.workflows, self.concurrency, self.retry = checked[:4]
        self.poll_seconds, self.sweep_seconds = checked[4:]
        self._tally = Tally(self.retry)
        self.keep_finished = (
            None if keep_finished is None
            else check_seconds("keep_finished", keep_finished, 0, 100 * 365 * 86400)
        )  # fmt: skip
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    @property
    def counts(self) -> Counter[str]:
        return self._tally.counts

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
        self._tally.summarise(force=True)

    def _loop(self, stop: threading.Event) -> None:
        idle = Idle(self.poll_seconds, self.idle_seconds)
        while not stop.is_set():
            try:
                self.maybe_sweep()
                if self.work_once():
                    idle.worked()
                else:
                    self.store.idle(stop, idle.wait())  # returns early when work comes
            except StoreError as exc:  # the store is unreachable: wait and try again
                self._tally.once(f"store:{type(exc).__name__}", "worker: %s", exc)
                stop.wait(min(1.0, self.poll_seconds * 10))
            except Exception:  # a bug must not silently take a worker thread down
                log.exception("worker: unexpected error; going on")
                self._tally.count("errors")
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
        started = time.monotonic()
        self._tally.swept("timeouts", self.store.expire_due())
        self._tally.swept("reaped", self.store.reap(self.retry))
        self._tally.count("notified", deliver_due(self.workflows.values(), self.store))
        keep = self.keep_finished if self.keep_finished is not None else self.store.keep_finished
        if keep is not None:  # the finished runs' time to live
            gone = self.store.now() - timedelta(seconds=keep)
            self._tally.swept("purged", self.store.purge(gone, limit=PURGED_PER_SWEEP))
        metered = active()
        if metered is not None:
            metered.swept(started)
        self._tally.summarise()

    def work_once(self) -> bool:
        """Claim one runnable run of the workflows served and execute one unit of it. Whether
        there was work (see `work.unit` for what becomes of the run)."""
        lease = self.store.claim(workflows=self.workflows)
        if lease is None:
            return False
        with self.store.working(lease):
            carry_out(unit(lease, self.workflows, self._tally), self._effect)
        return True

    def _effect(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Load:
            return self.store.load_claimed(effect.lease)
        if kind is Execute:
            return effect.workflow.run_unit(
                effect.lease, self.retry, give_back=True, run=effect.run
            )
        if kind is Letter:
            return self.store.dead_letter(effect.lease, effect.reason)
        assert kind is Fail
        return self._fail(effect.lease, effect.reason)

    def _fail(self, lease: Lease, reason: str) -> None:
        now, retry = self.store.now(), self.retry
        self.store.update(lease.run_id, lambda run: failed(run, reason, retry, now), lease=lease)
