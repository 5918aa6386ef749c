"""A Redis run's records, as plans: its keys, its fields, writing it through the write
script, reading and decoding it, its lease, and the store's epoch. `RedisStore` carries them
out, synchronously or awaited."""

from __future__ import annotations

from datetime import UTC, datetime

from statemachine.core.codec import encode_run, loads
from statemachine.core.errors import (
    CodecError,
    CorruptRun,
    InvalidArgument,
    LeaseLost,
    RunBusy,
    RunExists,
    RunNotFound,
    StoreError,
    StoreReset,
    VersionConflict,
)
from statemachine.core.record import RunRecord
from statemachine.store.plans import Plan
from statemachine.store.values import STATES, Lease, check_run_id, new_id, ready_delay, run_state

from .client import Cmd, Script
from .keys import RunKeys, partition, state_entry, text

__all__ = ["Records", "score_of"]

_STATES = frozenset(STATES)
_CACHED = 10_000


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
        seconds, micros = yield Cmd("time", ())
        return datetime.fromtimestamp(int(seconds) + int(micros) / 1e6, UTC)

    def _plan_put(
        self, run: RunRecord, mode: str, expected: int, lease: Lease | None, operation: str | None
    ) -> Plan[str]:
        """Write through the script; answers "ok", or "duplicate" for a replayed operation."""
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
        )
        args: list[str | bytes] = [data, "\x1f".join(fields)]
        if mode == "create":
            args.append(run.workflow)
        # A retry after a lost reply carries the same operation id, and answers "duplicate".
        write = keys.writing(operation or new_id())
        outcome = text((yield Script("write", write, args, keys.run, run_id)))
        if outcome == "ok" or outcome == "duplicate":
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
        self, keys: RunKeys, run_id: str, token: str, mode: str
    ) -> Plan[tuple[str, int]]:
        millis = str(int(self.lease_seconds * 1000))
        outcome, fence = yield Script("lease", keys.lease, [run_id, token, millis, mode], keys.run)
        return text(outcome), int(fence)

    def _plan_acquire(self, run_id: str) -> Plan[Lease]:
        token = new_id()
        keys = yield from self._plan_keys(check_run_id(run_id), None)
        outcome, fence = yield from self._plan_lease(keys, run_id, token, "hold")
        if outcome == "missing":
            raise (yield from self._plan_not_found(run_id))
        if outcome == "busy":
            raise RunBusy(run_id)
        return Lease(run_id, token, fence)

    def _plan_release(self, lease: Lease) -> Plan[str]:
        keys = yield from self._plan_keys(lease.run_id, None)
        released = yield Script("release", keys.lease, [lease.run_id, lease.token], keys.run)
        return text(released)

    def _renewed(self, lease: Lease) -> Plan[bool]:
        keys = yield from self._plan_keys(lease.run_id, None)
        outcome, _ = yield from self._plan_lease(keys, lease.run_id, lease.token, "renew")
        return outcome == "ok"
