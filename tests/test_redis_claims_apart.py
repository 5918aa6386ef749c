"""Redis claims across a Cluster's nodes, several workflows and partitions, and through the
asyncio client: the longest-waiting run first, each run once, and a lost reply answered."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import attrs
import pytest

from statemachine import AsyncWorker, InvalidArgument, Step, Worker, Workflow
from statemachine.testing.contract import sample_run
from stores import RedisStore, open_store
from stores.redis.client import Script

from .helpers import aio, cluster_node
from .servers import LossyProxy, RedisServer

WORKFLOWS = ("wa", "wb", "wc")


def on_cluster(cluster: list[RedisServer]) -> RedisStore:
    url = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=1&prefix=k{uuid4().hex[:8]}"
    return RedisStore(url)


def test_cluster_claims_take_the_longest_waiting_first_over_workflows_and_nodes(
    cluster: list[RedisServer],
) -> None:
    """Runs of three workflows over 16 partitions on 3 nodes: claims for some workflows take
    only theirs, and every claim takes the run that became runnable first (by the ready
    index's score) of all those left, each run once."""
    store = on_cluster(cluster)
    runs = {}
    for n in range(36):
        run = attrs.evolve(sample_run(f"r{n}", store.now(), False, None), workflow=WORKFLOWS[n % 3])
        store.create(run)
        runs[run.run_id] = run.workflow
    driver = store.client.driver
    scores = {run_id: driver.zscore(store._keys(run_id).lease[2], run_id) for run_id in runs}
    nodes = {driver.get_node_from_key(store._keys(run_id).run).name for run_id in runs}
    assert len(nodes) == 3
    taken: list[str] = []
    while (lease := store.claim(workflows=["wa", "wb"])) is not None:
        taken.append(lease.run_id)
    assert sorted(taken) == sorted(r for r, w in runs.items() if w in ("wa", "wb"))
    while (lease := store.claim()) is not None:
        taken.append(lease.run_id)
    assert sorted(taken) == sorted(runs)
    first_part = [scores[run_id] for run_id in taken[:24]]
    assert first_part == sorted(first_part)
    assert [scores[run_id] for run_id in taken[24:]] == sorted(scores[r] for r in taken[24:])
    store.close()


def test_an_async_worker_on_a_cluster_runs_every_workflow_to_the_end(
    cluster: list[RedisServer],
) -> None:
    """The asyncio worker claims through the asyncio Cluster client: every run of its two
    workflows, spread over the nodes, completes; a third workflow it does not serve is left."""
    store = on_cluster(cluster)
    served = [
        Workflow(name=name, store=store, steps=[Step(name="s", executor=lambda si: si.input)])
        for name in ("wa", "wb")
    ]
    other = Workflow(name="wc", store=store, steps=[Step(name="s", executor=lambda si: 1)])
    submitted = {flow.submit(n) for flow in served for n in range(12)}
    left = other.submit(0)

    async def main() -> None:
        stop = asyncio.Event()
        worker = AsyncWorker(served, store, concurrency=8, poll_seconds=0.01)
        task = asyncio.create_task(worker.run(stop))
        for _ in range(3000):  # until every run is stored completed, bounded
            done = {run.run_id for run in await store.apage("completed", limit=50)}
            if done >= submitted:
                break
            await asyncio.sleep(0.01)  # polls the stored state, the thing waited for
        stop.set()
        await task

    aio(store, main)
    assert {run.run_id for run in store.page("completed", limit=50)} == submitted
    assert store.load(left).status.value == "pending"
    store.close()


def test_an_awaited_claim_whose_reply_was_lost_returns_the_lease_it_took(
    redis_server: RedisServer,
) -> None:
    """The asyncio client retries a claim whose reply was lost with the same token: the
    answer is the lease the first attempt took, not a second run."""
    proxy = LossyProxy(redis_server.port)
    try:
        store = RedisStore(f"redis://127.0.0.1:{proxy.port}/0", prefix=f"al{uuid4().hex[:8]}")
        for run_id in ("a", "b"):
            store.create(sample_run(run_id, store.now(), False, None))

        async def main() -> Any:
            assert await store.aclaim(workflows=["none"]) is None  # loads the script
            client = store._aclient()
            assert client is not None
            run = client._run

            async def losing(effect: Script) -> Any:
                if effect.name == "claim" and not proxy.lost:
                    proxy.lose_next_reply.set()
                return await run(effect)

            client._run = losing  # type: ignore[method-assign]
            return await store.aclaim()

        lease = aio(store, main)
        assert proxy.lost == 1
        assert lease is not None
        assert lease.run_id == "a"
        owners = [store.client.driver.hget(store._keys(r).run, "owner") for r in ("a", "b")]
        assert owners == [lease.token.encode(), None]  # the second run was never touched
        store.close()
    finally:
        proxy.close()


def test_claims_and_a_worker_reach_every_node_of_a_cluster(cluster: list[RedisServer]) -> None:
    """On a 3-node Cluster, each claim script runs on the node of one partition (the run's
    keys, named inside the script, share its slot): every runnable run is claimed exactly
    once, from every node, until none is left; a worker then executes them all."""
    url = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=1&prefix=w{uuid4().hex[:8]}"
    store = open_store(url)
    assert isinstance(store, RedisStore)
    workflow = Workflow(name="spread", steps=[Step(name="only", executor=lambda si: si.input)])
    bound = workflow.bind(store)
    submitted = {bound.submit(n) for n in range(24)}
    leases = []
    while (lease := store.claim()) is not None:
        leases.append(lease)
    assert sorted(lease.run_id for lease in leases) == sorted(submitted)
    assert len({cluster_node(store, lease.run_id) for lease in leases}) == 3
    for lease in leases:
        store.release(lease)  # runnable again
    worker = Worker([workflow], store)
    while worker.work_once():
        pass
    assert {run.run_id for run in store.page("completed", limit=50)} == submitted
    store.close()


def test_a_cluster_url_the_driver_would_fail_on_is_invalid_argument(
    cluster: list[RedisServer],
) -> None:
    """A timeout no socket can wait, or a codec that is not one, is refused as the URL's
    fault before a Cluster client connects (it used to look like an unreachable Cluster)."""
    base = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=1&prefix=bad"
    for option in (
        "socket_timeout=inf", "socket_timeout=nan", "socket_connect_timeout=-1",
        "encoding=rot13", "encoding_errors=bogus",
    ):  # fmt: skip
        with pytest.raises(InvalidArgument, match="invalid Redis URL"):
            open_store(f"{base}&{option}")
