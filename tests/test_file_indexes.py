"""The file store's indexes agree with a full scan of its snapshots: after any sequence of
writes, sweeps and claims, after writers killed with SIGKILL mid-write, and, once repaired,
after a crash of the machine that lost entries; old-layout stores are indexed and migrated."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from statemachine import RunNotFound, RunRecord, RunStatus
from statemachine.cli.app import main
from statemachine.cli.commands import EXIT_USAGE
from statemachine.core.codec import encode_run
from statemachine.store import STATES, plans, ready_delay
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run
from stores import FileStore
from stores.file.layout import Entry, micros, moment

ROOT = Path(__file__).parent.parent
SHAPES = ("pending", "review", "review-timeout", "retry", "dead", "completed", "cancelled")
WORKFLOWS = ("w", "another one/é")  # the second is no file name: its ready index is a digest
IDS = ("r1", "r2", "r3", "r4")


def shaped(run_id: str, shape: str, now: datetime, version: int, workflow: str) -> RunRecord:
    """A run in one of the `SHAPES`, at `version`, changed at `now`."""
    base = sample_run(run_id, now, paused=shape.startswith("review"),
                      timeout=60 if shape == "review-timeout" else None)  # fmt: skip
    every: dict[str, dict[str, Any]] = {
        "retry": {"status": RunStatus.failed, "retry_at": now + timedelta(seconds=5),
                  "error": "boom"},
        "dead": {"status": RunStatus.failed, "error": "boom"},
        "completed": {"status": RunStatus.completed},
        "cancelled": {"status": RunStatus.cancelled},
    }  # fmt: skip
    changes = every.get(shape, {})
    return attrs.evolve(base, version=version, updated_at=now, workflow=workflow, **changes)


def write(store: FileStore, run_id: str, shape: str, now: datetime, workflow: str) -> None:
    """Create the run, or commit it over its stored version, in `shape`."""
    try:
        version = store.version(run_id)
    except RunNotFound:
        store.create(shaped(run_id, shape, now, 0, workflow))
        return
    store.commit(shaped(run_id, shape, now, version + 1, workflow), version)


def raw(store: FileStore) -> set[tuple[Entry, str]]:
    """Every entry on disk."""
    return set(store._tree.everything())


def listed(store: FileStore) -> set[tuple[Entry, str]]:
    """Every entry the snapshots' headers list."""
    return {(entry, run_id) for run_id in store.run_ids()
            for entry in store._stored(run_id).entries}  # fmt: skip


def claims(store: FileStore, at: datetime, workflows: list[str] | None = None) -> list[str]:
    """The runs claims take, in order, holding each until all are taken."""
    leases = []
    while (lease := store.claim(at, workflows=workflows)) is not None:
        leases.append(lease)
    for lease in leases:
        store.release(lease)
    return [lease.run_id for lease in leases]


def scanned_claims(store: FileStore, at: datetime, workflows: list[str] | None = None) -> list[str]:
    """The same, worked out from every snapshot, as a store without indexes does."""
    waiting = []
    for run, written in store.scan():
        if workflows is not None and run.workflow not in workflows:
            continue
        delay = ready_delay(run)
        if delay is not None:
            due = written + timedelta(seconds=delay)
            if delay == 0 or due <= at:
                waiting.append((due, run.run_id))
    return [run_id for _, run_id in sorted(waiting)]


def due(store: FileStore, at: datetime) -> list[str]:
    """The runs whose deadline entries are due at `at` (and listed by their snapshot)."""
    found = store._due(micros(at), 10_000)
    return sorted(r for key, r in found if Entry("deadline", key) in entries(store, r))


def entries(store: FileStore, run_id: str) -> frozenset[Entry]:
    """The entries the run's snapshot lists (none if it is gone)."""
    try:
        return store._stored(run_id).entries
    except RunNotFound:
        return frozenset()


def scanned_due(store: FileStore, at: datetime) -> list[str]:
    found = []
    for run, _ in store.scan():
        gate = run.pending_gate
        if gate and gate.deadline and not run.status.is_finished and gate.deadline < at:
            found.append(run.run_id)
    return sorted(found)


