"""Physical floors the benchmarks compare against, measured the same way everywhere."""

from __future__ import annotations

import os
import time
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
