"""A Redis store that waits for replicas: with ``wait_replicas``, each change is followed by
``WAIT`` on the same connection, and a change fewer replicas acknowledged in time raises the
typed `ReplicationUncertain`. Against a real master and a real replica started here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from statemachine import InvalidArgument, ReplicationUncertain, StoreUnavailable
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
