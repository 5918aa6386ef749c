"""How many times a run talks to Redis (counted by the server itself), and what made it
fewer: the server's clock read from replies, one heartbeat for every lease held, the lease
taken with the first read and given back with the last commit.

A run paused for review once and then completed is started, paused, decided and continued
against a redis-server of its own, and the server's ``INFO commandstats`` (reset with
``CONFIG RESETSTAT``) counts what it was asked. Commands that the store's Lua scripts run
inside one ``EVALSHA`` are counted there too, so the slow log (every command logged, each
script's own commands under the client address ``?:0``) tells them apart: what is left is
what clients sent, one command each, and each a round trip at most (pipelined reads share
one, so the figure is an upper bound).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
import redis

from statemachine import (
    ConflictError,
    CorruptRun,
    RetryPolicy,
    RunBusy,
    RunRecord,
    Step,
    Worker,
    Workflow,
)
from statemachine.testing.contract import sample_run as new_run
from statemachine.testing.contract import touched
from stores import RedisStore

from .servers import RedisServer

MOST = 12


def sent_by_clients(client: redis.Redis) -> Counter[str]:
    """Commands clients sent since the stats were reset: ``INFO commandstats`` less the
    commands that scripts ran (and less the counting's own, sent by `client`)."""
    stats = client.info("commandstats")
    counted = Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})
    inside = Counter(
        str(entry["command"].split()[0], "utf-8", "replace").lower()
        if isinstance(entry["command"], bytes)
        else str(entry["command"]).split()[0].lower()
        for entry in client.slowlog_get(100_000)
        if str(entry.get("client_address", b""), "utf-8", "replace").startswith("?")
    )
    own = Counter({"info": 1, "slowlog|get": 1, "config|resetstat": 1, "slowlog|reset": 1})
    return counted - inside - own


def reviewed(store: RedisStore) -> Workflow:
    return Workflow(
        name="counted",
        store=store,
        steps=[
            Step(
                name="draft",
                executor=lambda si: f"draft of {si.input}",
                requires_output_review=True,
            ),
            Step(name="publish", executor=lambda si: f"published {si.previous_step_content}"),
        ],
    )


def test_a_run_paused_for_review_once_then_completed_takes_at_most_12_round_trips(
    tmp_path: Path,
) -> None:
    server = RedisServer(
        tmp_path / "redis", ["slowlog-log-slower-than 0", "slowlog-max-len 100000"]
    ).start()
    try:
        store = RedisStore(server.url, prefix="counted")
        workflow = reviewed(store)
        workflow.run("warm-up")  # connections, scripts loaded, the prefix's settings read
        admin = server.client()
        admin.config_resetstat()
        admin.slowlog_reset()

        paused = workflow.run("a paragraph")
        assert paused.is_paused
        paused.steps_requiring_output_review[0].confirm()
        done = workflow.continue_run(paused)
        assert done.status.value == "completed"
        assert done.content == "published draft of a paragraph"

        sent = sent_by_clients(admin)
        total = sum(sent.values())
        assert sent["evalsha"] >= 3, sent  # create, the pause's commit, the decision at least
        assert total <= MOST, f"{total} round trips: {dict(sent)}"
        # The lease went back with the last commit: nothing is left held.
        key = store._keys(done.run_id).run
        assert admin.hget(key, "owner") == b""
        assert admin.zcard("counted:{p0}:leases") == 0
        store.close()
    finally:
        server.stop()


def test_a_workers_unit_takes_two_round_trips(tmp_path: Path) -> None:
    """A worker's unit of work is one claim script (pick, lease and read the run) and one
    commit script (which gives the lease back): two commands sent, both scripts."""
    server = RedisServer(
        tmp_path / "redis", ["slowlog-log-slower-than 0", "slowlog-max-len 100000"]
    ).start()
    try:
        store = RedisStore(server.url, prefix="units")
        steps = [Step(name=name, executor=lambda si: si.input) for name in ("a", "b", "c")]
        workflow = Workflow(name="units", steps=steps)
        bound = workflow.bind(store)
        for n in range(4):
            bound.submit(n)
        worker = Worker([workflow], store, sweep_seconds=3600)
        assert worker.work_once()  # warm: scripts loaded, the first sweep made
        admin = server.client()
        admin.config_resetstat()
        admin.slowlog_reset()
        units = 0
        while worker.work_once():
            units += 1
        sent = sent_by_clients(admin)
        assert units == 11
        # One claim that found nothing left, after the 11 units.
        assert sent == Counter({"evalsha": 2 * units + 1}), dict(sent)
        assert [run.status.value for run in store.page("completed", limit=10)] == ["completed"] * 4
        store.close()
    finally:
        server.stop()


def test_the_same_run_awaited_takes_as_few_round_trips(tmp_path: Path) -> None:
    """The asyncio API takes and gives back the lease the same way, and reads the same clock."""
    import asyncio

    server = RedisServer(
        tmp_path / "redis", ["slowlog-log-slower-than 0", "slowlog-max-len 100000"]
    ).start()
    try:
        store = RedisStore(server.url, prefix="counted")
        workflow = reviewed(store)
        admin = server.client()

        async def main() -> None:
            async with store:
                await workflow.arun("warm-up")
                admin.config_resetstat()
                admin.slowlog_reset()
                paused = await workflow.arun("a paragraph")
                await paused.steps_requiring_output_review[0].aconfirm()
                done = await workflow.acontinue_run(paused)
                assert done.content == "published draft of a paragraph"

        asyncio.run(main())
        sent = sent_by_clients(admin)
        assert sum(sent.values()) <= MOST, dict(sent)
        assert admin.zcard("counted:{p0}:leases") == 0
        store.close()
    finally:
        server.stop()


