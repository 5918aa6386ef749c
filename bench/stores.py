"""Commit latency of each store next to its physical floor, measured in the same run.

    python bench/stores.py [--commits 2000] [--rounds 7]

- Redis: `RedisStore.commit` (one EVALSHA: compare-and-set, operation id, snapshot and
  indexes) against a `PING` round trip on the same connection pool, to a redis-server this
  script starts on a free loopback port (AOF on, `appendfsync everysec`).
- File: `FileStore.commit` (lock, version check, durable atomic write) against a bare durable
  write of the same bytes: temp file, fsync, rename, fsync of the directory.
- Memory: `MemoryStore.commit`, for scale.

The record committed is a realistic paused run (one gate, a review pending, a short history).
Records are built before timing; encoding them is part of a commit, so it is timed.
Each figure is the median over rounds of the mean per operation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

import attrs

from bench.floors import durable_write_us
from statemachine import MemoryStore, RunRecord, Store, dumps
from statemachine.contract import sample_run as new_run
from statemachine.contract import touched
from stores import FileStore, RedisStore
from tests.servers import RedisServer


def chain(first: RunRecord, count: int) -> list[RunRecord]:
    """Successive versions of one run, all the same size (a typical paused run's)."""
    base = first
    for _ in range(6):  # a short history, as a run a few transitions in has
        base = touched(base, base.updated_at)
    return [attrs.evolve(base, version=base.version + n) for n in range(count + 1)]


def commit_us(store: Store, run_id: str, count: int) -> float:
    from statemachine.testing import EPOCH

    runs = chain(new_run(run_id, EPOCH, True, 3600), count)
    store.create(runs[0])
    start = time.perf_counter()
    for previous, run in itertools.pairwise(runs):
        store.commit(run, previous.version)
    return (time.perf_counter() - start) / count * 1e6


def ping_us(store: RedisStore, count: int) -> float:
    ping = store._client.ping
    start = time.perf_counter()
    for _ in range(count):
        ping()
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        server = RedisServer(base / "redis").start()
        try:
            redis_store = RedisStore(server.url, prefix="bench")
            file_store = FileStore(base / "runs")
            memory_store = MemoryStore()
            from statemachine.testing import EPOCH

            size = len(dumps(chain(new_run("x", EPOCH, True, 3600), 0)[0]).encode())
            samples: dict[str, list[float]] = {}
            measures: list[tuple[str, Callable[[int], float]]] = [
                ("redis commit", lambda n: commit_us(redis_store, f"r{n}", args.commits)),
                ("redis PING", lambda n: ping_us(redis_store, args.commits)),
                ("file commit", lambda n: commit_us(file_store, f"f{n}", args.commits // 4)),
                (
                    "bare durable write",
                    lambda n: durable_write_us(base, size, args.commits // 4),
                ),
                ("memory commit", lambda n: commit_us(memory_store, f"m{n}", args.commits)),
            ]
            for round_ in range(args.rounds):
                for name, measure in measures:
                    samples.setdefault(name, []).append(measure(round_))
        finally:
            server.stop()
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, snapshot {size} bytes")
    print("| operation | median | ratio to its floor |\n|---|---|---|")
    rows = [
        ("redis commit", "redis PING"),
        ("redis PING", None),
        ("file commit", "bare durable write"),
        ("bare durable write", None),
        ("memory commit", None),
    ]
    for name, floor in rows:
        ratio = f"{median[name] / median[floor]:.2f}x" if floor else ""
        print(f"| {name} | {median[name]:,.1f} µs | {ratio} |")


if __name__ == "__main__":
    main()
