"""RedisStore's indexes always say what its snapshots and leases say.

The write script touches only the index entries that change, trusting that every entry mirrors
a field of the run's hash. This stateful test drives writes, claims (at times before, at and
after the server's, and retried with their token), holds, fenced commits, releases, expired
leases, reaping, timeouts and deletions in any order, and after every step rebuilds each run's
expected index entries from its snapshot and lease and compares them with Redis.
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

from statemachine import Lease, LeaseLost, RetryPolicy, RunBusy, RunRecord, RunStatus
from statemachine.store import ready_delay, run_state
from statemachine.testing.contract import sample_run, touched
from stores import RedisStore
from stores.redis.client import Script
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
        self.fences: dict[str, int] = {}  # the highest fence seen of each run
        self.purged: set[str] = set()  # removed for good: a tombstone refuses their creation
        self.claimed: list[Lease] = []  # the leases claims took (their tokens mark them)

    def teardown(self) -> None:
        self.store.close()
        self.client.close()

    def keys(self, run_id: str) -> RunKeys:
        tag = partition(self.store.prefix, self.store.partitions, run_id)
        return RunKeys.of(tag, run_id, "contract")

    def exists(self, run_id: str) -> bool:
        return bool(self.client.exists(self.keys(run_id).run))

    @rule(run_id=st.sampled_from(IDS), kind=st.sampled_from(KINDS))
    def create(self, run_id: str, kind: str) -> None:
        if not self.exists(run_id) and run_id not in self.purged:
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

    @rule(minutes=st.sampled_from([-60, 0, 5]))
    def claim(self, minutes: int) -> None:
        """A claim, at a time before, at or after the server's: it takes a run it may take,
        with a fence above every earlier one of that run, and None only if none is due."""
        lost = {run_id for run_id in self.leases if self.lease_ran_out(run_id)}
        at = self.store.now() + timedelta(minutes=minutes)
        due, free = self.claimable(int(at.timestamp() * 1000))
        lease = self.store.claim(at)
        if lease is None:
            assert not due, due
            return
        assert lease.run_id in free, (lease.run_id, free)
        assert lease.run_id not in self.leases or lease.run_id in lost
        self.took(lease)
        self.claimed.append(lease)

    def claimable(self, cutoff: int) -> tuple[set[str], set[str]]:
        """The runs a claim at `cutoff` (server milliseconds) must find, and those it may."""
        due, free = set(), set()
        now_ms = self.store.now().timestamp() * 1000
        for run_id in IDS:
            keys = self.keys(run_id)
            score = self.client.zscore(keys.lease[2], run_id)
            owner, until = self.client.hmget(keys.run, "owner", "lease_until")
            if score is None or not self.exists(run_id) or (owner and int(until or 0) >= now_ms):
                continue
            free.add(run_id)
            if score <= cutoff or ready_delay(self.store.load(run_id)) == 0:  # at once
                due.add(run_id)
        return due, free

    def took(self, lease: Lease) -> None:
        assert lease.fence > self.fences.get(lease.run_id, 0), (lease, self.fences)
        self.fences[lease.run_id] = lease.fence
        self.leases[lease.run_id] = lease

    @precondition(lambda self: self.claimed)
    @rule(data=st.data())
    def claim_retried(self, data: st.DataObject) -> None:
        """The claim script again with a claim's token (a retry after a lost reply): while
        its lease is held, the same run and fence; never that run with a fence since lost."""
        lease = data.draw(st.sampled_from(self.claimed))
        run_id = lease.run_id
        tag, key = self.keys(run_id).tag, self.keys(run_id).lease[2]
        held = self.holds(lease)
        reply = self.store.client.carry(Script(
            "claim", [key, f"{tag}:leases", f"{tag}:claim:{lease.token}"],
            [f"{tag}:run:", "0", lease.token, "60000", "64", "contract"], key,
        ))  # fmt: skip
        if held:
            assert (text(reply[0]), text(reply[5]), reply[6]) == ("ok", run_id, lease.fence)
        elif text(reply[0]) == "ok":
            again = Lease(text(reply[5]), lease.token, int(reply[6]))
            if self.leases.get(again.run_id) == again:
                assert self.holds(again)  # an earlier retry's take, answered again
                return
            assert again.run_id not in self.leases or not self.holds(self.leases[again.run_id])
            self.took(again)
            self.claimed.append(again)

    @rule(run_id=st.sampled_from(IDS))
    def delete(self, run_id: str) -> None:
        """Remove a run for good (refused while someone holds it)."""
        if not self.exists(run_id):
            return
        lease = self.leases.get(run_id)
        try:
            self.store.delete(run_id, self.store.version(run_id))
        except RunBusy:
            assert lease is not None
            assert self.holds(lease)
            return
        self.purged.add(run_id)
        self.leases.pop(run_id, None)

    @rule(run_id=st.sampled_from(IDS))
    def acquire(self, run_id: str) -> None:
        if self.exists(run_id) and run_id not in self.leases:
            self.took(self.store.acquire(run_id))

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
        # A claim's marker lives as long as the lease it took (both set by the same script).
        self.client.delete(f"{self.keys(run_id).tag}:claim:{self.leases[run_id].token}")

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