def assert_agree(store: FileStore, at: datetime) -> None:
    """Pages, dead letters, claims and due deadlines, through the indexes and by a full scan."""
    for state, oldest in itertools.product((None, *STATES), (False, True)):
        indexed = [run.run_id for run in store.page(state, limit=1000, oldest_first=oldest)]
        scanned = [run.run_id for run in store._run(plans.page(state, 1000, 0, oldest))]
        assert indexed == scanned, (state, oldest)
        failed = store._run(plans.page("failed", 1000, 0, oldest))
        assert [r.run_id for r in store.dead(limit=1000, oldest_first=oldest)] == [
            r.run_id for r in plans.dead(failed, 1000, 0)
        ]
    assert claims(store, at) == scanned_claims(store, at)
    for workflow in WORKFLOWS:
        assert claims(store, at, [workflow]) == scanned_claims(store, at, [workflow])
    assert due(store, at) == scanned_due(store, at)


class IndexAgreement(RuleBasedStateMachine):
    """Any sequence of operations on a real store directory: the indexes answer as a scan."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="file-indexes-"))
        self.store = FileStore(self.directory, create=True, durable=False)
        self.now = EPOCH

    def teardown(self) -> None:
        shutil.rmtree(self.directory)

    @rule(run_id=st.sampled_from(IDS), shape=st.sampled_from(SHAPES),
          workflow=st.sampled_from(WORKFLOWS))  # fmt: skip
    def write(self, run_id: str, shape: str, workflow: str) -> None:
        write(self.store, run_id, shape, self.now, workflow)

    @rule(seconds=st.sampled_from([1, 30, 61, 3600]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def sweep(self) -> None:
        self.store.expire_due(self.now)

    @rule(run_id=st.sampled_from(IDS))
    def delete_by_hand(self, run_id: str) -> None:
        (self.directory / f"{run_id}.json").unlink(missing_ok=True)

    @rule(run_id=st.sampled_from(IDS), shape=st.sampled_from(SHAPES), data=st.data())
    def writer_dies(self, run_id: str, shape: str, data: st.DataObject) -> None:
        """A writer killed mid-write: its new entries made, its snapshot written or not, its
        old entries left."""
        if not (self.directory / f"{run_id}.json").exists():
            return
        stored = self.store._stored(run_id)
        new = shaped(run_id, shape, self.now, stored.version + 1, "w")
        written = self.store._written()
        from stores.file.layout import encode, entries_of

        for entry in entries_of(new, written):
            self.store._tree.add(entry, run_id)
        if data.draw(st.booleans()):
            blob = encode(encode_run(new), new.version, written, entries_of(new, written))
            (self.directory / f"{run_id}.json").write_bytes(blob)

    @rule(data=st.data(), reboot=st.booleans())
    def machine_crashes(self, data: st.DataObject, reboot: bool) -> None:
        """Entries lost (never synced) and stale ones left; then the repair: at the next
        open after a reboot, or by `doctor --reindex`."""
        entries = sorted(raw(self.store))
        for entry, run_id in data.draw(st.lists(st.sampled_from(entries), unique=True)
                                       if entries else st.just([])):  # fmt: skip
            self.store._tree.remove(entry, run_id)
        for run_id in data.draw(st.lists(st.sampled_from(IDS), max_size=3)):
            self.store._tree.add(Entry("state/pending", micros(self.now) + 7), run_id)
            self.store._tree.add(Entry("ready/w/now", micros(self.now)), run_id)
        if reboot:
            (self.directory / ".index" / "layout").write_text("indexes complete in boot 0\n")
            self.store = FileStore(self.directory, durable=False)
        else:
            self.store.reindex()
        assert raw(self.store) == listed(self.store)

    @precondition(lambda self: self.store.run_ids())
    @invariant()
    def indexes_agree_with_a_scan(self) -> None:
        assert raw(self.store) >= listed(self.store)
        assert_agree(self.store, self.now)


TestIndexAgreement = IndexAgreement.TestCase


def keep_writing(path: str, seed: int) -> None:
    """Change runs' shapes forever, durably, until killed."""
    chosen = random.Random(seed)
    store = FileStore(path)
    now = EPOCH
    while True:
        now += timedelta(seconds=chosen.choice([1, 61]))
        write(store, chosen.choice(IDS), chosen.choice(SHAPES), now, chosen.choice(WORKFLOWS))


