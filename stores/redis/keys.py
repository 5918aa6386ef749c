"""The Redis key layout: where a run, its indexes and the store's settings live.

Under a prefix, ``<prefix>:meta`` (a hash) holds the partition count, the layout version and
the epoch. Everything else lives in a partition ``<prefix>:{p<N>}``, so that a run and every
index entry it touches share one Cluster slot (one script can change them together), with
``N = crc32(run_id) % partitions``:

==========================  ==============================================================
``run:<id>``                hash: snapshot, version, workflow, state, entry, deadline,
                            ready, at_once, owner, lease_until, fence, error
``runs``                    sorted set: every run, by creation time
``states``                  sorted set read by lexical range: ``<state>|<µs>|<id>``, every
                            run by state, then by its last change (µs since year 1)
``deadlines``               sorted set: paused runs by deadline (seconds)
``ready:<workflow>``        sorted set: runnable runs of one workflow, by when they became
                            runnable (server milliseconds); a worker claims only from the
                            workflows it serves
``workflows``               set: the workflow names with runs in this partition
``leases``                  sorted set: held runs, by lease expiry (server milliseconds)
``dead``                    sorted set: dead-lettered runs, by when (server milliseconds)
``op:<id>``                 string with a TTL: a recent write's operation id
``claim:<token>``           string with the lease's lifetime: the run a worker's claim took
                            (a retry after a lost reply answers it, rather than take another)
``purged:<id>``             string: the tombstone of a run removed for good (its time)
``wake``                    list: a token pushed when a run becomes runnable, which an idle
                            worker's ``BLPOP`` takes to look for work at once (64 at most)
``epoch``                   string: the prefix's epoch, which every write checks
==========================  ==============================================================
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

__all__ = ["LAYOUT", "RunKeys", "parse_entry", "partition", "ready_key", "state_entry", "text"]

LAYOUT = "3"
"""The version of this layout, kept in ``<prefix>:meta``: a prefix written in another layout is
refused, never misread."""

INDEXES = ("runs", "states", "deadlines")


def partition(prefix: str, partitions: int, run_id: str) -> str:
    """The partition tag, ``<prefix>:{p<N>}``, that a run's keys live under."""
    return f"{prefix}:{{p{zlib.crc32(run_id.encode()) % partitions}}}"


def ready_key(tag: str, workflow: str) -> str:
    """The ready index of one workflow in one partition."""
    return f"{tag}:ready:{workflow}"


class RunKeys(NamedTuple):
    """A run's keys: its hash, the indexes a write may touch, those a lease touches."""

    tag: str
    run: str
    write: list[bytes]  # encoded once: the driver checks the type of every argument it encodes
    lease: list[str]

    @classmethod
    def of(cls, tag: str, run_id: str, workflow: str) -> RunKeys:
        run = f"{tag}:run:{run_id}"
        ready = ready_key(tag, workflow)
        names = (
            f"{tag}:runs", f"{tag}:states", f"{tag}:deadlines", ready, f"{tag}:dead",
            f"{tag}:epoch", f"{tag}:workflows",
        )  # fmt: skip
        write = [run.encode(), *(name.encode() for name in names)]
        return cls(tag, run, write, [run, f"{tag}:leases", ready])

    def writing(self, operation: str) -> list[bytes]:
        """The write script's keys, for a write with this operation id."""
        return [
            *self.write, f"{self.tag}:op:{operation}".encode(), self.lease[1].encode(),
            self.purged.encode(), f"{self.tag}:wake".encode(),
        ]  # fmt: skip

    @property
    def purged(self) -> str:
        """The tombstone a removed run leaves (see the purge script)."""
        return f"{self.tag}:purged:{self.run.rpartition(':run:')[2]}"


def text(value: object) -> str:
    """A reply as text (replies are bytes unless the client decodes them)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def state_entry(state: str, changed_at: datetime, run_id: str) -> str:
    """The run's member of the ``states`` index: ordered by state, then by the time of its last
    change (microseconds since year 1, fixed width, so lexical order is time order), then by
    run id. Listings order by the run's own record of its last change, as every store does."""
    return f"{state}|{(changed_at - _YEAR_ONE) // _MICROSECOND:018d}|{run_id}"


def parse_entry(entry: object) -> tuple[int, str] | None:
    """(time of the last change, run id) from a ``states`` entry, or None for junk."""
    parts = text(entry).split("|", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]
