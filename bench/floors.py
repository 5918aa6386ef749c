"""Physical floors the benchmarks compare against, measured the same way everywhere."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path


def durable_write_us(directory: Path, size: int, count: int) -> float:
    """Mean microseconds of a bare durable write of `size` bytes: a temp file written and
    fsynced, renamed over the target, and the directory fsynced, as the file store does."""
    data = b"x" * size
    final = directory / "floor.json"
    start = time.perf_counter()
    for n in range(count):
        temp = directory / f".floor.{n}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(temp, final)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    return (time.perf_counter() - start) / count * 1e6


def sqlite_committer(path: Path, size: int) -> Callable[[int], float]:
    """A bare SQLite commit of `size` bytes, as `SqliteStore` is configured (WAL,
    ``synchronous=FULL``): ``BEGIN IMMEDIATE``, one ``UPDATE`` of a one-row table by its
    primary key, ``COMMIT``. Returns a function giving the mean microseconds of `count` of
    them; successive commits alternate between two payloads, so every one changes the row."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS floor (id TEXT PRIMARY KEY, data TEXT NOT NULL)")
    payloads = ("x" * size, "y" * size)
    db.execute("INSERT OR REPLACE INTO floor VALUES ('run', ?)", (payloads[0],))

    made = itertools.count(1)  # across calls: SQLite writes nothing for an unchanged row

    def commit_us(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE floor SET data = ? WHERE id = 'run'", (payloads[next(made) % 2],))
            db.execute("COMMIT")
        return (time.perf_counter() - start) / count * 1e6

    return commit_us
