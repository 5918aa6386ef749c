"""What only the Redis store has: keys and slots, scripts, leases, the server's clock, TLS,
ACLs, Cluster, and what it says (and does not say) when things go wrong."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import attrs
import pytest
import redis
from redis.crc import key_slot

from statemachine import (
    ConflictError,
    CorruptRun,
    DeadlinePassed,
    HumanReview,
    InvalidArgument,
    LeaseLost,
    Loop,
    RunBusy,
    RunExists,
    RunNotFound,
    RunStatus,
    Step,
    StoreError,
    StoreUnavailable,
    UnsafeStoreConfiguration,
    Workflow,
)
from statemachine.testing.contract import sample_run as new_run
from statemachine.testing.contract import touched
from stores import RedisConfigWarning, RedisStore, open_store

from .helpers import cluster_node
from .servers import RedisServer, make_certificates


def fresh(server: RedisServer, **options: object) -> RedisStore:
    return RedisStore(server.url, prefix=f"t{uuid4().hex[:10]}", **options)  # type: ignore[arg-type]


def reviewed_workflow(store: RedisStore, name: str = "redis_flow") -> Workflow:
    return Workflow(
        name=name,
        store=store,
        steps=[
            Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
            Loop(
                name="loop",
                steps=[Step(name="refine", executor=lambda si: f"draft {si.iteration}")],
                human_review=HumanReview(
                    requires_iteration_review=True, on_reject="retry", timeout=60
                ),
            ),
        ],
    )


def test_every_key_lives_under_the_prefix_and_a_run_shares_a_slot_with_its_indexes(
    redis_server: RedisServer,
) -> None:
    """Keys are <prefix>:{pN}:...; a run's hash, ops and every index it touches hash to one slot."""
    store = fresh(redis_server, partitions=4)
    workflow = reviewed_workflow(store)
    run_ids = [workflow.run(f"in {n}").run_id for n in range(12)]
    keys = [
        key.decode() if isinstance(key, bytes) else key
        for key in redis_server.client().keys(f"{store.prefix}*")
    ]
    assert keys
    assert all(key.startswith(f"{store.prefix}:") for key in keys)
    for run_id in run_ids:
        own = store._keys(run_id)
        names = [*own.write, *(key.encode() for key in own.lease), f"{own.tag}:op:x".encode()]
        slots = {key_slot(name) for name in names}
        assert len(slots) == 1
    assert {key.split(":")[1] for key in keys if "{" in key} <= {"{p0}", "{p1}", "{p2}", "{p3}"}


def test_partitions_are_fixed_once_a_prefix_has_them(redis_server: RedisServer) -> None:
    """A prefix remembers its partition count; asking for another one is refused."""
    store = fresh(redis_server, partitions=3)
    assert RedisStore(redis_server.url, prefix=store.prefix).partitions == 3
    with pytest.raises(ValueError, match="already uses 3 partitions"):
        RedisStore(redis_server.url, prefix=store.prefix, partitions=5)


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        ({"partitions": "1"}, "holds runs in an earlier one of keys"),
        ({"partitions": "1", "layout": "9"}, "holds runs in layout 9 of keys"),
        ({"layout": "2"}, "holds runs in layout 2 of keys"),
        ({"layout": "3", "epoch": "e"}, "partition count is None"),
        ({"partitions": "many", "layout": "3", "epoch": "e"}, "partition count is b'many'"),
        ({"partitions": "0", "layout": "3", "epoch": "e"}, "partition count is b'0'"),
        ({"partitions": "1", "layout": "3"}, "its epoch None"),
    ],
)
def test_a_prefix_in_another_key_layout_is_refused(
    redis_server: RedisServer, meta: dict[str, str], error: str
) -> None:
    """A prefix whose meta says another key layout (or nothing usable) is refused, typed,
    instead of being misread."""
    prefix = f"old{uuid4().hex[:8]}"
    for field, value in meta.items():
        redis_server.client().hset(f"{prefix}:meta", field, value)
    with pytest.raises(StoreError, match=error):
        RedisStore(redis_server.url, prefix=prefix)
    assert redis_server.client().hgetall(f"{prefix}:meta") == {
        key.encode(): value.encode() for key, value in meta.items()
    }


