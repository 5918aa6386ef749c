"""Redis faults around the concurrency core: a lost reply to a claim, runs evicted under
memory pressure, and a server that restarted empty under live stores."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from statemachine import (
    CorruptRun,
    RetryPolicy,
    RunBusy,
    RunNotFound,
    Step,
    StoreReset,
    Worker,
    Workflow,
)
from statemachine.testing.contract import sample_run, touched
from stores import RedisStore
from stores.redis.client import Script
from stores.redis.keys import text

from .servers import LossyProxy, RedisServer


def test_a_claim_whose_reply_was_lost_returns_the_lease_it_took(
    redis_server: RedisServer,
) -> None:
    """The claim script runs and its reply is lost: the retry, with the same token, answers
    with the lease taken (its marker names the run), instead of taking another run or none
    (which left the run leased to nobody until the lease ran out, and counted a failed
    attempt when it was reaped)."""
    proxy = LossyProxy(redis_server.port)
    try:
        store = RedisStore(f"redis://127.0.0.1:{proxy.port}/0", prefix="lostclaim")
        # A claim that finds nothing loads the script: the reply lost below is a claim's own.
        assert store.claim(workflows=["contract"]) is None
        store.create(sample_run("r", store.now(), False, None))
        run = store.client._run

        def losing(effect: Script) -> Any:
            if effect.name == "claim" and not proxy.lost:
                proxy.lose_next_reply.set()  # the next reply, the claim's, never arrives
            return run(effect)

        store.client._run = losing  # type: ignore[method-assign]
        lease = store.claim()
        store.client._run = run  # type: ignore[method-assign]
        assert proxy.lost == 1
        assert lease is not None
        assert lease.run_id == "r"
        owner = redis_server.client().hget(store._keys("r").run, "owner")
        assert owner == lease.token.encode()
        with pytest.raises(RunBusy):
            store.acquire("r")
        assert store.reap(RetryPolicy()) == []
        stored = store.load("r")
        store.commit(touched(stored, stored.updated_at), stored.version, lease=lease)
        store.release(lease)
        assert store.load("r").attempts == 0
    finally:
        proxy.close()


def test_runs_evicted_under_memory_pressure_stop_nothing(tmp_path: Path) -> None:
    """On a server allowed to evict (allkeys-random, a small maxmemory), runs and whole
    indexes vanish at random; listings, claims, sweeps and reaping go on past what is gone,
    without an error, and what is left can still be claimed and changed."""
    server = RedisServer(
        tmp_path / "evicting", ["maxmemory 2mb", "maxmemory-policy allkeys-random"]
    ).start()
    try:
        store = RedisStore(f"{server.url}?allow_eviction=1", prefix="evict")
        workflow = Workflow(
            name="evicted", store=store, steps=[Step(name="s", executor=lambda si: "done")]
        )
        for n in range(400):
            workflow.submit("x" * 20_000, run_id=f"r{n}")
        info = server.client().info("stats")
        assert info["evicted_keys"] > 0, "nothing was evicted: the test proves nothing"
        server.client().config_set("maxmemory", "0")  # the pressure ends; what it did stays
        listed = store.list_runs()  # whichever runs and indexes are left: no error
        assert len(listed) < 400
        store.page(limit=100)
        store.expire_due(store.now() + timedelta(days=1))
        store.reap(RetryPolicy())
        client = server.client()
        claimable = {
            text(member)
            for member in client.zrange("evict:{p0}:ready:evicted", 0, -1)
            if client.exists(f"evict:{{p0}}:run:{text(member)}")
        }
        claimed: set[str] = set()
        while len(claimed) < 400 and (lease := store.claim(workflows=["evicted"])) is not None:
            claimed.add(lease.run_id)
            with contextlib.suppress(RunNotFound, CorruptRun):  # evicted since it was claimed
                store.cancel(lease.run_id)  # out of the ready index for good
            store.release(lease)
        assert claimable <= claimed  # nothing left behind dangling entries
    finally:
        server.stop()


def test_a_server_flushed_under_live_stores_is_a_typed_error(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys flushed under a live store: writes, reads of known runs, sweeps and decisions
    raise StoreReset instead of carrying on against an empty keyspace; a store opened
    afterwards starts afresh with a new epoch."""
    prefix = "flushed"
    store = RedisStore(redis_server.url, prefix=prefix)
    run = sample_run("r", store.now(), True, timeout=60)
    store.create(run)
    redis_server.client().flushall()
    with pytest.raises(StoreReset):
        store.commit(touched(run, run.updated_at), run.version)
    with pytest.raises(StoreReset):
        store.load("r")
    with pytest.raises(StoreReset):
        store.expire_due()
    with pytest.raises(StoreReset):
        store.decide("r", "loop:review:1", "confirm")
    with pytest.raises(StoreReset):
        store.create(sample_run("new", store.now(), False, None))
    assert redis_server.client().keys(f"{prefix}:*") == []  # nothing written into the void

    caplog.set_level(logging.WARNING, logger="statemachine")
    worker = Worker(
        [Workflow(name="w", steps=[Step(name="s", executor=lambda si: 1)])],
        store,
        poll_seconds=0.01,
        sweep_seconds=0.01,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        end = threading.Event()
        for _ in range(200):  # the worker meets the reset again and again...
            if any("was reset" in r.getMessage() for r in caplog.records):
                break
            end.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    resets = [r for r in caplog.records if "was reset" in r.getMessage()]
    assert len(resets) == 1  # ... and says so once

    fresh = RedisStore(redis_server.url, prefix=prefix)
    assert fresh.epoch != store.epoch
    fresh.create(sample_run("r", fresh.now(), False, None))


def test_a_server_restarted_empty_is_noticed(tmp_path: Path) -> None:
    """A server without persistence, killed and restarted empty: the live store raises
    StoreReset at its next write and its next sweep."""
    server = RedisServer(tmp_path / "volatile", ["appendonly no"]).start()
    try:
        store = RedisStore(server.url, prefix="volatile")
        run = sample_run("r", store.now(), False, None)
        store.create(run)
        server.kill(signal.SIGKILL)
        server.start()
        with pytest.raises(StoreReset) as info:
            store.commit(touched(run, run.updated_at), run.version)
        assert info.value.expected == store.epoch
        with pytest.raises(StoreReset):
            store.expire_due()
    finally:
        server.stop()
