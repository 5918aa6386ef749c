"""Chaos: 200 runs, 4 worker processes, and faults, against a real Redis and a real SQLite
database (bounded to 90 s each).

Faults: random `kill -9` of workers (restarted at once) and `SIGSTOP` longer than the lease,
a decider sending duplicate and conflicting decisions while leaving about 30% of pauses
unanswered, and (Redis) one `kill -9` of Redis restarted from its AOF. Then every run must
end, and every invariant must hold. On SQLite a stopped worker keeps its runs' locks (they end
only with the process), so nothing is fenced or reaped there: its runs wait until it wakes,
and one stopped while it held the database's write lock stops every writer until then (each
stop is probed for it, and counted as an outage, as Redis's restart is).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statemachine import (
    Cancel,
    Confirm,
    Event,
    Gate,
    IterationCompleted,
    Reject,
    RunRecord,
    Start,
    Timeout,
    run_state,
    step,
)
from statemachine.testing import check_history
from stores import RedisStore, SqliteStore, open_store

from .chaos_app import TIMEOUT, answered, workflows
from .servers import RedisServer, wait_until_stopped

ROOT = Path(__file__).parent.parent
RUNS = 200
LEASE = 1.5
SWEEP = 1.0
FAULT_SECONDS = 12.0


def as_event(
    name: str, at: datetime, feedback: Iterator[str | None], outputs: Iterator[Any]
) -> Event:
    """The event a history entry records; feedback and outputs come from the gate's record."""
    if name == "start":
        return Start()
    if name == "confirm":
        return Confirm(decided_at=at)
    if name == "reject":
        return Reject(next(feedback), decided_at=at)
    if name == "timeout":
        return Timeout()
    if name == "cancel":
        return Cancel()
    assert name == "iteration_completed", name
    return IterationCompleted(next(outputs))


def replay(run: RunRecord) -> list[str]:
    """Replay every gate's history through the machine; the problems found (none is good)."""
    problems = []
    for gate in run.gates:
        replayed = Gate(name=gate.name, policy=gate.policy, max_iterations=gate.max_iterations)
        feedback, outputs = iter(gate.feedback), iter(gate.outputs)
        for entry in (e for e in run.history if e.name == gate.name and e.event != "completed"):
            event = as_event(entry.event, entry.at, feedback, outputs)
            if entry.event == "timeout" and replayed.policy.on_timeout.value == "reject":
                next(feedback)  # a timeout that rejects leaves an empty feedback entry
            replayed, _ = step(replayed, event, entry.at)
            if replayed.state.value != entry.state:
                expected = f"{entry.state} != {replayed.state.value}"
                problems.append(f"{run.run_id} {gate.name} v{entry.version}: {expected}")
        for field in ("state", "iteration", "feedback", "outputs"):
            if getattr(replayed, field) != getattr(gate, field):
                problems.append(f"{run.run_id} {gate.name}: replayed {field} differs")
    return problems


def pauses(run: RunRecord) -> list[tuple[str, datetime, str, datetime]]:
    """(request id, paused at, the event that ended the pause, when) for every pause."""
    found = []
    iteration: dict[str, int] = {}
    open_pause: dict[str, tuple[str, datetime]] = {}
    for entry in run.history:
        if entry.name in open_pause and entry.event != "completed":
            request, paused_at = open_pause.pop(entry.name)
            found.append((request, paused_at, entry.event, entry.at))
        if entry.state == "iterating":
            iteration[entry.name] = iteration.get(entry.name, 0) + 1
        if entry.state in ("awaiting_review", "awaiting_confirmation"):
            kind = "review" if entry.state == "awaiting_review" else "confirmation"
            request = f"{entry.name}:{kind}:{iteration.get(entry.name, 0)}"
            open_pause[entry.name] = (request, entry.at)
    return found


