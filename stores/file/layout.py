"""How the file store lays a run out: its snapshot file, whose first line is a header, and the
index entries that header lists.

A snapshot written by this layout (2) is one JSON object, readable with ``cat`` or ``jq``::

    {"stored":"2 version=7 written=00061a2b3c4d5e crc32=9f3a01c2 state/completed@00061a...",
    "schema_version":3,"run_id":"...", ... ,"version":7}

The first member, ``stored``, is the store's own: the layout, the run's version, when it was
written (microseconds, by the store's clock), a CRC-32 of everything after the first line, and
the run's index entries (``index@key``). The rest is the library's wire format. A writer reads
the version and the entries to replace from the header, and trusts them when the CRC matches:
a file edited by hand, or written by an older layout (a bare wire document), is decoded in
full instead. The header is taken off before the document is decoded.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from statemachine.core.record import RunRecord, RunStatus
from statemachine.store import ready_delay, run_state

__all__ = ["LAYOUT", "Entry", "Stored", "document", "encode", "entries_of", "micros", "parse"]

LAYOUT = 2
_PREFIX = b'{"stored":"2 '
_END = b'",\n'
_HEADER_MAX = 4096  # a header lists at most four entries: far below this
_KEY_MAX = 16**14 - 1  # keys are 14 hex digits: microseconds until the year 4253
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_INDEX = re.compile(r"state/[a-z_]+|ready/[A-Za-z0-9_~-]+/(now|later)|deadline|dead")


class Entry(NamedTuple):
    """One index entry of a run: the index (a directory under ``.index``) and its sort key."""

    path: str
    key: int


class Stored(NamedTuple):
    """What the store needs to know of a stored run without decoding it."""

    version: int
    written: int  # microseconds since 1970, by the store's clock
    entries: frozenset[Entry]


def micros(moment: datetime) -> int:
    """A time as an index key: microseconds since 1970 UTC, within what 14 hex digits hold."""
    return min(max((moment - _EPOCH) // _MICROSECOND, 0), _KEY_MAX)


def moment(key: int) -> datetime:
    """The time an index key stands for."""
    return _EPOCH + key * _MICROSECOND


def workflow_directory(name: str) -> str:
    """The directory of a workflow's ready indexes: its name if that is safe as a file name,
    else a digest of it (prefixed ``~``, which no safe name starts with)."""
    if _SAFE_NAME.fullmatch(name):
        return name
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def entries_of(run: RunRecord, written: int) -> frozenset[Entry]:
    """The index entries of `run` written at `written`: its state (by last change), when it
    is runnable (at once: by write; later: by when), its deadline, and whether it is a dead
    letter (failed with no retry left)."""
    changed = micros(run.updated_at)
    entries = [Entry(f"state/{run_state(run)}", changed)]
    delay = ready_delay(run)
    if delay is not None:
        ready = f"ready/{workflow_directory(run.workflow)}"
        if delay == 0:
            entries.append(Entry(f"{ready}/now", written))
        else:
            entries.append(Entry(f"{ready}/later", min(written + round(delay * 1e6), _KEY_MAX)))
    gate = run.pending_gate
    if gate is not None and gate.deadline is not None and not run.status.is_finished:
        entries.append(Entry("deadline", micros(gate.deadline)))
    if run.status is RunStatus.failed and run.retry_at is None:
        entries.append(Entry("dead", changed))
    return frozenset(entries)


def encode(data: bytes, version: int, written: int, entries: frozenset[Entry]) -> bytes:
    """The file for the wire document `data` (as `encode_run` made it), with its header."""
    body = data[1:]  # the document without its opening brace, which the header's line opens
    listed = " ".join(f"{entry.path}@{entry.key:014x}" for entry in sorted(entries))
    header = f"version={version} written={written:014x} crc32={zlib.crc32(body):08x} {listed}"
    return b"".join((_PREFIX, header.encode(), _END, body))


def _header(blob: bytes) -> tuple[str, bytes] | None:
    """The header's text and the body after it, or None if `blob` has no header."""
    if not blob.startswith(_PREFIX):
        return None
    end = blob.find(_END, len(_PREFIX), _HEADER_MAX)
    if end < 0:
        return None
    try:
        return blob[len(_PREFIX) : end].decode("ascii"), blob[end + len(_END) :]
    except UnicodeDecodeError:
        return None


def document(blob: bytes) -> bytes:
    """The wire document in a snapshot file: without its header, if it has one."""
    found = _header(blob)
    return blob if found is None else b"{" + found[1]


def parse(blob: bytes) -> Stored | None:
    """The header of a snapshot file, if it has one of this layout whose CRC matches its body;
    else None (then the document is to be decoded in full)."""
    found = _header(blob)
    if found is None:
        return None
    text, body = found
    fields = text.split(" ")
    if len(fields) < 4:
        return None
    version, written, crc = (field.partition("=") for field in fields[:3])
    if (version[0], written[0], crc[0]) != ("version", "written", "crc32"):
        return None
    try:
        if int(crc[2], 16) != zlib.crc32(body):
            return None
        entries = []
        for field in fields[3:]:
            index, _, key = field.rpartition("@")
            if not _INDEX.fullmatch(index) or len(key) != 14:
                return None
            entries.append(Entry(index, int(key, 16)))
        return Stored(int(version[2]), int(written[2], 16), frozenset(entries))
    except ValueError:
        return None
