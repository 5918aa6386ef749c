"""A worker's claim on Redis (`scripts/claim.lua`) against the other scripts: what it takes,
what it passes over, what it leaves, and what a retried claim answers."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from uuid import uuid4

import attrs
import pytest

from statemachine import CorruptRun, Lease, LeaseLost, RetryPolicy, RunStatus
from statemachine.testing.contract import sample_run, touched
from stores import RedisStore
from stores.redis.client import Script
from stores.redis.keys import ready_key, text

from .servers import RedisServer


def fresh(server: RedisServer, **options: object) -> RedisStore:
    return RedisStore(server.url, prefix=f"claims{uuid4().hex[:8]}", **options)  # type: ignore[arg-type]


def test_a_claim_looks_past_many_entries_of_gone_runs(redis_server: RedisServer) -> None:
    """Hundreds of entries left by runs that are gone (evicted, deleted by hand) wait ahead of
    a live run: one claim removes them and takes the live run, rather than answer None while
    it is runnable (a worker would go idle with work waiting)."""
    store = fresh(redis_server)
    store.create(sample_run("live", store.now(), False, None))
    tag = store._keys("live").tag
    gone = {f"gone{n}": n for n in range(300)}  # scored before the live run: met first
    redis_server.client().zadd(ready_key(tag, "contract"), gone)
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == "live"
    assert redis_server.client().zcard(ready_key(tag, "contract")) == 0
    store.close()


def test_a_stray_entry_in_another_workflows_ready_index_is_not_claimed(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A run's entry found in the ready index of another workflow (junk, a hand edit): a
    claim for that workflow removes it, logs it once and takes nothing (its worker could not
    execute the run, and would dead-letter it); the run's own workflow still claims it."""
    caplog.set_level(logging.WARNING, logger="statemachine")
    store = fresh(redis_server)
    store.create(sample_run("r", store.now(), False, None))  # of workflow "contract"
    tag = store._keys("r").tag
    redis_server.client().zadd(ready_key(tag, "other"), {"r": 0})
    assert store.claim(workflows=["other"]) is None
    assert redis_server.client().zcard(ready_key(tag, "other")) == 0
    lines = [record.getMessage() for record in caplog.records]
    assert sum("'r'" in line and ":ready:other" in line for line in lines) == 1, lines
    lease = store.claim(workflows=["contract"])
    assert lease is not None
    assert lease.run_id == "r"
    assert store._keys("r").lease[2] == ready_key(tag, "contract")  # its keys stay its own
    store.close()


def test_a_leases_index_of_the_wrong_type_fails_a_claim_and_a_hold_before_any_change(
    redis_server: RedisServer,
) -> None:
    """Redis does not roll a script back: the claim and lease scripts write the indexes that
    can refuse first, so a corrupt leases key fails them with CorruptRun and the run's hash
    is left as it was (not marked held by a lease that no index knows of)."""
    store = fresh(redis_server)
    store.create(sample_run("r", store.now(), False, None))
    keys = store._keys("r")
    admin = redis_server.client()
    admin.set(keys.lease[1], "junk")  # the partition's leases index
    before = admin.hgetall(keys.run)
    with pytest.raises(CorruptRun):
        store.claim()
    with pytest.raises(CorruptRun):
        store.acquire("r")
    assert admin.hgetall(keys.run) == before
    admin.delete(keys.lease[1])
    assert store.claim() is not None  # repaired: claimed as usual
    store.close()


def ready_of(server: RedisServer, store: RedisStore, run_id: str) -> float | None:
    keys = store._keys(run_id)
    return server.client().zscore(keys.lease[2], run_id)


def lease_until(server: RedisServer, store: RedisStore, run_id: str) -> int:
    return int(server.client().hget(store._keys(run_id).run, "lease_until") or 0)


def wait_until_lease_runs_out(server: RedisServer, store: RedisStore, run_id: str) -> None:
    """Wait, bounded, until the server's clock passes the run's lease expiry."""
    until = lease_until(server, store, run_id)
    pause = threading.Event()
    for _ in range(1000):
        if store.now().timestamp() * 1000 >= until + 1:  # live while until >= now, in ms
            return
        pause.wait(0.005)  # polls the server's clock, the thing waited for
    raise AssertionError("the lease did not run out")


