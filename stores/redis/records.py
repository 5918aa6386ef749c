"""A Redis run's records, as plans: its keys, its fields, writing it through the write
script, reading and decoding it, its lease, and the store's epoch. `RedisStore` carries them
out, synchronously or awaited."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from statemachine.core.codec import encode_run, loads
from statemachine.core.errors import (
    CodecError,
    CorruptRun,
    InvalidArgument,
    LeaseLost,
    ReplicationUncertain,
    RunBusy,
    RunExists,
    RunNotFound,
    StoreError,
    StoreReset,
    VersionConflict,
)
from statemachine.core.record import RunRecord
from statemachine.core.runs import abandoned
from statemachine.store import plans
from statemachine.store.plans import Plan
from statemachine.store.values import (
    STATES,
    Lease,
    RetryPolicy,
    check_run_id,
    new_id,
    ready_delay,
    run_state,
)

from .client import Cmd, Script
from .clock import ServerClock
from .keys import RunKeys, partition, state_entry, text

__all__ = ["Records", "score_of"]

_STATES = frozenset(STATES)
_CACHED = 10_000
_CLAIMED = 64


def score_of(moment: datetime) -> str:
    """A time as a sorted set's score (seconds, to the microsecond)."""
    return f"{moment.timestamp():.6f}"


