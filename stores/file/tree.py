"""The file store's indexes on disk: empty files whose names sort as their entries do.

An entry ``(index, key)`` of run ``r`` is the empty file (a hard link: `Tree.add`)
``.index/<index>/<k[0:4]>/<k[4:6]>/<k[6:8]>/<k>.<r>``, where ``k`` is the key in 14 hex
digits (microseconds). Names of one directory sort as their keys do, so reading an index in
order is reading a few small directories in order, and stopping when there is enough: a page
or a claim reads what it returns, not the whole index. The three levels keep each directory
small: a leaf spans 17 seconds (so it holds what was written in 17 seconds, for keys that
are times of writes), the levels above it 72 minutes and 13 days; none but the first has more
than 256 entries, and a store written at one run a second has a directory for every 17 runs,
not one for each. The ready indexes, read by every claim, have a fourth level: leaves of one
second, so that a backlog of runnable runs written in a burst costs a claim little (listing
a directory costs about 0.35 µs an entry); their entries go as runs are claimed, so the
directories they need stay few.
Writers leave directories they empty (a run moving back and forth between two states would
make and remove them at every write); readers remove the empty ones they meet, so that each
costs one pass at most.

Entries are made and removed without fsync: the repair (`repair`) rebuilds them from the
snapshots, which are durable. Names that are not entries (put there by hand) are logged once
and passed over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from statemachine.store import LOG, is_run_id
from statemachine.store.logs import log_once

from .layout import Entry

__all__ = ["Tree"]

_LEVELS = ((0, 4), (4, 6), (6, 8))  # leaves of 17 s
_READY_LEVELS = (*_LEVELS, (8, 9))  # leaves of 1 s, for the indexes every claim reads


def _levels(index: str) -> tuple[tuple[int, int], ...]:
    return _READY_LEVELS if index.startswith("ready/") else _LEVELS


_HEX = frozenset("0123456789abcdef")
_MODE = stat.S_IFREG | 0o644
_NO_LINKS = frozenset((errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP))


def _remove_empty(directory: str) -> None:
    """Remove a directory found empty (a writer making an entry in it meanwhile makes it
    again: `Tree.add`)."""
    with contextlib.suppress(OSError):  # not empty any more, or removed by another reader
        os.rmdir(directory)


class Tree:
    """The indexes of one store, under `root` (``<store>/.index``); the runs' write locks,
    to which entries are linked, are in `anchors`."""

    def __init__(self, root: Path, anchors: Path) -> None:
        self.root = root
        self._root = str(root)
        self._anchors = str(anchors)

    def _directory(self, entry: Entry) -> tuple[str, str]:
        key = f"{entry.key:014x}"
        levels = _levels(entry.path)
        parts = [self._root, entry.path, *(key[start:end] for start, end in levels)]
        return os.path.join(*parts), key

    def add(self, entry: Entry, run_id: str) -> None:
        """Make the entry (if it exists already, nothing changes). Raises OSError.

        An entry is a hard link to the run's write-lock file, which exists while the writer
        holds the lock: a link allocates no inode, and costs a small fraction of creating a
        file (15 µs against 0.6 to 1.8 ms on a busy ext4, measured). Without that file, the
        entry is a file of its own."""
        directory, key = self._directory(entry)
        path = os.path.join(directory, f"{key}.{run_id}")
        anchor = os.path.join(self._anchors, f"{run_id}.write")
        for _ in range(100):  # a directory found empty and removed by a reader meanwhile
            try:
                try:
                    os.link(anchor, path)
                except FileNotFoundError:
                    if os.path.lexists(anchor):
                        raise  # the directory is missing: made below
                    os.mknod(path, _MODE)
                except OSError as exc:
                    if exc.errno not in _NO_LINKS:
                        raise
                    os.mknod(path, _MODE)  # a file system without hard links (or out of them)
                return
            except FileExistsError:
                return
            except FileNotFoundError:
                # A reader may remove a parent found empty while this makes its child: again.
                with contextlib.suppress(FileNotFoundError):
                    os.makedirs(directory, exist_ok=True)
        raise OSError(errno.EAGAIN, f"cannot make the index entry {path}")

    def remove(self, entry: Entry, run_id: str) -> None:
        """Remove the entry (its directory stays: readers remove the empty ones they pass,
        so that a run moving back and forth between two states does not make and remove
        directories at every write). Raises OSError."""
        directory, key = self._directory(entry)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, f"{key}.{run_id}"))

    def indexes(self, parent: str) -> list[str]:
        """The names of the directories in ``.index/<parent>`` (the workflows of ``ready``)."""
        try:
            return sorted(os.listdir(os.path.join(self._root, parent)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def descending(self, index: str) -> Iterator[tuple[int, str]]:
        """The (key, run id) entries of `index`, latest first."""
        return self._walk(os.path.join(self._root, index), _levels(index), 0, True)

    def ascending(self, index: str, below: int | None = None) -> Iterator[tuple[int, str]]:
        """The (key, run id) entries of `index`, earliest first; only keys below `below`."""
        for item in self._walk(os.path.join(self._root, index), _levels(index), 0, False):
            if below is not None and item[0] >= below:
                return
            yield item

    def _walk(
        self, directory: str, levels: tuple[tuple[int, int], ...], depth: int, latest_first: bool
    ) -> Iterator[tuple[int, str]]:
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return  # emptied and removed meanwhile, or never made
        if not names and depth:
            _remove_empty(directory)
            return
        names.sort(reverse=latest_first)
        if depth < len(levels):
            start, end = levels[depth]
            for name in names:
                if len(name) != end - start or not _HEX.issuperset(name):
                    self._junk(directory, name)
                    continue
                yield from self._walk(
                    os.path.join(directory, name), levels, depth + 1, latest_first
                )
            return
        for name in names:
            key, dot, run_id = name[:14], name[14:15], name[15:]
            if dot != "." or not _HEX.issuperset(key) or not is_run_id(run_id):
                self._junk(directory, name)
                continue
            yield int(key, 16), run_id

    def _junk(self, directory: str, name: str) -> None:
        log_once(LOG, f"{directory}/{name}", "file store index %s: passing over %r, which is "
                 "not an index entry", directory, name[:80])  # fmt: skip

    def everything(self) -> Iterator[tuple[Entry, str]]:
        """Every entry of every index, for the repair."""
        for top in ("state", "ready"):
            for name in self.indexes(top):
                kinds = self.indexes(f"{top}/{name}") if top == "ready" else [""]
                for kind in kinds:
                    index = f"{top}/{name}/{kind}" if kind else f"{top}/{name}"
                    for key, run_id in self.ascending(index):
                        yield Entry(index, key), run_id
        for index in ("deadline", "dead"):
            for key, run_id in self.ascending(index):
                yield Entry(index, key), run_id
