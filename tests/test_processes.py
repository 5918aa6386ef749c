"""Runs paused, decided and continued by separate processes, through the file store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def call(store: Path, markers: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run one command of tests/proc_flow.py in a new process; return its output words."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.proc_flow", str(store), str(markers), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.stderr == "", result.stderr
    return result.stdout.split()


def ran(markers: Path) -> list[tuple[str, str, str]]:
    """(pid, step, iteration) of every execution of user code so far."""
    rows = (tuple(path.name.split("-")) for path in markers.iterdir())
    return sorted(rows, key=lambda row: (row[1], row[2]))  # type: ignore[arg-type]


def test_paused_in_one_process_decided_in_another_continued_in_a_third(tmp_path: Path) -> None:
    """Only the run id crosses process boundaries; each process does its part and no more."""
    store, markers = tmp_path / "runs", tmp_path / "markers"
    markers.mkdir()
    started = call(store, markers, "start")
    assert started[0] == "ok"
    assert started[2] == "paused"
    run_id = started[1]
    assert call(store, markers, "decide", run_id, "reject", "shorter")[:3] == [
        "ok",
        run_id,
        "pending",
    ]
    assert call(store, markers, "continue", run_id)[2] == "paused"
    second = [m for m in ran(markers) if m[1:] == ("refine", "2")]
    assert len(second) == 1
    assert (markers / "-".join(second[0])).read_text() == "shorter"  # the feedback crossed over
    call(store, markers, "decide", run_id, "confirm")
    done = call(store, markers, "continue", run_id)
    assert done[2] == "completed"
    assert [m[1:] for m in ran(markers)] == [
        ("finalize", "None"), ("prepare", "None"), ("refine", "1"), ("refine", "2"),
    ]  # fmt: skip
    assert len({m[0] for m in ran(markers)}) == 3  # three different processes ran user code


def test_two_processes_continuing_the_same_run_execute_it_once(tmp_path: Path) -> None:
    """Both read the decided run, then race: one executes; the other gets a conflict, no code."""
    store, markers = tmp_path / "runs", tmp_path / "markers"
    markers.mkdir()
    run_id = call(store, markers, "start")[1]
    call(store, markers, "decide", run_id, "reject", "again")
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.proc_flow",
                str(store),
                str(markers),
                "continue",
                run_id,
                str(go),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "STEP_SECONDS": "0.5"},
        )
        for _ in range(2)
    ]
    go.touch()
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    winners = [o for o in outputs if o[0] == "ok"]
    losers = [o for o in outputs if o[0] == "error"]
    assert len(winners) == 1, outputs
    assert len(losers) == 1, outputs
    assert losers[0][1] in ("ConflictError", "RunBusy")
    refine_2 = [m for m in ran(markers) if m[1:] == ("refine", "2")]
    assert len(refine_2) == 1  # user code for iteration 2 ran once, in the winner
    winner_pid = {str(r.pid) for r, o in zip(racers, outputs, strict=True) if o[0] == "ok"}
    assert {refine_2[0][0]} == winner_pid
