"""RedisStore's indexes always say what its snapshots and leases say.

The write script touches only the index entries that change, trusting that every entry mirrors
a field of the run's hash. This stateful test drives writes, claims, holds, fenced commits,
releases, expired leases, reaping and timeouts in any order, and after every step rebuilds
each run's expected index entries from its snapshot and lease and compares them with Redis.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from statemachine import Lease, LeaseLost, RetryPolicy, RunRecord, RunStatus
from statemachine.store import ready_delay, run_state
from statemachine.testing.contract import sample_run, touched
from stores import RedisStore
from stores.redis.indexes import score_of as _score
from stores.redis.keys import RunKeys, parse_entry, partition, text

from .servers import RedisServer

IDS = ("a", "b", "c")
KINDS = ("paused", "waiting", "pending", "retrying", "dead", "completed")
prefixes = itertools.count()


def shaped(run: RunRecord, kind: str) -> RunRecord:
    """`run` one transition later, in the situation `kind` names."""
    run = touched(run, run.updated_at + timedelta(seconds=1))
    at = run.updated_at
    if kind in ("paused", "waiting"):  # a review pending, with a deadline or without one
        gates = sample_run(run.run_id, at, True, 60 if kind == "paused" else None).gates
        return attrs.evolve(run, status=RunStatus.paused, gates=gates, retry_at=None)
    status = {
        "pending": RunStatus.pending,
        "retrying": RunStatus.failed,
        "dead": RunStatus.failed,
        "completed": RunStatus.completed,
    }[kind]
    retry_at = at + timedelta(seconds=30) if kind == "retrying" else None
    return attrs.evolve(run, status=status, gates=(), retry_at=retry_at)


class IndexesMirrorRuns(RuleBasedStateMachine):
    server: RedisServer

    def __init__(self) -> None:
        super().__init__()
        self.store = RedisStore(self.server.url, prefix=f"ix{next(prefixes)}", lease_seconds=60)
        self.client = self.server.client()
        self.leases: dict[str, Lease] = {}

    def teardown(self) -> None:
        self.store.close()

    def keys(self, run_id: str) -> RunKeys:
        tag = partition(self.store.prefix, self.store.partitions, run_id)
        return RunKeys.of(tag, run_id, "contract")

    def exists(self, run_id: str) -> bool:
        return bool(self.client.exists(self.keys(run_id).run))

    @rule(run_id=st.sampled_from(IDS), kind=st.sampled_from(KINDS))
    def create(self, run_id: str, kind: str) -> None:
        if not self.exists(run_id):
            run = shaped(sample_run(run_id, self.store.now(), False), kind)
            self.store.create(run)

    @rule(run_id=st.sampled_from(IDS), kind=st.sampled_from(KINDS), fenced=st.booleans())
    def commit(self, run_id: str, kind: str, fenced: bool) -> None:
        if not self.exists(run_id):
            return
        run = self.store.load(run_id)
        lease = self.leases.get(run_id) if fenced else None
        refused = lease is not None and not self.holds(lease)
        try:
            self.store.commit(shaped(run, kind), run.version, lease=lease)
        except LeaseLost:
            assert refused
        else:
            assert not refused

    def holds(self, lease: Lease) -> bool:
        key = self.keys(lease.run_id).run
        owner, fence = self.client.hmget(key, "owner", "fence")
        return (
            text(owner) == lease.token
            and text(fence) == str(lease.fence)
            and not self.lease_ran_out(lease.run_id)
        )

    @rule()
    def claim(self) -> None:
        lost = {run_id for run_id in self.leases if self.lease_ran_out(run_id)}
        lease = self.store.claim(self.store.now() + timedelta(minutes=5))
        if lease is not None:
            assert lease.run_id not in self.leases or lease.run_id in lost
            self.leases[lease.run_id] = lease

    @rule(run_id=st.sampled_from(IDS))
    def acquire(self, run_id: str) -> None:
        if self.exists(run_id) and run_id not in self.leases:
            self.leases[run_id] = self.store.acquire(run_id)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        run_id = data.draw(st.sampled_from(sorted(self.leases)))
        self.store.release(self.leases.pop(run_id))

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def lease_runs_out(self, data: st.DataObject) -> None:
        run_id = data.draw(st.sampled_from(sorted(self.leases)))
        self.client.hset(self.keys(run_id).run, "lease_until", 0)
        self.client.zadd(f"{self.keys(run_id).tag}:leases", {run_id: 0})

    @rule()
    def reap(self) -> None:
        for run_id in self.store.reap(RetryPolicy(max_attempts=2), self.store.now()):
            self.leases.pop(run_id, None)

    @rule()
    def expire_due(self) -> None:
        self.store.expire_due(self.store.now() + timedelta(minutes=2))

    def lease_ran_out(self, run_id: str) -> bool:
        until = self.client.hget(self.keys(run_id).run, "lease_until")
        return int(until or 0) < self.store.now().timestamp() * 1000

    @invariant()
    def every_index_mirrors_its_run(self) -> None:
        keys = {run_id: self.keys(run_id) for run_id in IDS}
        tag = keys["a"].tag
        members = [text(m) for m in self.client.zrange(f"{tag}:states", 0, -1)]
        stored = [run_id for run_id in IDS if self.exists(run_id)]
        assert sorted(m.rsplit("|", 1)[1] for m in members) == sorted(stored)
        now_ms = self.store.now().timestamp() * 1000
        for run_id in stored:
            run = self.store.load(run_id)
            state = run_state(run)
            entry, ready_field = (
                text(value) if value is not None else None
                for value in self.client.hmget(keys[run_id].run, "entry", "ready")
            )
            assert entry in members, (run_id, entry)
            assert entry.startswith(f"{state}|"), (run_id, entry)
            parsed = parse_entry(entry)
            assert parsed is not None
            assert parsed[1] == run_id
            owner, until = self.client.hmget(keys[run_id].run, "owner", "lease_until")
            owned = bool(owner)
            live = owned and int(until or 0) >= now_ms

            gate = run.pending_gate
            deadline = None if gate is None else gate.deadline
            expected = None if deadline is None else float(_score(deadline))
            assert self.client.zscore(f"{tag}:deadlines", run_id) == expected, run_id

            delay = ready_delay(run)
            assert (ready_field or None) == (None if delay is None else ready_field), run_id
            if delay is not None:  # the server's time of the write, plus the delay
                assert ready_field is not None
                assert float(ready_field) - delay * 1000 <= now_ms, run_id
            actual = self.client.zscore(f"{tag}:ready:contract", run_id)
            score = None if delay is None else float(ready_field or "nan")
            if live:
                assert actual is None, (run_id, "held but ready")
            elif not owned:
                assert actual == score, run_id
            else:  # a lease ran out and nobody reaped it yet: claimed away, or back by a write
                assert actual in (None, score), run_id

            lease_score = self.client.zscore(f"{tag}:leases", run_id)
            assert (lease_score is not None) == owned, (run_id, owner, lease_score)

            dead = run.status is RunStatus.failed and run.retry_at is None
            assert (self.client.zscore(f"{tag}:dead", run_id) is not None) == dead, run_id
            assert self.client.zscore(f"{tag}:runs", run_id) is not None


def test_indexes_mirror_runs_through_any_sequence(redis_server: RedisServer) -> None:
    """Whatever happens to runs and their leases, every index entry is the one it should be."""
    IndexesMirrorRuns.server = redis_server
    run_state_machine_as_test(IndexesMirrorRuns)