@pytest.mark.parametrize("prefix", ["", "{tag}", "a b", "x" * 65, "a/b", "é"])
def test_prefixes_that_could_escape_the_namespace_are_refused(
    redis_server: RedisServer, prefix: str
) -> None:
    """Braces, separators, spaces, empty and over-long prefixes raise InvalidArgument."""
    with pytest.raises(ValueError, match="invalid key prefix"):
        RedisStore(redis_server.url, prefix=prefix)


def test_scripts_survive_script_flush(redis_server: RedisServer) -> None:
    """After SCRIPT FLUSH the store reloads its scripts and goes on writing."""
    store = fresh(redis_server)
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    redis_server.client().script_flush()
    run = store.load("r")
    store.commit(touched(run, run.updated_at), run.version)
    assert store.load("r").version == run.version + 1


def test_runs_and_scripts_survive_a_server_restart(tmp_path: Path) -> None:
    """Stop the server, start it again from its AOF: the runs are there and writes go on."""
    server = RedisServer(tmp_path / "restart").start()
    try:
        store = RedisStore(server.url, prefix="restart")
        workflow = reviewed_workflow(store)
        out = workflow.run("x")
        server.stop()
        server.start()
        resumed = workflow.get_run(out.run_id)
        assert resumed.is_paused
        resumed.requirements[0].confirm()
        assert workflow.continue_run(out.run_id).status is RunStatus.completed
    finally:
        server.stop()


def test_the_servers_clock_is_the_stores_and_the_workflows(redis_server: RedisServer) -> None:
    """store.now() is the server's TIME, and workflows without a clock use it for deadlines."""
    store = fresh(redis_server)
    seconds, micros = redis_server.client().time()
    assert abs(store.now() - datetime.fromtimestamp(seconds + micros / 1e6, UTC)) < timedelta(
        seconds=1
    )
    out = reviewed_workflow(store).run("x")
    deadline = out.requirements[0].deadline
    assert deadline is not None
    assert abs(deadline - (store.now() + timedelta(seconds=60))) < timedelta(seconds=2)


def test_due_timeouts_are_found_through_the_index_in_batches(redis_server: RedisServer) -> None:
    """250 overdue pauses all end in one sweep; runs not due are left alone."""
    store = fresh(redis_server)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for n in range(250):
        store.create(new_run(f"due{n}", start, True, 60))
    store.create(new_run("later", start + timedelta(hours=1), True, 60))
    fired = store.expire_due(start + timedelta(seconds=61))
    assert sorted(fired) == sorted(f"due{n}" for n in range(250))
    assert store.load("later").status is RunStatus.paused
    assert store.expire_due(start + timedelta(seconds=61)) == []


def test_a_page_costs_what_the_page_holds(redis_server: RedisServer) -> None:
    """Listing 10 paused runs reads 10 snapshots, however many runs are stored."""
    store = fresh(redis_server)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for n in range(300):
        store.create(new_run(f"run{n:03}", start + timedelta(seconds=n), n % 2 == 0, None))
    client = redis_server.client()
    client.config_resetstat()
    page = store.page("awaiting_review", limit=10)
    stats = client.info("commandstats")
    assert [run.run_id for run in page] == [f"run{n:03}" for n in range(298, 278, -2)]
    assert stats["cmdstat_hget"]["calls"] == 10
    assert stats["cmdstat_zrevrangebylex"]["calls"] == store.partitions