class Records:
    """The plans of a run's own keys (a part of `RedisStore`: its settings are its own)."""

    prefix: str
    partitions: int
    epoch: str
    allow_eviction: bool
    lease_seconds: float
    max_run_bytes: int | None
    _where: str
    _remember_ops: str
    _run_keys: dict[str, RunKeys]
    _clock: ServerClock
    _let_go: dict[str, None]  # tokens of leases a commit gave back: their release is free
    _claimed: dict[str, bytes]  # snapshots read by claims, by lease token, until loaded
    wait_replicas: int
    wait_timeout_ms: int

    def _plan_check_epoch(self) -> Plan[None]:
        if self.allow_eviction:
            return
        meta = f"{self.prefix}:meta"
        found = yield Cmd("hget", (meta, "epoch"), meta)
        if found is None or text(found) != self.epoch:
            raise StoreReset(self._where, self.epoch, None if found is None else text(found))

    def _plan_not_found(self, run_id: str) -> Plan[StoreError]:
        """`RunNotFound`, unless the whole store was lost: then `StoreReset`."""
        try:
            yield from self._plan_check_epoch()
        except StoreReset as reset:
            return reset
        return RunNotFound(run_id)

    # Keys

    def _run_key(self, run_id: str) -> str:
        return f"{partition(self.prefix, self.partitions, run_id)}:run:{run_id}"

    def _plan_keys(self, run_id: str, workflow: str | None) -> Plan[RunKeys]:
        """The run's keys; its workflow names its ready index, and is read once if unknown."""
        keys = self._run_keys.get(run_id)
        if keys is None:
            if workflow is None:
                workflow = text((yield from self._plan_field(run_id, "workflow")))
            if len(self._run_keys) >= _CACHED:
                self._run_keys.clear()
            tag = partition(self.prefix, self.partitions, run_id)
            keys = self._run_keys[run_id] = RunKeys.of(tag, run_id, workflow)
        return keys

    def _plan_field(self, run_id: str, field: str) -> Plan[bytes]:
        """A field of the run's hash. Raises `RunNotFound` (or `StoreReset`) when the run is
        gone, `CorruptRun` when its hash has no such field."""
        key = self._run_key(run_id)
        found = yield Cmd("hget", (key, field), key, run_id)
        if found is None:
            if (yield Cmd("exists", (key,), key, run_id)):
                raise CorruptRun(key, f"the run's hash has no {field}", run_id)
            raise (yield from self._plan_not_found(run_id))
        return found  # type: ignore[no-any-return]

    # The primitives, as plans

    def _plan_now(self) -> Plan[datetime]:
        """The server's time: reckoned from a script's recent answer, else asked for."""
        reckoned = self._clock.reckon()
        if reckoned is not None:
            return reckoned
        seconds, micros = yield Cmd("time", ())
        return self._clock.saw(seconds, micros)

    def _timed(self, reply: list[object], at: int) -> None:
        """Note the server's time that a script's reply carries at `at` (if it does)."""
        if len(reply) > at + 1 and reply[at] is not None:
            self._clock.saw(reply[at], reply[at + 1])

    def _plan_put(
        self, run: RunRecord, mode: str, expected: int, lease: Lease | None, operation: str | None,
        release: bool = False,
    ) -> Plan[str]:  # fmt: skip
        """Write through the script; answers "ok", or "duplicate" for a replayed operation.
        With `release`, a fenced commit also gives its lease back."""
        run_id = check_run_id(run.run_id)
        data = encode_run(run, self.max_run_bytes)
        keys = yield from self._plan_keys(run_id, run.workflow)
        gate = run.pending_gate
        deadline = None if gate is None else gate.deadline
        delay = ready_delay(run)
        state = run_state(run)
        if state not in _STATES:  # a paused run with no pending request: no index could list it
            raise InvalidArgument(f"run {run_id!r} is paused but no gate has a pending request")
        fields = (  # named in the script's first line
            run_id,
            "" if mode == "create" else str(expected),
            str(run.version),
            state,
            state_entry(state, run.updated_at, run_id),
            "" if deadline is None else score_of(deadline),
            "" if delay is None else str(int(delay * 1000)),
            "1" if state == "failed" and delay is None else "",
            score_of(run.created_at) if mode == "create" else "",
            "" if lease is None else f"{lease.fence} {lease.token}",
            self._remember_ops,
            "*" if self.allow_eviction else self.epoch,
            "1" if release and lease is not None else "",
        )
        args: list[str | bytes] = [data, "\x1f".join(fields)]
        if mode == "create":
            args.append(run.workflow)
        # A retry after a lost reply carries the same operation id, and answers "duplicate".
        write = keys.writing(operation or new_id())
        waiting = (self.wait_replicas, self.wait_timeout_ms) if self.wait_replicas else None
        reply = yield Script("write", write, args, keys.run, run_id, waiting)
        acknowledged = self.wait_replicas
        if waiting is not None:
            reply, acknowledged = reply
        if isinstance(reply, list):
            self._timed(reply, 1)
            reply = reply[0]
        outcome = text(reply)
        if outcome == "ok" or outcome == "duplicate":
            if release and lease is not None:
                self._gave_back(lease)
            if acknowledged < self.wait_replicas:
                raise ReplicationUncertain(
                    run_id, self.wait_replicas, acknowledged, self.wait_timeout_ms
                )
            return outcome
        if outcome == "exists":
            raise RunExists(run_id)
        if outcome == "missing":
            raise (yield from self._plan_not_found(run_id))
        if outcome == "fenced":
            raise LeaseLost(run_id)
        if outcome == "reset":
            yield from self._plan_check_epoch()
            raise StoreReset(self._where, self.epoch, None)
        stored = outcome.split()[-1]
        if not stored.isdigit():
            raise CorruptRun(keys.run, f"its version is {stored[:40]!r}", run_id)
        raise VersionConflict(run_id, expected, int(stored))

    def _plan_load(self, run_id: str) -> Plan[RunRecord]:
        data = yield from self._plan_field(check_run_id(run_id), "snapshot")
        return (yield from self._plan_decode(run_id, data))

    def _plan_decode(self, run_id: str, data: bytes) -> Plan[RunRecord]:
        key = self._run_key(run_id)
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            error = yield Cmd("hget", (key, "error"), key, run_id)
            reason = str(exc) if error is None else f"{exc} (set aside: {text(error)})"
            raise CorruptRun(key, reason, run_id) from exc
        if run.run_id != run_id:
            raise CorruptRun(key, f"it holds run {run.run_id!r}", run_id)
        if run_id not in self._run_keys:
            yield from self._plan_keys(run_id, run.workflow)
        return run

    def _plan_version(self, run_id: str) -> Plan[int]:
        found = text((yield from self._plan_field(check_run_id(run_id), "version")))
        if not found.isdigit():
            raise CorruptRun(self._run_key(run_id), f"its version is {found[:40]!r}", run_id)
        return int(found)

    def _plan_lease(
        self, keys: RunKeys, run_id: str, token: str, mode: str, read: str = ""
    ) -> Plan[tuple[str, int, bytes | None]]:
        """Take (or renew) the lease: the outcome, the fence, and the field `read` of the
        run's hash (read with the lease taken, in the same script)."""
        millis = str(int(self.lease_seconds * 1000))
        reply = yield Script("lease", keys.lease, [run_id, token, millis, mode, read], keys.run)
        self._timed(reply, 2)
        value = reply[4] if len(reply) > 4 else None
        return text(reply[0]), int(reply[1]), value

    def _plan_acquire(self, run_id: str, read: str = "") -> Plan[tuple[Lease, bytes | None]]:
        token = new_id()
        keys = yield from self._plan_keys(check_run_id(run_id), None)
        outcome, fence, value = yield from self._plan_lease(keys, run_id, token, "hold", read)
        if outcome == "missing":
            raise (yield from self._plan_not_found(run_id))
        if outcome == "busy":
            raise RunBusy(run_id)
        return Lease(run_id, token, fence), value

    def _plan_take(self, run_id: str, version_only: bool) -> Plan[tuple[Lease, RunRecord | int]]:
        """The lease, and the run (or its version) read with it in the same script."""
        field = "version" if version_only else "snapshot"
        lease, found = yield from self._plan_acquire(run_id, field)
        try:
            if found is None:
                key = self._run_key(run_id)
                raise CorruptRun(key, f"the run's hash has no {field}", run_id)
            if not version_only:
                return lease, (yield from self._plan_decode(run_id, found))
            version = text(found)
            if not version.isdigit():
                raise CorruptRun(self._run_key(run_id), f"its version is {version[:40]!r}", run_id)
            return lease, int(version)
        except Exception:  # not GeneratorExit: a plan closed unfinished yields nothing more
            yield from self._plan_release(lease)
            raise

    def _plan_release(self, lease: Lease) -> Plan[str]:
        if lease.token in self._let_go:  # given back by the commit that ended its work
            self._let_go.pop(lease.token, None)
            return "released"
        keys = yield from self._plan_keys(lease.run_id, None)
        reply = yield Script("release", keys.lease, [lease.run_id, lease.token], keys.run)
        self._timed(reply, 1)
        return text(reply[0])

    def _keep_claimed(self, token: str, snapshot: bytes) -> None:
        if len(self._claimed) >= _CLAIMED:  # claimed, never loaded: forget the oldest
            _forget_oldest(self._claimed)
        self._claimed[token] = snapshot

    def _plan_load_claimed(self, lease: Lease) -> Plan[RunRecord]:
        """The run as its claim read it (once), else as stored."""
        snapshot = self._claimed.pop(lease.token, None)
        if snapshot is None:
            return (yield from self._plan_load(lease.run_id))
        return (yield from self._plan_decode(lease.run_id, snapshot))

    def _gave_back(self, lease: Lease) -> None:
        if len(self._let_go) >= _CACHED:  # released by hand instead: forget the oldest
            _forget_oldest(self._let_go)
        self._let_go[lease.token] = None

    def _plan_reap_one(self, run_id: str, policy: RetryPolicy, at: datetime) -> Plan[bool]:
        """If the run's lease ran out: take it over, count the attempt and give it back in one
        fenced commit, so that no claim takes the run before its backoff; whether it did."""
        keys = yield from self._plan_keys(run_id, None)
        token = new_id()
        outcome, fence, data = yield from self._plan_lease(keys, run_id, token, "reap", "snapshot")
        if outcome == "missing":
            raise (yield from self._plan_not_found(run_id))
        if outcome != "ok":
            return False  # given back, or renewed, meanwhile
        lease = Lease(run_id, token, fence)

        def attempted(run: RunRecord, _: object) -> RunRecord:
            return abandoned(run, at, retry_at=policy.next_attempt(run.attempts + 1, at))

        try:
            seen = yield from (self._plan_decode(run_id, data) if data else self._plan_load(run_id))
            yield from plans.update(
                run_id, attempted, seen=seen, lease=lease, timed=False, last=True
            )  # the last write of the lease: it gives the lease back
        except Exception:
            yield from self._plan_release(lease)
            raise
        # Nothing to send when the commit gave it back; sent when there was nothing to write
        # (a run its holder left paused or ended counts no attempt).
        yield from self._plan_release(lease)
        return True

    def _renewed(self, lease: Lease) -> Plan[bool]:
        keys = yield from self._plan_keys(lease.run_id, None)
        outcome, _, _ = yield from self._plan_lease(keys, lease.run_id, lease.token, "renew")
        return outcome == "ok"


def _forget_oldest(kept: dict[str, Any]) -> None:
    # Another thread may change the dict meanwhile: then there is nothing to do here.
    with contextlib.suppress(RuntimeError, StopIteration):
        kept.pop(next(iter(kept)), None)
