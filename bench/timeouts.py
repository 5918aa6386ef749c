"""Timeouts that fire with nobody calling: 1,000 runs paused for a confirmation with a
1-second timeout (approve, then a step), two worker processes sweeping, on the file, SQLite
and Redis stores.

    .venv/bin/python bench/timeouts.py [--runs 1000] [--kinds file,sqlite,redis]

For each store: the two workers start, then the runs are started (each pauses at once); the
script waits until every run has completed, and reads from each run's history when its
timeout fired. It reports how late the timeouts fired after their deadlines (median, 99th
percentile, maximum) against the target, a sweep (`sweep_seconds` +25% jitter) + 250 ms; and
checks that every run timed out once and completed once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachine import Step, Workflow

ROOT = Path(__file__).resolve().parent.parent
SWEEP_SECONDS = 1.0  # the workers' default
TARGET = SWEEP_SECONDS * 1.25 + 0.25

workflow = Workflow(
    name="timeouts",
    steps=[
        Step(name="send", executor=lambda si: "sent", requires_confirmation=True, timeout=1.0,
             on_timeout="approve"),
    ],
)  # fmt: skip


def measure(url: str, runs: int) -> dict[str, Any]:
    from stores import open_store

    store = open_store(url)
    bound = workflow.bind(store)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STATEMACHINE_STORE": url}
    command = [sys.executable, "-m", "statemachine", "worker", "--app", "bench.timeouts:workflow"]
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL) for _ in range(2)
    ]
    try:
        started = time.perf_counter()
        run_ids = [bound.run(f"message {n}").run_id for n in range(runs)]
        created = time.perf_counter() - started
        waiting = set(run_ids)
        deadline = time.monotonic() + 600
        while waiting and time.monotonic() < deadline:
            done = {run.run_id for run in store.page("completed", limit=1000)}
            waiting -= done
            if waiting:
                time.sleep(0.2)  # a benchmark polling its result, not a test
        ended = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    late: list[float] = []
    problems = 0
    for run_id in run_ids:
        run = store.load(run_id)
        timeouts = [entry for entry in run.history if entry.event == "timeout"]
        answers = [answer for answer in run.answers if answer.how == "timeout"]
        completed = [entry for entry in run.history if entry.event == "completed"]
        if run.status.value != "completed" or len(timeouts) != 1 or len(answers) != 1:
            problems += 1
            continue
        if len(completed) != 1:
            problems += 1
        deadline_at = answers[0].deadline
        assert deadline_at is not None
        late.append((timeouts[0].at - deadline_at).total_seconds())
    store.close()
    late.sort()
    return {
        "runs": runs, "left": len(waiting), "problems": problems, "created_s": created,
        "ended_s": ended, "median": statistics.median(late) if late else None,
        "p99": late[int(len(late) * 0.99) - 1] if late else None,
        "max": late[-1] if late else None,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--kinds", default="file,sqlite,redis")
    args = parser.parse_args()
    from tests.servers import RedisServer

    print(f"{args.runs} runs, 1-second timeouts, 2 worker processes; target: late by at most "
          f"{TARGET:.2f} s (a sweep of {SWEEP_SECONDS:.0f} s +25% jitter, + 250 ms)")  # fmt: skip
    print("| store | all ended after | timed out late: median | p99 | max | runs wrong |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=ROOT) as scratch:
        base = Path(scratch)
        server = RedisServer(base / "redis").start() if "redis" in args.kinds else None
        try:
            for kind in args.kinds.split(","):
                url = {
                    "file": f"file://{base}/runs?create=1",
                    "sqlite": f"sqlite://{base}/runs.db?create=1",
                    "redis": None if server is None else f"{server.url}?prefix=timeouts",
                }[kind]
                assert url is not None
                found = measure(url, args.runs)
                print(f"| {kind} | {found['ended_s']:.1f} s (runs started in "
                      f"{found['created_s']:.1f} s) | {found['median']:.3f} s | "
                      f"{found['p99']:.3f} s | {found['max']:.3f} s | "
                      f"{found['problems'] + found['left']} |")  # fmt: skip
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
