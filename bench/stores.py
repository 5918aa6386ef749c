"""Commit latency of each store next to its physical floor, measured in the same run.

    python bench/stores.py [--batch 200] [--rounds 25] [--only file]

- Redis: `RedisStore.commit` (one EVALSHA: compare-and-set, operation id, snapshot and
  indexes) against a `PING` round trip on the same connection pool, to a redis-server this
  script starts on a free loopback port (AOF on, `appendfsync everysec`).
- File: `FileStore.commit` (lock, version check from the header, durable atomic write, index
  entries moved) against a bare durable write of the same bytes: temp file, fsync, rename,
  fsync of the directory. ``--only file`` times this one alone.
- SQLite: `SqliteStore.commit` (one `BEGIN IMMEDIATE` transaction: the version checked in the
  `UPDATE`, the snapshot and every indexed column written) against a bare SQLite commit of the
  same bytes, with the same settings (WAL, `synchronous=FULL`): one `UPDATE` of a one-row
  table by its primary key.
- Memory: `MemoryStore.commit`, for scale.

The run committed is realistic (one gate, a short history), and each commit is a real
change: successive versions alternate between paused for review (with a deadline) and pending
again after a rejection, each at a later time, so every commit moves the run in the states,
deadlines and ready indexes (Redis's sorted sets, SQLite's indexes). Records are built before
timing; encoding them is part of a commit, so it is timed.

Each store and its floor are timed in alternating batches (a batch of commits, then a batch
of the floor), so that both see the same machine: a VM's speed drifts by tens of percent
within a minute. The ratio is the median of the per-batch ratios (the lowest and
highest beside it); the latencies are the medians of the per-batch means.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrs

from bench.floors import durable_write_us, sqlite_committer
from statemachine import MemoryStore, Reject, RunRecord, RunStatus, Store, dumps, step
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run as new_run
from statemachine.testing.contract import touched
from stores import FileStore, RedisStore, SqliteStore
from tests.servers import RedisServer


def sample(run_id: str) -> RunRecord:
    """A typical paused run a few transitions in."""
    run = new_run(run_id, EPOCH, True, 3600)
    for _ in range(6):
        run = touched(run, run.updated_at)
    return run


def shapes(run_id: str) -> tuple[RunRecord, RunRecord]:
    """The run paused for review, and pending again after the review was rejected."""
    paused = sample(run_id)
    gate, _ = step(paused.gates[0], Reject("shorter"), paused.updated_at)
    return paused, attrs.evolve(paused, status=RunStatus.pending, gates=(gate,))


def committer(store: Store, run_id: str) -> Callable[[int], float]:
    """Mean microseconds per commit over `count` successive versions of one run."""
    both = shapes(run_id)
    store.create(both[0])
    versions: Iterator[int] = itertools.count(both[0].version)

    def commit_us(count: int) -> float:
        first = next(versions)
        runs = [
            attrs.evolve(
                both[(first + n) % 2],
                version=first + n,
                updated_at=EPOCH + timedelta(seconds=first + n),
            )
            for n in range(count + 1)
        ]
        for _ in range(count - 1):
            next(versions)
        start = time.perf_counter()
        for previous, run in itertools.pairwise(runs):
            store.commit(run, previous.version)
        return (time.perf_counter() - start) / count * 1e6

    return commit_us


def pinger(store: RedisStore) -> Callable[[int], float]:
    ping = store.client.driver.ping

    def ping_us(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            ping()
        return (time.perf_counter() - start) / count * 1e6

    return ping_us


def paired(
    subject: Callable[[int], float], floor: Callable[[int], float], batch: int, rounds: int
) -> tuple[float, float, float, float, float]:
    """Median subject and floor latencies, the median ratio of alternating batches, and the
    lowest and highest of those ratios."""
    subject(batch // 4), floor(batch // 4)  # warm up: connections, caches, scripts
    pairs = [(subject(batch), floor(batch)) for _ in range(rounds)]
    ratios = [s / f for s, f in pairs]
    return (
        statistics.median(s for s, _ in pairs),
        statistics.median(f for _, f in pairs),
        statistics.median(ratios),
        min(ratios),
        max(ratios),
    )


def row(name: str, measured: tuple[float, float, float, float, float], floor: str) -> str:
    """A line of the results table."""
    subject, base, ratio, low, high = measured
    return (
        f"| {name} | {subject:,.1f} µs | {floor} | {base:,.1f} µs | {ratio:.2f}x "
        f"| {low:.2f}x-{high:.2f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200, help="Redis operations per batch")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--only", choices=["file"], help="time only this store's commit")
    args = parser.parse_args()
    size = len(dumps(sample("x")).encode())
    if args.only == "file":
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
            base = Path(scratch)
            file = paired(
                committer(FileStore(base / "runs"), "f"),
                lambda count: durable_write_us(base, size, count),
                args.batch // 4,
                args.rounds,
            )
        print(f"python {sys.version.split()[0]}, {args.rounds} rounds, snapshot {size} bytes")
        print(
            "| operation | median | floor | median | ratio | batches |\n|---|---|---|---|---|---|"
        )
        print(row("file commit", file, "bare durable write"))
        return
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        server = RedisServer(base / "redis").start()
        try:
            redis_store = RedisStore(server.url, prefix="bench")
            redis = paired(
                committer(redis_store, "r"), pinger(redis_store), args.batch, args.rounds
            )
            file = paired(
                committer(FileStore(base / "runs"), "f"),
                lambda count: durable_write_us(base, size, count),
                args.batch // 4,
                args.rounds,
            )
            # Batches of 200, not 50: in batches of 50 the bare commit, alternating with the
            # store's, cost twice its steady state on this VM (and flattered the store, 0.73x).
            sqlite = paired(
                committer(SqliteStore(base / "runs.db"), "s"),
                sqlite_committer(base / "floor.db", size),
                args.batch,
                args.rounds,
            )
            memory = committer(MemoryStore(), "m")(args.batch * 10)
        finally:
            server.stop()
    hiredis = "with" if _has_hiredis() else "without"
    print(
        f"python {sys.version.split()[0]}, redis-py {hiredis} hiredis, {args.rounds} rounds, "
        f"snapshot {size} bytes"
    )
    print("| operation | median | floor | median | ratio | batches |")
    print("|---|---|---|---|---|---|")
    print(row("redis commit", redis, "PING"))
    print(row("file commit", file, "bare durable write"))
    print(row("sqlite commit", sqlite, "bare SQLite WAL commit"))
    print(f"| memory commit | {memory:,.1f} µs | | | | |")


def _has_hiredis() -> bool:
    from redis.utils import HIREDIS_AVAILABLE

    return bool(HIREDIS_AVAILABLE)


if __name__ == "__main__":
    main()