def test_the_clock_is_the_servers_reckoned_from_the_last_reply(redis_server: RedisServer) -> None:
    """After a write, `now()` asks nothing of the server, and still answers the server's time
    (within the trip of a reply), never going back."""
    store = RedisStore(redis_server.url, prefix=f"t{uuid4().hex[:10]}")
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    admin = redis_server.client()
    before = admin.info("commandstats").get("cmdstat_time", {}).get("calls", 0)
    times = [store.now() for _ in range(50)]
    after = admin.info("commandstats").get("cmdstat_time", {}).get("calls", 0)
    seconds, micros = admin.time()
    server = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
    assert after == before  # not one TIME sent for 50 readings
    assert times == sorted(times)
    assert abs((server - times[-1]).total_seconds()) < 0.5
    store.close()


def test_one_heartbeat_thread_renews_every_lease_the_store_holds(
    redis_server: RedisServer,
) -> None:
    """Five runs held at once through one store: one heartbeat thread, and every lease renewed
    past its first expiry (waited for by the server's clock, bounded)."""
    store = RedisStore(redis_server.url, prefix=f"t{uuid4().hex[:10]}", lease_seconds=0.6)
    for n in range(5):
        store.create(new_run(f"r{n}", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    with ExitStack() as held:
        leases = [held.enter_context(store.hold(f"r{n}")) for n in range(5)]
        keys = [store._keys(lease.run_id).run for lease in leases]
        admin = redis_server.client()
        first = max(int(admin.hget(key, "lease_until") or 0) for key in keys)
        end = time.monotonic() + 30
        while admin.time()[0] * 1000 <= first + 300:  # outlive every first lease
            assert time.monotonic() < end, "the leases were never renewed"
            time.sleep(0.02)  # polls the server's clock, bounded by `end`
        beats = [t for t in threading.enumerate() if t.name == f"leases-{store.prefix}"]
        assert len(beats) == 1
        for lease, key in zip(leases, keys, strict=True):
            assert int(admin.hget(key, "lease_until") or 0) > first
            run = store.load(lease.run_id)
            store.commit(touched(run, run.updated_at), run.version, lease=lease)
    assert all(admin.hget(key, "owner") == b"" for key in keys)
    store.close()


def test_a_last_commit_refused_keeps_the_lease_until_it_is_released(
    redis_server: RedisServer,
) -> None:
    """A last commit that conflicts gives nothing back: the lease stays held (no one else can
    take the run) until the holder releases it."""
    store = RedisStore(redis_server.url, prefix=f"t{uuid4().hex[:10]}")
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    lease, run = store.acquire_reading("r")
    assert isinstance(run, RunRecord)
    store.commit(touched(run, run.updated_at), run.version)  # someone else wrote meanwhile
    with pytest.raises(ConflictError):
        store.commit_last(touched(run, run.updated_at), run.version, lease=lease)
    with pytest.raises(RunBusy):
        store.acquire("r")
    store.release(lease)
    store.release(store.acquire("r"))
    lease, version = store.acquire_reading("r", version_only=True)
    assert version == run.version + 1
    stored = store.load("r")
    store.commit_last(touched(stored, stored.updated_at), version, lease=lease)
    store.release(lease)  # given back already: nothing sent, nothing held
    store.release(store.acquire("r"))
    store.close()


def test_a_sweep_reads_every_partition_in_one_round_trip(tmp_path: Path) -> None:
    """With 8 partitions, a sweep that finds nothing due asks the server twice: the
    deadlines of every partition with the store's epoch, then the expired leases of every
    partition; the dead letters are one read too."""
    server = RedisServer(
        tmp_path / "redis", ["slowlog-log-slower-than 0", "slowlog-max-len 100000"]
    ).start()
    try:
        store = RedisStore(server.url, prefix="swept", partitions=8)
        store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
        admin = server.client()
        admin.config_resetstat()
        admin.slowlog_reset()
        assert store.expire_due() == []
        assert store.reap(RetryPolicy()) == []
        assert store.dead() == []
        sent = sent_by_clients(admin)
        # 2 pipelines of 8 or 9 commands, and one of 8: every partition read, in 3 trips.
        assert sent == Counter({"zrangebyscore": 16, "hget": 1, "zrevrange": 8}), dict(sent)
        store.close()
    finally:
        server.stop()


def test_an_index_of_the_wrong_type_read_in_a_pipeline_is_corrupt_run(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, prefix=f"t{uuid4().hex[:10]}", partitions=2)
    admin = redis_server.client()
    admin.set(f"{store.prefix}:{{p1}}:deadlines", "junk")
    admin.set(f"{store.prefix}:{{p0}}:dead", "junk")
    with pytest.raises(CorruptRun):
        store.expire_due()
    with pytest.raises(CorruptRun):
        store.dead()
    store.close()