def test_a_claim_takes_the_run_out_of_ready_into_leases_with_a_higher_fence(
    redis_server: RedisServer,
) -> None:
    """A claim moves the run from its ready index to the leases, by the lease's expiry (the
    server's time plus the lease), and raises the fence above the last holder's."""
    store = fresh(redis_server, lease_seconds=5)
    store.create(sample_run("r", store.now(), False, None))
    held = store.acquire("r")
    store.release(held)
    before = store.now().timestamp() * 1000
    lease = store.claim()
    assert lease is not None
    assert lease.fence == held.fence + 1
    assert ready_of(redis_server, store, "r") is None
    tag = store._keys("r").tag
    expiry = redis_server.client().zscore(f"{tag}:leases", "r")
    assert expiry == lease_until(redis_server, store, "r")
    assert int(before) - 1 + 5000 <= expiry <= store.now().timestamp() * 1000 + 5001
    store.close()


def test_an_expired_claim_is_reaped_with_an_attempt_and_its_holder_fenced_off(
    redis_server: RedisServer,
) -> None:
    """A worker that stalls past its lease: the reaper counts an attempt and makes the run
    runnable again; the next claim takes it with a higher fence, and the stalled holder's
    commit is refused with LeaseLost while the new holder's goes through."""
    store = fresh(redis_server, lease_seconds=0.15)
    store.create(sample_run("r", store.now(), False, None))
    first = store.claim()
    assert first is not None
    assert store.claim() is None  # held: not claimed twice
    wait_until_lease_runs_out(redis_server, store, "r")
    assert store.claim() is None  # out of ready until reaped
    assert store.reap(RetryPolicy(base_seconds=60)) == ["r"]
    reaped = store.load("r")
    assert reaped.attempts == 1
    assert store.claim() is None  # waits for its backoff...
    second = store.claim(store.now() + timedelta(seconds=61))  # ...which a later time passes
    assert second is not None
    assert second.fence > first.fence  # the reaper held it in between: higher still
    with pytest.raises(LeaseLost):
        store.commit(touched(reaped, reaped.updated_at), reaped.version, lease=first)
    store.commit(touched(reaped, reaped.updated_at), reaped.version, lease=second)
    store.close()


def test_a_run_being_reaped_cannot_be_claimed_before_its_backoff(
    redis_server: RedisServer,
) -> None:
    """The reaper takes an expired lease over and counts the attempt in one fenced commit that
    gives it back: a claim made between its two scripts finds the run held, not runnable at
    its old time (it used to give the lease back first, and a claim then skipped the
    backoff, only for its commit to lose to the reaper's)."""
    store = fresh(redis_server, lease_seconds=0.15)
    other = RedisStore(redis_server.url, prefix=store.prefix)
    store.create(sample_run("r", store.now(), False, None))
    assert store.claim() is not None
    wait_until_lease_runs_out(redis_server, store, "r")
    meanwhile: list[Lease | None] = []
    run = store.client._run

    def claim_between(effect: Script) -> Any:
        reply = run(effect)
        if not meanwhile:  # right after the reaper's first script
            meanwhile.append(other.claim())
        return reply

    store.client._run = claim_between  # type: ignore[method-assign]
    assert store.reap(RetryPolicy(base_seconds=60)) == ["r"]
    store.client._run = run  # type: ignore[method-assign]
    assert meanwhile == [None]
    assert store.load("r").attempts == 1
    assert other.claim() is None  # the backoff holds
    assert other.claim(store.now() + timedelta(seconds=61)) is not None
    other.close()
    store.close()


def test_reaping_a_run_left_paused_gives_its_lease_back_without_an_attempt(
    redis_server: RedisServer,
) -> None:
    """A run held (`acquire`) and left paused when the lease ran out has nothing to count:
    the reaper writes nothing, and still gives back the lease it took over."""
    store = fresh(redis_server, lease_seconds=0.15)
    store.create(sample_run("p", store.now(), True, timeout=60))
    store.acquire("p")
    wait_until_lease_runs_out(redis_server, store, "p")
    assert store.reap(RetryPolicy()) == ["p"]
    assert store.load("p").attempts == 0
    store.release(store.acquire("p"))  # free again
    store.close()


def test_a_held_run_is_never_claimed_and_its_release_makes_it_claimable(
    redis_server: RedisServer,
) -> None:
    """A run held through `acquire` is passed over by claims, even once a write (not fenced)
    makes it runnable meanwhile; its release puts it back, and the next claim takes it."""
    store = fresh(redis_server)
    paused = sample_run("r", store.now(), True, None)
    store.create(paused)
    held = store.acquire("r")
    store.commit(attrs.evolve(touched(paused, paused.updated_at), status=RunStatus.pending,
                              gates=()), paused.version)  # fmt: skip
    assert store.claim() is None
    store.release(held)
    lease = store.claim()
    assert lease is not None
    assert lease.fence == held.fence + 1
    store.close()