def test_a_replayed_write_answers_duplicate_and_changes_nothing(redis_server: RedisServer) -> None:
    """The same operation id twice (a retry after a lost reply) is applied once."""
    store = fresh(redis_server)
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    run = store.load("r")
    new = touched(run, run.updated_at)
    store._put(new, "commit", run.version, None, operation="op-1")
    store._put(new, "commit", run.version, None, operation="op-1")  # the retry: no error
    assert store.load("r") == new
    with pytest.raises(ConflictError):  # another operation on the old version is a conflict
        store._put(new, "commit", run.version, None, operation="op-2")
    newer = touched(new, new.updated_at)
    store.commit(newer, new.version)  # another write lands before the retry
    store._put(new, "commit", run.version, None, operation="op-1")  # still a duplicate
    with pytest.raises(RunExists):
        store._put(run, "create", -1, None, operation="op-4")
    assert store.load("r") == newer


def test_a_refused_write_retried_is_refused_again(redis_server: RedisServer) -> None:
    """Only an applied write is remembered: its operation id, retried after a refusal or a
    failure, gets the same answer again, never "duplicate"."""
    store = fresh(redis_server)
    run = new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None)
    store.create(run)
    new = touched(run, run.updated_at)
    for _ in range(2):
        with pytest.raises(ConflictError):
            store._put(new, "commit", run.version + 1, None, operation="stale")
        with pytest.raises(RunExists):
            store._put(run, "create", -1, None, operation="again")
        with pytest.raises(RunNotFound):
            store._put(attrs.evolve(new, run_id="nobody"), "commit", 0, None, operation="lost")
    client = redis_server.client()
    client.delete(store._keys("r").run)
    client.set(store._keys("r").run, "junk")
    for _ in range(2):
        with pytest.raises(CorruptRun):
            store._put(new, "commit", run.version, None, operation="on-junk")


def test_an_index_of_the_wrong_type_fails_the_write_before_the_run_changes(
    redis_server: RedisServer,
) -> None:
    """Redis does not roll a script back: the run's hash is written after its indexes, so a
    foreign key where an index belongs fails the write, typed, with the run unchanged, and
    the same write succeeds once the key is repaired."""
    store = fresh(redis_server)
    run = new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None)
    store.create(run)
    client = redis_server.client()
    states = f"{store._keys('r').tag}:states"
    client.rename(states, f"{states}:aside")
    client.set(states, "foreign")
    new = touched(run, run.updated_at + timedelta(seconds=1))
    with pytest.raises(CorruptRun):
        store._put(new, "commit", run.version, None, operation="op")
    assert store.load("r") == run
    client.rename(f"{states}:aside", states)
    store._put(new, "commit", run.version, None, operation="op")
    assert store.load("r") == new


def test_a_run_written_while_held_stays_out_of_the_ready_index(
    redis_server: RedisServer,
) -> None:
    """A held run made runnable by another process (a decision) is not claimable until its
    holder releases it; the release puts it back."""
    store = fresh(redis_server)
    paused = new_run("r", datetime(2030, 1, 1, tzinfo=UTC), True, None)
    store.create(paused)
    lease = store.acquire("r")
    pending = attrs.evolve(touched(paused, paused.updated_at), status=RunStatus.pending, gates=())
    store.commit(pending, paused.version)
    ready = f"{store._keys('r').tag}:ready:{paused.workflow}"
    assert redis_server.client().zscore(ready, "r") is None
    assert store.claim(datetime(2031, 1, 1, tzinfo=UTC)) is None
    store.release(lease)
    assert redis_server.client().zscore(ready, "r") is not None
    assert store.claim(datetime(2031, 1, 1, tzinfo=UTC)) is not None


def test_a_paused_run_with_no_pending_request_is_refused(redis_server: RedisServer) -> None:
    """A record no index could list is refused before anything is sent."""
    store = fresh(redis_server)
    run = attrs.evolve(
        new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None), status=RunStatus.paused
    )
    with pytest.raises(ValueError, match="no gate has a pending request"):
        store.create(run)
    assert not redis_server.client().exists(store._keys("r").run)


