"""The inbox's listing costs the page, not the store: ``GET /api/requests?limit=50`` over real
HTTP against a SQLite store holding a few paused runs, and one holding many more paused and
finished runs, measured in the same run.

    python bench/inbox.py [--small 100] [--large 20000] [--batch 20] [--rounds 15]

Both stores are filled with records written directly (a paused run is one created and
paused for review; a finished one, completed): a page reads the state indexes, so what
matters is how many runs the indexes hold. Each store is served by its own uvicorn server on
a free loopback port, and the two are timed in alternating batches, so both see the same
machine. The ratio (large over small) is the median of the per-batch ratios, with the lowest
and highest beside it; about 1 means the listing's cost does not grow with the store.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrs

from statemachine import RunStatus
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run
from stores import SqliteStore
from tests.web import WebServer


def filled(path: Path, paused: int, finished: int) -> SqliteStore:
    """A SQLite store with `paused` runs waiting for review and `finished` completed ones."""
    store = SqliteStore(path, create=True, synchronous="NORMAL")
    for n in range(paused + finished):
        run = sample_run(f"run-{n:07d}", EPOCH + timedelta(seconds=n), paused=n < paused)
        if n >= paused:
            run = attrs.evolve(run, status=RunStatus.completed, cursor=None)
        store.create(run)
    return store


def batch(port: int, count: int) -> float:
    """Mean seconds of one listing, over `count` on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for _ in range(count):
        connection.request("GET", "/api/requests?limit=50")
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, body[:200]
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        small = filled(Path(folder, "small.db"), args.small, 0)
        large = filled(Path(folder, "large.db"), args.large // 2, args.large - args.large // 2)
        print(f"filled in {time.perf_counter() - started:.0f} s")
        servers = [WebServer(small), WebServer(large)]
        try:
            for server in servers:
                batch(server.port, 5)  # warm up
            timings: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                timings.append((batch(servers[0].port, args.batch),
                                batch(servers[1].port, args.batch)))  # fmt: skip
        finally:
            for server in servers:
                server.stop()
            small.close()
            large.close()
    ratios = sorted(b / a for a, b in timings)
    small_ms = statistics.median(a for a, _ in timings) * 1000
    large_ms = statistics.median(b for _, b in timings) * 1000
    print(f"GET /api/requests?limit=50, {args.rounds} rounds of {args.batch}")
    print(f"  {args.small} paused runs:      {small_ms:.2f} ms (median of batch means)")
    print(f"  {args.large // 2} paused + {args.large - args.large // 2} completed: "
          f"{large_ms:.2f} ms")  # fmt: skip
    print(f"  ratio large/small: {statistics.median(ratios):.2f} "
          f"(lowest {ratios[0]:.2f}, highest {ratios[-1]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