def test_a_run_deleted_while_ready_is_never_claimed(redis_server: RedisServer) -> None:
    """A run purged, or whose hash was deleted by hand, while in the ready index: no claim
    returns it, its entry is gone, and the runs behind it are still claimed."""
    store = fresh(redis_server)
    for run_id in ("a", "b", "c"):
        store.create(sample_run(run_id, store.now(), False, None))
    store.delete("a", store.version("a"))
    redis_server.client().delete(store._keys("b").run)
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == "c"
    assert store.claim() is None
    assert redis_server.client().zcard(store._keys("c").lease[2]) == 0
    store.close()


def test_a_retried_claim_answers_its_live_lease_and_nothing_once_it_is_given_back(
    redis_server: RedisServer,
) -> None:
    """The claim script run twice with one token (a retry after a lost reply): the second
    answers the same run and fence without raising it; once that lease was given back (and
    the run taken by another), the same token never answers that run with the old fence."""
    store = fresh(redis_server, lease_seconds=0.25)
    store.create(sample_run("r", store.now(), False, None))
    tag = store._keys("r").tag
    key = ready_key(tag, "contract")
    score = str(int(store.now().timestamp() * 1000))

    def claim_with(token: str) -> list[Any]:
        script = Script("claim", [key, f"{tag}:leases", f"{tag}:claim:{token}"],
                        [f"{tag}:run:", score, token, "250", "64", "contract"], key)  # fmt: skip
        reply: list[Any] = store.client.carry(script)
        return reply

    first = claim_with("t1")
    again = claim_with("t1")
    assert (text(first[0]), text(first[5]), first[6]) == ("ok", "r", 1)
    assert (text(again[0]), text(again[5]), again[6]) == ("ok", "r", 1)
    marker = redis_server.client().pttl(f"{tag}:claim:t1")
    assert 0 < marker <= 250  # the lease's lifetime, in milliseconds
    admin = redis_server.client()
    run_key = f"{tag}:run:r"
    until = admin.hget(run_key, "lease_until")
    admin.hset(run_key, "lease_until", 1)  # as if it ran out while the marker lasted
    # Not answered from the marker: that lease is over (and the run is no longer ready).
    assert text(claim_with("t1")[0]) == "none"
    admin.hset(run_key, "lease_until", until)
    store.release(Lease("r", "t1", 1))
    other = store.claim()
    assert other is not None
    assert other.fence == 2
    assert text(claim_with("t1")[0]) == "none"
    store.close()


def test_a_run_made_runnable_at_once_is_claimed_whatever_the_time_named(
    redis_server: RedisServer,
) -> None:
    """As on every store (`Store.claim`): a claim made with an earlier time than the server's
    still takes a run made runnable at once, from one ready index or among several, while a
    run waiting for its backoff waits until the time named passes it."""
    store = fresh(redis_server)
    now = store.now()
    store.create(sample_run("r", now, False, None))
    earlier = now - timedelta(hours=1)
    first = store.claim(earlier)
    assert first is not None
    assert first.run_id == "r"
    store.create(attrs.evolve(sample_run("other", now, False, None), workflow="other"))
    second = store.claim(earlier)
    assert second is not None
    assert second.run_id == "other"
    run = store.load("r")  # failed once: runnable again after a minute's backoff
    retry_at = run.updated_at + timedelta(minutes=1)
    failing = attrs.evolve(touched(run, run.updated_at), status=RunStatus.failed, retry_at=retry_at)
    store.commit_last(failing, run.version, lease=first)
    assert store.claim(earlier) is None
    assert store.claim(workflows=["contract"]) is None
    assert store.claim(store.now() + timedelta(minutes=2)) is not None
    store.close()


def test_concurrent_claims_take_each_run_once_and_leave_none(redis_server: RedisServer) -> None:
    """Four processes' worth of stores claim at once from one ready index: the script picks
    and leases in one step, so every run is taken exactly once, and no claim comes back
    empty while a free run is left."""
    prefix = f"race{uuid4().hex[:8]}"
    store = RedisStore(redis_server.url, prefix=prefix)
    for n in range(200):
        store.create(sample_run(f"r{n}", store.now(), False, None))
    taken: list[list[str]] = [[] for _ in range(4)]
    go = threading.Barrier(4)

    def claim_all(mine: list[str]) -> None:
        own = RedisStore(redis_server.url, prefix=prefix)
        go.wait()
        while (lease := own.claim()) is not None:
            mine.append(lease.run_id)
        own.close()

    threads = [threading.Thread(target=claim_all, args=(each,)) for each in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [run_id for each in taken for run_id in each]
    assert sorted(every) == sorted(f"r{n}" for n in range(200))
    assert all(taken), [len(each) for each in taken]  # all four took part
    store.close()