def test_a_holder_that_lost_its_lease_cannot_commit(redis_server: RedisServer) -> None:
    """Once a lease ran out and another process holds the run, the old holder is fenced out."""
    store = fresh(redis_server, lease_seconds=30)
    other = RedisStore(redis_server.url, prefix=store.prefix)
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    with store.hold("r") as lease:
        with pytest.raises(RunBusy):
            other.hold("r").__enter__()
        redis_server.client().hset(store._keys("r").run, "lease_until", 0)  # as if it stalled
        with other.hold("r") as newer:
            assert newer.fence > lease.fence
            run = store.load("r")
            with pytest.raises(LeaseLost):
                store.commit(touched(run, run.updated_at), run.version, lease=lease)
            other.commit(touched(run, run.updated_at), run.version, lease=newer)
    assert store.load("r").version == run.version + 1


def test_a_held_lease_is_renewed_by_its_heartbeat(redis_server: RedisServer) -> None:
    """A hold that outlasts its lease stays valid: the heartbeat renews it. The test waits for
    the renewals themselves (the lease's expiry moving past where it first was), not for a
    guessed time."""
    store = fresh(redis_server, lease_seconds=1.5)
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    key = store._keys("r").run
    with store.hold("r") as lease:
        first = int(redis_server.client().hget(key, "lease_until") or 0)
        end = time.monotonic() + 30
        while store.now().timestamp() * 1000 <= first + 100:  # outlive the first lease
            assert time.monotonic() < end, "the lease was never renewed"
            time.sleep(0.02)  # polls the server's clock, bounded by `end`
        assert int(redis_server.client().hget(key, "lease_until") or 0) > first
        run = store.load("r")
        store.commit(touched(run, run.updated_at), run.version, lease=lease)
        with pytest.raises(RunBusy):
            RedisStore(redis_server.url, prefix=store.prefix).hold("r").__enter__()


def test_an_eviction_policy_that_could_lose_runs_is_refused_unless_allowed(tmp_path: Path) -> None:
    """A server that may evict runs (allkeys-*) is refused, typed, writing nothing, unless the
    URL allows it; one that may evict only keys with a TTL (volatile-*) is warned about."""
    server = RedisServer(tmp_path / "lru", ["maxmemory-policy allkeys-lru"]).start()
    try:
        with pytest.raises(UnsafeStoreConfiguration, match="allkeys-lru"):
            RedisStore(server.url, prefix="p")
        assert server.client().keys("*") == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            store = open_store(f"{server.url}?prefix=p&allow_eviction=1")
        assert isinstance(store, RedisStore)
        server.client().config_set("maxmemory-policy", "volatile-lru")
        with pytest.warns(RedisConfigWarning, match="volatile-lru"):
            RedisStore(server.url, prefix="p")
    finally:
        server.stop()


def test_an_unreachable_server_is_reported_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No server: StoreUnavailable after the retries, naming the address, never the password."""
    caplog.set_level(logging.DEBUG)
    url = "redis://alice:hunter2secret@127.0.0.1:1/0?retry_seconds=0.2"
    with pytest.raises(StoreUnavailable) as info:
        RedisStore(url)
    assert "127.0.0.1:1" in str(info.value)
    assert "hunter2secret" not in str(info.value)
    assert "hunter2secret" not in str(info.value.__cause__)
    assert "hunter2secret" not in caplog.text


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Path]]:
    """A TLS-only server with an ACL user alice (password from the URL), default user off."""
    directory = tmp_path_factory.mktemp("tls")
    certs = make_certificates(directory / "certs")
    server = RedisServer(
        directory / "server",
        [
            f"tls-cert-file {certs['server.crt']}",
            f"tls-key-file {certs['server.key']}",
            f"tls-ca-cert-file {certs['ca.crt']}",
            "tls-auth-clients no",
            "user default off",
            "user alice on >s3cret-Pass ~* &* +@all",
        ],
        tls=True,
    ).start()
    yield server, certs["ca.crt"]
    server.stop()


def test_rediss_with_tls_and_an_acl_user_from_the_url(
    tls_server: tuple[RedisServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """rediss://alice:password@... runs a workflow over TLS; the password shows nowhere."""
    server, ca = tls_server
    caplog.set_level(logging.DEBUG)
    url = f"rediss://alice:s3cret-Pass@127.0.0.1:{server.port}/0?ssl_ca_certs={ca}&prefix=tls"
    store = open_store(url)
    assert isinstance(store, RedisStore)
    assert "s3cret-Pass" not in repr(store)
    assert "***" in repr(store)
    workflow = reviewed_workflow(store)
    out = workflow.run("over tls")
    out.requirements[0].confirm()
    assert workflow.continue_run(out.run_id).status is RunStatus.completed
    wrong = f"rediss://alice:not-the-Pass@127.0.0.1:{server.port}/0?ssl_ca_certs={ca}"
    with pytest.raises(StoreUnavailable) as info:
        RedisStore(wrong)
    assert "not-the-Pass" not in str(info.value)
    assert "s3cret-Pass" not in caplog.text
    assert "not-the-Pass" not in caplog.text