def wait_for_busy_worker(busy: Path, by_pid: dict[int, int], timeout: float = 30) -> int:
    """The slot of a worker process that is in the middle of a unit (its marker is there)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for marker in busy.iterdir():
            pid = int(marker.name.split("-")[0])
            if pid in by_pid:
                return by_pid[pid]
        time.sleep(0.005)  # polls the markers; bounded by `timeout`
    raise AssertionError("no worker started a unit")


def holds_the_write_lock(path: Path) -> bool:
    """Whether the database's write lock stays taken for 0.3 s (a stopped process has it):
    tried every millisecond, as the store does (SQLite's own waits can miss a free lock)."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as db:
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                time.sleep(0.001)  # the pace of tries, as the store's own
                continue
            db.execute("ROLLBACK")
            return False
    return True


def check_indexes(store: RedisStore | SqliteStore, server: RedisServer | None,
                  runs: list[RunRecord]) -> None:  # fmt: skip
    """Each run has exactly one entry in the states index, the right one, and is in no work
    index (on SQLite: its row's columns say what its snapshot says)."""
    if isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store.path)) as db:
            rows = {row[0]: row[1:] for row in db.execute(
                "SELECT run_id, version, state, ready_at, deadline, dead FROM runs")}  # fmt: skip
        assert len(rows) == len(runs)
        for run in runs:
            assert rows[run.run_id] == (run.version, run_state(run), None, None, None), run.run_id
        return
    assert server is not None
    client = server.client()
    entries: dict[str, list[str]] = {}
    for member in client.zrange("chaos:{p0}:states", 0, -1):
        text = member.decode() if isinstance(member, bytes) else str(member)
        entries.setdefault(text.rsplit("|", 1)[1], []).append(text)
    assert len(entries) == len(runs)
    for run in runs:
        found = client.hget(f"chaos:{{p0}}:run:{run.run_id}", "entry")
        assert isinstance(found, bytes)
        expected = found.decode()
        assert entries[run.run_id] == [expected], (run.run_id, entries[run.run_id])
        assert expected.startswith(f"{run_state(run)}|")
        for index in (f"ready:{run.workflow}", "leases", "deadlines", "dead"):
            assert client.zscore(f"chaos:{{p0}}:{index}", run.run_id) is None, (run.run_id, index)


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_chaos(kind: str, tmp_path: Path) -> None:
    """No invariant broken, every run ends in time, timeouts are punctual, fault paths taken."""
    server: RedisServer | None = None
    if kind == "redis":
        server = RedisServer(tmp_path / "redis").start()
        url = f"{server.url}?prefix=chaos&lease_seconds={LEASE}&retry_seconds=15"
    else:
        url = f"sqlite://{tmp_path}/runs.db?create=1"
    stats = tmp_path / "stats"
    stats.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        store = open_store(url)
        assert isinstance(store, RedisStore | SqliteStore)
        run_ids = [workflows[n % 4].bind(store).submit(f"input {n}") for n in range(RUNS)]

        busy = tmp_path / "busy"
        busy.mkdir()

        def start_worker(slot: int, generation: int) -> subprocess.Popen[bytes]:
            counts_file = str(stats / f"{slot}-{generation}.json")
            command = [sys.executable, "-m", "tests.chaos_app", "worker", url, counts_file]
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, "CHAOS_BUSY": str(busy)}
            )
            processes.append(process)
            return process

        workers = [start_worker(slot, 0) for slot in range(4)]
        decider = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos_app", "decider", url], cwd=ROOT
        )
        processes.append(decider)

        resumes: list[threading.Timer] = []
        outages: list[tuple[float, float]] = []  # when the store could not be written
        stopped_for: list[tuple[float, float]] = []  # when a worker was stopped

        def stop(victim: subprocess.Popen[bytes]) -> None:
            """SIGSTOP a worker for longer than the lease. On SQLite, one stopped while it
            held the database's write lock stops every writer until it wakes: an outage."""
            stopped = time.time()
            victim.send_signal(signal.SIGSTOP)
            wait_until_stopped(victim.pid)
            resume = threading.Timer(LEASE + 1.0, victim.send_signal, (signal.SIGCONT,))
            resume.start()
            resumes.append(resume)
            stopped_for.append((stopped, stopped + LEASE + 1.0))
            if isinstance(store, SqliteStore) and holds_the_write_lock(store.path):
                outages.append((stopped, stopped + LEASE + 1.0))

        # First, one worker stopped in the middle of a unit for longer than its lease: when it
        # wakes, its commit must be fenced. The rest of the faults fall where they fall.
        by_pid = {worker.pid: slot for slot, worker in enumerate(workers)}
        victim_slot = wait_for_busy_worker(busy, by_pid)
        stop(workers[victim_slot])
        spared_until = time.monotonic() + LEASE + 2.0  # its counts are written after it wakes

        rng = random.Random(20261124)
        started = time.monotonic()
        kills, stops = 0, 1
        while time.monotonic() - started < FAULT_SECONDS:
            time.sleep(rng.uniform(0.3, 0.8))  # the pace of faults, not a wait for anything
            slot = rng.randrange(4)
            if slot == victim_slot and time.monotonic() < spared_until:
                continue
            if rng.random() < 0.5:
                workers[slot].kill()
                workers[slot].wait()
                workers[slot] = start_worker(slot, kills + 1)
                kills += 1
            else:
                victim = workers[slot]
                if victim.poll() is None:
                    stop(victim)
                    stops += 1
            if server and not outages and time.monotonic() - started > FAULT_SECONDS / 2:
                down = time.time()
                server.kill(signal.SIGKILL)
                server.start()  # replays the AOF
                outages.append((down, time.time()))
        for resume in resumes:
            resume.join()
        faults_stopped = time.monotonic()

        limit = LEASE + SWEEP + 5
        unfinished = run_ids
        while unfinished and time.monotonic() - faults_stopped < limit:
            time.sleep(0.2)  # polls the stored states; bounded by `limit`
            unfinished = [r for r in unfinished if not store.load(r).status.is_finished]
        settled_after = time.monotonic() - faults_stopped
        runs = [store.load(r) for r in run_ids]
        counts: dict[str, int] = {}
        for path in stats.glob("*.json"):
            for key, value in json.loads(path.read_text()).items():
                counts[key] = counts.get(key, 0) + value

        # Every run ended, in time.
        stuck = [
            (r.run_id, r.status.value, run_state(r), r.attempts, r.retry_at, r.history[-3:])
            for r in runs
            if not r.status.is_finished
        ]
        assert not unfinished, f"{len(unfinished)} unfinished {settled_after:.1f}s after: {stuck}"
        assert {run.status.value for run in runs} <= {"completed", "cancelled"}

        # Each history replays through the machine; the version counts the transitions.
        problems = [problem for run in runs for problem in replay(run)]
        assert not problems, problems[:10]
        by_name = {workflow.name: workflow for workflow in workflows}
        for run in runs:  # and through the checker users get, against its definition
            check_history(run, by_name[run.workflow])
        assert all(run.version == len(run.history) for run in runs)

        check_indexes(store, server, runs)

        # Unanswered pauses ended by their on_timeout, within a sweep interval + 250 ms.
        assert outages or kind != "redis"
        every = [(run.run_id, *pause) for run in runs for pause in pauses(run)]
        unanswered = [p for p in every if not answered(p[0], p[1])]
        assert unanswered, "the decider answered everything: no pause was left to time out"
        assert {event for *_, event, _ in unanswered} == {"timeout"}
        too_late = []
        for _, _, paused_at, event, ended_at in every:
            deadline = paused_at + timedelta(seconds=TIMEOUT)
            outage_hit = any(
                down - 0.1 <= deadline.timestamp() <= up + SWEEP + 0.5 for down, up in outages
            )
            # On SQLite a stopped worker keeps its run: a pause it had made and not yet stored
            # is stored when it wakes, and its timeout fires from then (on Redis the lease runs
            # out instead). Which worker made a pause is not recorded, so any worker stopped
            # between the pause and its deadline may be the one.
            outage_hit = outage_hit or (kind == "sqlite" and any(
                paused_at.timestamp() - 0.5 <= down <= deadline.timestamp()
                and ended_at.timestamp() <= up + SWEEP + 0.5
                for down, up in stopped_for
            ))  # fmt: skip
            if (
                event == "timeout"
                and not outage_hit
                and ended_at - deadline > timedelta(seconds=SWEEP + 0.25)
            ):
                too_late.append((deadline, ended_at))
        assert not too_late, too_late[:5]

        # The fault paths were taken.
        print(f"\nchaos ({kind}): {kills} kills, {stops} stops, outages "
              f"{[round(up - down, 2) for down, up in outages]} s, "
              f"settled {settled_after:.1f}s after the faults, counts {counts}")  # fmt: skip
        assert counts.get("errors", 0) == 0, counts  # no worker thread hit a bug
        if kind == "redis":  # leases that run out: a stalled worker is fenced, its run reaped
            assert counts.get("fenced", 0) > 0, counts
            assert counts.get("reaped", 0) > 0, counts
        assert counts.get("timeouts", 0) > 0, counts
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        if server is not None:
            server.stop()
