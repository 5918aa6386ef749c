"""A Redis store that waits for replicas: with ``wait_replicas``, each change is followed by
``WAIT`` on the same connection, and a change fewer replicas acknowledged in time raises the
typed `ReplicationUncertain`. Against a real master and a real replica started here."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from statemachine import (
    InvalidArgument,
    ReplicationUncertain,
    StoreError,
    StoreUnavailable,
)
from statemachine.testing.contract import sample_run as new_run
from statemachine.testing.contract import touched
from stores import RedisStore, open_store

from .servers import RedisServer

WHEN = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A master and a replica of it, online: synced, and counted by ``WAIT`` (waited for,
    bounded)."""
    # Stopping, a master waits for its replicas to catch up, 10 s by default: not for a dead one.
    master = RedisServer(
        tmp_path / "master", ["shutdown-timeout 0", "repl-diskless-sync-delay 0"]
    ).start()
    # No AOF on the replica: one stopped while it writes its first AOF refuses to exit.
    replica = RedisServer(
        tmp_path / "replica", [f"replicaof 127.0.0.1 {master.port}", "appendonly no"]
    ).start()
    try:
        end = time.monotonic() + 30
        while master.client().info("replication").get("slave0", {}).get("state") != "online":
            assert time.monotonic() < end, "the replica never came online"
            time.sleep(0.02)  # polls the master's replication state, bounded by `end`
        yield master, replica
    finally:
        replica.stop()
        master.stop()


def test_a_change_waited_for_is_on_the_replica_when_it_is_acknowledged(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    master, replica = pair
    prefix = f"t{uuid4().hex[:8]}"
    store = open_store(f"{master.url}?prefix={prefix}&wait_replicas=1&wait_timeout_ms=5000")
    assert isinstance(store, RedisStore)
    assert (store.wait_replicas, store.wait_timeout_ms) == (1, 5000)
    store.create(new_run("r", WHEN, False, None))
    run = store.load("r")
    store.commit(touched(run, run.updated_at), run.version)
    key = store._keys("r").run
    # No wait here: acknowledged means the replica has it already.
    assert replica.client().hget(key, "version") == str(run.version + 1).encode()
    store.close()


def test_a_change_no_replica_acknowledged_raises_replication_uncertain(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    master, replica = pair
    prefix = f"t{uuid4().hex[:8]}"
    patient = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=10_000)
    patient.create(new_run("r", WHEN, False, None))
    patient.close()
    replica.kill()
    store = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=200)
    run = store.load("r")
    with pytest.raises(ReplicationUncertain) as raised:
        store.commit(touched(run, run.updated_at), run.version)
    error = raised.value
    assert isinstance(error, StoreUnavailable)
    assert (error.run_id, error.wanted, error.acknowledged) == ("r", 1, 0)
    assert "may not be replicated" in str(error)
    # The change was made on the master: it is not undone, only not known to be safe.
    assert store.load("r").version == run.version + 1
    store.close()


def test_a_change_awaited_no_replica_acknowledged_raises_replication_uncertain(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    import asyncio

    master, replica = pair
    prefix = f"t{uuid4().hex[:8]}"
    patient = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=10_000)
    store = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=200)

    async def main() -> None:
        async with patient, store:
            await patient.acreate(new_run("r", WHEN, False, None))
            replica.kill()
            run = await store.aload("r")
            with pytest.raises(ReplicationUncertain):
                await store.acommit(touched(run, run.updated_at), run.version)

    asyncio.run(main())
    store.close()
    patient.close()


def test_wait_settings_are_checked(redis_server: RedisServer) -> None:
    for query in ("wait_replicas=-1", "wait_replicas=x", "wait_timeout_ms=0", "wait_replicas=101"):
        with pytest.raises(InvalidArgument):
            open_store(f"{redis_server.url}?prefix=w{uuid4().hex[:6]}&{query}")
    plain = RedisStore(redis_server.url, prefix=f"w{uuid4().hex[:6]}")
    assert plain.wait_replicas == 0
    plain.close()


def _promote(replica: RedisServer) -> None:
    """Make the replica a master, as a failover would (Sentinel sends the same command)."""
    replica.client().replicaof("NO", "ONE")


def test_a_master_killed_mid_stream_loses_no_change_that_was_acknowledged(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    """Commits stream to the master; another thread kills it (kill -9) at some point of the
    stream; the replica is promoted. Every change a commit acknowledged is on it."""
    master, replica = pair
    prefix = f"t{uuid4().hex[:8]}"
    store = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=5000,
                       retry_seconds=0.5)  # fmt: skip
    run_ids = [f"r{n}" for n in range(10)]
    for run_id in run_ids:
        store.create(new_run(run_id, WHEN, False, None))
    acknowledged = {run_id: store.load(run_id) for run_id in run_ids}
    enough = threading.Event()

    def kill_when_enough() -> None:
        enough.wait(60)
        master.kill()

    killer = threading.Thread(target=kill_when_enough)
    killer.start()
    failure: StoreError | None = None
    try:
        for count in itertools.count():
            run = acknowledged[run_ids[count % len(run_ids)]]
            changed = touched(run, run.updated_at)
            try:
                store.commit(changed, run.version)
            except StoreError as exc:  # the master died: typed, never a driver's error
                failure = exc
                break
            acknowledged[run.run_id] = changed
            if count == 200:
                enough.set()
            assert count < 100_000, "the master was never killed"
    finally:
        enough.set()
        killer.join(60)
    assert isinstance(failure, StoreUnavailable)
    _promote(replica)
    promoted = RedisStore(replica.url, prefix=prefix)
    for run_id, run in acknowledged.items():
        assert promoted.load(run_id).version >= run.version, run_id
    # The promoted replica is a master: the runs go on there.
    again = promoted.load(run_ids[0])
    promoted.commit(touched(again, again.updated_at), again.version)
    promoted.close()
    store.close()


def test_without_waiting_an_acknowledged_change_can_be_lost_in_a_failover(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    """The window `wait_replicas` closes: a replica cut off from its master (stopped, its
    link broken, as a partition would) misses a change the master acknowledged; the master
    dies, the replica is promoted, and that change is gone. Waiting, such a change is refused
    with `ReplicationUncertain` instead of acknowledged."""
    master, replica = pair
    prefix = f"t{uuid4().hex[:8]}"
    plain = RedisStore(master.url, prefix=prefix, retry_seconds=0.5)
    waiting = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=200,
                         retry_seconds=0.5)  # fmt: skip
    patient = RedisStore(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=10_000)
    patient.create(new_run("r", WHEN, False, None))  # on the replica once acknowledged
    patient.create(new_run("w", WHEN, False, None))
    patient.close()
    replica.pause()
    master.client().client_kill_filter(_type="replica")  # nothing more reaches the replica
    try:
        run = plain.load("r")
        plain.commit(touched(run, run.updated_at), run.version)  # acknowledged
        assert plain.load("r").version == run.version + 1
        other = waiting.load("w")
        with pytest.raises(ReplicationUncertain):
            waiting.commit(touched(other, other.updated_at), other.version)
        master.kill()
    finally:
        replica.resume()
    _promote(replica)
    promoted = RedisStore(replica.url, prefix=prefix)
    assert promoted.load("r").version == run.version  # the acknowledged change is lost
    promoted.close()
    plain.close()
    waiting.close()