def test_writers_killed_mid_write_leave_indexes_that_agree(tmp_path: Path) -> None:
    """kill -9 of a real writer at 100 random instants: every entry a snapshot lists exists,
    the indexes answer as a scan does, and `doctor --reindex` removes the stale entries."""
    store = FileStore(tmp_path / "runs", create=True)
    for run_id in IDS:
        write(store, run_id, "pending", EPOCH, "w")
    forked = multiprocessing.get_context("fork")
    stale = 0
    for round_ in range(100):
        writer = forked.Process(target=keep_writing, args=(str(store.path), round_))
        writer.start()
        time.sleep(random.uniform(0.005, 0.05))
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join()
        assert raw(store) >= listed(store)
        stale += len(raw(store) - listed(store))
        assert_agree(store, EPOCH + timedelta(days=365))
    assert stale > 0, "no writer died between its snapshot and its entries: this proves nothing"
    assert max(store.version(run_id) for run_id in IDS) > 10  # the writers made progress
    done = subprocess.run(
        [sys.executable, "-m", "statemachine", "doctor", "--reindex", "--json",
         "--store", f"file://{store.path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert raw(store) == listed(store)
    assert_agree(store, EPOCH + timedelta(days=365))


def test_an_old_layout_store_is_indexed_when_opened_and_migrated_by_doctor(
    tmp_path: Path,
) -> None:
    """Snapshots written before indexes (bare wire documents, no .index) load, list, claim
    and sweep at once; `doctor --reindex --migrate` rewrites them with their header."""
    path = tmp_path / "runs"
    path.mkdir()
    for number, shape in enumerate(SHAPES):
        run = shaped(f"old-{number}", shape, EPOCH + timedelta(seconds=number), 3, "w")
        (path / f"{run.run_id}.json").write_bytes(encode_run(run))
    store = FileStore(path)
    assert store.version("old-2") == 3
    assert raw(store) == listed(store)
    assert len(store.page(limit=100)) == len(SHAPES)
    assert_agree(store, EPOCH + timedelta(days=1))
    assert not (path / "old-0.json").read_bytes().startswith(b'{"stored"')
    done = subprocess.run(
        [sys.executable, "-m", "statemachine", "doctor", "--reindex", "--migrate",
         "--store", f"file://{path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{len(SHAPES)} snapshots migrated" in done.stdout
    for number in range(len(SHAPES)):
        assert (path / f"old-{number}.json").read_bytes().startswith(b'{"stored":"2 version=3 ')
    assert_agree(store, EPOCH + timedelta(days=1))
    assert moment(micros(EPOCH)) == EPOCH


def test_doctor_on_a_store_without_file_indexes_says_there_is_nothing_to_do(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "statemachine", "doctor", "--reindex",
         "--store", f"sqlite://{tmp_path}/runs.db"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "nothing to reindex" in done.stdout
    assert main(["doctor", "--store", f"file://{tmp_path}"]) == EXIT_USAGE  # says what to do


def test_a_store_whose_indexes_cannot_be_checked_reads_every_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the indexes cannot be checked or rebuilt (here `.index` is a file), the store
    says so once, lists, claims and sweeps by reading every run, as before indexes, and
    writes without them; once they can be, the next open rebuilds them."""
    store = FileStore(tmp_path / "runs", create=True)
    for number, shape in enumerate(SHAPES):
        write(store, f"r{number}", shape, EPOCH + timedelta(seconds=number), "w")
    expected = [run.run_id for run in store.page(limit=100)]
    shutil.rmtree(store.path / ".index")
    (store.path / ".index").write_text("not a directory")
    reopened = FileStore(store.path)
    assert not reopened.indexed
    assert "cannot check its indexes" in caplog.text
    assert [run.run_id for run in reopened.page(limit=100)] == expected
    assert claims(reopened, EPOCH + timedelta(days=1)) == ["r0", "r3"]
    assert reopened.expire_due(EPOCH + timedelta(days=1)) == ["r2"]
    (store.path / ".index").unlink()
    repaired = FileStore(store.path)
    assert repaired.indexed
    assert raw(repaired) == listed(repaired)
    assert_agree(repaired, EPOCH + timedelta(days=1))
