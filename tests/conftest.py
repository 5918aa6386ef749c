"""Shared fixtures, and the Hypothesis profiles: `dev` (quick, the default) and `ci` (thorough,
what `make test` uses)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, settings

from statemachine import Store
from statemachine.testing import EPOCH
from stores import FileStore, MemoryStore, RedisStore, SqliteStore

from .helpers import Clock
from .servers import RedisServer, start_cluster

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    database=None,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

STORE_KINDS = ["memory", "file", "sqlite", "redis"]

StoreFactory = Callable[[str], Store]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """A 3-node Redis Cluster on loopback ports, from Debian's redis-server, for the session
    (each test keeps to its own prefix)."""
    servers = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (AOF on, noeviction), on a free loopback port."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """make_store(kind, name="runs"): an empty store of `kind`; the same name reopens it."""
    made: list[Store] = []
    prefix = f"t{uuid4().hex[:12]}"

    def make(kind: str, name: str = "runs") -> Store:
        store: Store
        if kind == "memory":
            store = MemoryStore()
        elif kind == "file":
            store = FileStore(tmp_path / name)
        elif kind == "sqlite":
            store = SqliteStore(tmp_path / f"{name}.db")
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            store = RedisStore(server.url, prefix=f"{prefix}-{name}")
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, make_store: Callable[..., Store]) -> Store:
    """Each store kind in turn, empty."""
    return make_store(request.param)


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock starting at a fixed instant."""
    return Clock(EPOCH)


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the examples keep their runs: each store kind in turn."""
    if request.param == "memory":
        return "memory://"
    if request.param == "file":
        return f"file://{tmp_path}/runs"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/runs.db"
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=examples-{tmp_path.name}"
