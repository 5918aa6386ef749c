"""The file or SQLite store's page, claim and sweep at 100,000 stored runs against the same
at 1,000.

    python bench/file_indexes.py [--store file|sqlite] [--large 100000] [--rounds 15]

Two stores are built once per run of this script, in a scratch directory on the working
directory's disk, through the store itself without syncing (the file store's
`durable=False`, SQLite's ``synchronous=NORMAL``: so that building 100,000 runs takes
seconds, not minutes; what is stored is what a durable store stores). Each holds
the same mix: 1% pending runs (runnable), 10% completed, and the rest paused for review, one
a second, each with a deadline a day after its pause. Then, with stores opened as in
production (durable), in alternating batches (small store then large store, and the other
way round in the next round):

- page: ``store.page("awaiting_review", limit=50)`` (decodes the 50 runs it returns);
- claim: ``store.claim()`` and the lease released (the same head run each time);
- sweep: ``store.expire_due(now)`` with `now` moved on so that exactly 10 deadlines are due
  (each a durable commit of the run's timeout, one transaction for all ten on SQLite); then
  the same with stores that do not sync, which shows the work of the indexes without the
  disk's flushes, which dominate the first.

The ratio is the median of the per-round ratios of the large store's mean to the small's, with
the lowest and highest beside it; the latencies are the medians of the per-round means.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrs

from statemachine import RunStatus, Store
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run
from stores import FileStore, SqliteStore

DAY = timedelta(days=1)


def opened(kind: str, path: Path, durable: bool = True, create: bool = False) -> Store:
    if kind == "file":
        return FileStore(path, create=create, durable=durable)
    return SqliteStore(path, create=create, synchronous="FULL" if durable else "NORMAL")


def build(kind: str, path: Path, count: int) -> None:
    """`count` runs in the mix the module says, through a store that does not sync."""
    store = opened(kind, path, durable=False, create=True)
    for n in range(count):
        at = EPOCH + timedelta(seconds=n)
        if paused(n):
            run = sample_run(f"run{n:07}", at, True, DAY.total_seconds())
        elif n % 100 == 0:
            run = sample_run(f"run{n:07}", at, False)
        else:
            run = attrs.evolve(sample_run(f"run{n:07}", at, False), status=RunStatus.completed)
        store.create(run)
    store.close()


def timed(operation: Callable[[], object], count: int) -> float:
    """Mean milliseconds of `count` calls."""
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - start) / count * 1000


def page(store: Store) -> Callable[[], object]:
    def call() -> object:
        found = store.page("awaiting_review", limit=50)
        assert len(found) == 50
        return found

    return call


def claim(store: Store) -> Callable[[], object]:
    def call() -> object:
        lease = store.claim()
        assert lease is not None
        store.release(lease)
        return lease

    return call


def paused(n: int) -> bool:
    return n % 100 != 0 and n % 10 != 1


_swept: dict[Path, int] = {}


def _path(store: Store) -> Path:
    assert isinstance(store, FileStore | SqliteStore)
    return store.path


def sweep(store: Store, count: int) -> Callable[[], object]:
    """Each call moves `now` just past the next 10 deadlines, and sweeps once."""
    deadlines = [EPOCH + timedelta(seconds=n) + DAY for n in range(count) if paused(n)]

    def call() -> object:
        done = _swept.get(_path(store), 0)  # a store reopened goes on where it was
        fired = store.expire_due(deadlines[done + 9] + timedelta(microseconds=1))
        _swept[_path(store)] = done + 10
        assert len(fired) == 10, fired
        return fired

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--store", choices=["file", "sqlite"], default="file")
    args = parser.parse_args()
    kind = args.store
    sizes = (args.small, args.large)
    batches: dict[str, tuple[Callable[[Store, int], Callable[[], object]], int]] = {
        "page of 50 awaiting review": (lambda store, _: page(store), 10),
        "claim (and release)": (lambda store, _: claim(store), 40),
        "sweep firing 10 timeouts": (sweep, 2),
        "the same sweep, without sync": (sweep, 2),
    }
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        started = time.perf_counter()
        paths = [base / ("small" if kind == "file" else "small.db"),
                 base / ("large" if kind == "file" else "large.db")]  # fmt: skip
        for path, size in zip(paths, sizes, strict=True):
            build(kind, path, size)
        built = time.perf_counter() - started
        stores = [opened(kind, path) for path in paths]
        print(f"python {sys.version.split()[0]}, {kind} store, {args.rounds} rounds, stores "
              f"built in {built:.0f} s")  # fmt: skip
        print(f"| operation | {args.small:,} runs | {args.large:,} runs | ratio | rounds |")
        print("|---|---|---|---|---|")
        for name, (make, count) in batches.items():
            if "without sync" in name:
                stores = [opened(kind, path, durable=False) for path in paths]
            small, large = (make(store, size) for store, size in zip(stores, sizes, strict=True))
            small(), large()  # warm up
            pairs = []
            for round_ in range(args.rounds):  # which goes first alternates too
                if round_ % 2:
                    big = timed(large, count)
                    pairs.append((timed(small, count), big))
                else:
                    pairs.append((timed(small, count), timed(large, count)))
            ratios = [big / little for little, big in pairs]
            print(
                f"| {name} | {statistics.median(p[0] for p in pairs):.2f} ms "
                f"| {statistics.median(p[1] for p in pairs):.2f} ms "
                f"| {statistics.median(ratios):.2f}x | {min(ratios):.2f}x-{max(ratios):.2f}x |"
            )


if __name__ == "__main__":
    main()