def test_driver_errors_never_escape_as_redis_exceptions(redis_server: RedisServer) -> None:
    """A key of the wrong type where a run should be is CorruptRun, not redis.ResponseError."""
    store = fresh(redis_server)
    store.create(new_run("r", datetime(2030, 1, 1, tzinfo=UTC), False, None))
    redis_server.client().delete(store._keys("r").run)
    redis_server.client().lpush(store._keys("r").run, "junk")
    with pytest.raises(CorruptRun) as info:
        store.load("r")
    assert not isinstance(info.value, redis.RedisError)
    assert "wrong type" in str(info.value)


def test_the_store_works_on_a_cluster(cluster: list[RedisServer]) -> None:
    """On a 3-node Cluster, runs spread over partitions on every node, and workflows, pages
    and sweeps work as on one server."""
    url = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=1&prefix=c{uuid4().hex[:8]}"
    store = open_store(url)
    assert isinstance(store, RedisStore)
    assert store.partitions == 16
    workflow = reviewed_workflow(store)
    outs = [workflow.run(f"in {n}") for n in range(24)]
    nodes = {cluster_node(store, out.run_id) for out in outs}
    assert len(nodes) == 3  # the runs are spread over the whole cluster
    assert len(store.page("awaiting_review", limit=50)) == 24
    # Pages merge the 16 partitions in one order, from either end.
    in_order = [out.run_id for out in outs]
    newest = [run.run_id for run in store.page("awaiting_review", limit=5, offset=3)]
    assert newest == in_order[::-1][3:8]
    oldest = store.page("awaiting_review", limit=5, offset=3, oldest_first=True)
    assert [run.run_id for run in oldest] == in_order[3:8]
    later = store.now() + timedelta(seconds=61)
    assert sorted(store.expire_due(later)) == sorted(out.run_id for out in outs)
    with pytest.raises(DeadlinePassed):  # the sweep ended that pause first
        outs[0].requirements[0].reject("again")
    assert workflow.get_run(outs[1].run_id).states["loop"].value == "cancelled"


def test_open_store_parses_redis_urls(redis_server: RedisServer) -> None:
    """prefix, partitions, lease_seconds and retry_seconds come from the URL's query."""
    url = f"{redis_server.url}?prefix=urlprefix{uuid4().hex[:6]}&partitions=2&lease_seconds=12"
    store = open_store(url)
    assert isinstance(store, RedisStore)
    assert (store.partitions, store.lease_seconds) == (2, 12.0)
    assert store.prefix.startswith("urlprefix")
    for bad in ("lease_seconds=-1", "retry_seconds=inf", "lease_seconds=nan"):
        with pytest.raises(InvalidArgument, match="must be a number of seconds"):
            open_store(f"{redis_server.url}?{bad}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_store(f"{redis_server.url}?prefix=quiet")  # noeviction: no warning
