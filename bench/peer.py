"""This library against the peer framework (agno), on the same work, in the same run.

    make bench-peer        # a separate environment with agno; the library never needs it

The workflow on both systems: prepare, a loop of up to 5 iterations with iteration review and
retry on reject, finalize; pure-function steps. Each run is rejected twice with feedback, then
confirmed. The peer keeps runs in SQLite (its `SqliteDb`, WAL, synchronous=FULL); LangGraph
(`peer_langgraph.py`) in its `SqliteSaver` at the same durability; this library in the durable
file and SQLite stores, the memory store and Redis.

Figures, each the median of repeated measurements and each as a ratio to the peer's, measured
in this same run:
- a pause-and-resume cycle (the decision, then `continue_run` up to the next pause), warm
  (the same workflow object) and cold (a new workflow object loads the run by id);
- a whole run, from `run` to completed, with its three decisions;
- importing the package (a fresh interpreter, minus a bare one);
- the bytes stored for one run after 40 rejections.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

logging.disable(logging.WARNING)  # the peer logs every pause


class System:
    """What both systems do the same way: the seed page's API."""

    name: str

    def start(self, workflow: Any, text: str) -> Any:
        return workflow.run(text)

    def decide(self, out: Any, feedback: str | None) -> None:
        (requirement,) = out.steps_requiring_output_review
        requirement.confirm() if feedback is None else requirement.reject(feedback=feedback)

    def resume(self, workflow: Any, out: Any) -> Any:
        return workflow.continue_run(out)


# The peer ---------------------------------------------------------------------------------


class Peer(System):
    name = "peer (agno, SQLite)"

    def __init__(self, directory: Path, max_iterations: int = 5) -> None:
        from agno.db.sqlite import SqliteDb

        self.path = directory / "peer.db"
        self.db = SqliteDb(db_file=str(self.path))
        self.max_iterations = max_iterations

    def build(self, session_id: str | None = None) -> Any:
        from agno.workflow import OnReject, Workflow
        from agno.workflow.loop import Loop
        from agno.workflow.step import Step
        from agno.workflow.types import HumanReview, StepOutput

        return Workflow(
            name="peer_bench",
            db=self.db,
            session_id=session_id,
            steps=[
                Step(
                    name="prepare", executor=lambda si: StepOutput(content=f"prepared {si.input}")
                ),
                Loop(
                    name="refine",
                    steps=[
                        Step(
                            name="improve",
                            executor=lambda si: StepOutput(content=f"draft of {si.input}"),
                        )
                    ],
                    max_iterations=self.max_iterations,
                    forward_iteration_output=True,
                    human_review=HumanReview(
                        requires_iteration_review=True, on_reject=OnReject.retry
                    ),
                ),
                Step(
                    name="finalize",
                    executor=lambda si: StepOutput(content=f"final {si.previous_step_content}"),
                ),
            ],
        )

    def cold(self, out: Any) -> tuple[Any, Any]:
        workflow = self.build(session_id=out.session_id)
        return workflow, workflow.get_run(out.run_id, session_id=out.session_id)

    def done(self, out: Any) -> bool:
        return not out.is_paused and out.content is not None

    def stored_bytes(self, out: Any) -> int:
        with sqlite3.connect(self.path) as db:
            run = db.execute(
                "select length(run_data) from agno_runs where run_id = ?", (out.run_id,)
            )
            session = db.execute(
                "select coalesce(length(session_data), 0) + coalesce(length(workflow_data), 0)"
                " + coalesce(length(metadata), 0) from agno_sessions where session_id = ?",
                (out.session_id,),
            )
            return int((run.fetchone() or [0])[0] or 0) + int((session.fetchone() or [0])[0] or 0)


# This library -----------------------------------------------------------------------------


class Ours(System):
    def __init__(self, name: str, make_store: Callable[[], Any], max_iterations: int = 5) -> None:
        self.name = name
        self.store = make_store()
        self.max_iterations = max_iterations

    def build(self) -> Any:
        from statemachine import HumanReview, Loop, OnReject, Step, Workflow

        return Workflow(
            name="bench",
            store=self.store,
            steps=[
                Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
                Loop(
                    name="refine",
                    steps=[Step(name="improve", executor=lambda si: f"draft of {si.input}")],
                    max_iterations=self.max_iterations,
                    forward_iteration_output=True,
                    human_review=HumanReview(
                        requires_iteration_review=True, on_reject=OnReject.retry
                    ),
                ),
                Step(name="finalize", executor=lambda si: f"final {si.previous_step_content}"),
            ],
        )

    def cold(self, out: Any) -> tuple[Any, Any]:
        workflow = self.build()
        return workflow, workflow.get_run(out.run_id)

    def done(self, out: Any) -> bool:
        return bool(out.status.value == "completed")

    def stored_bytes(self, out: Any) -> int:
        from statemachine import dumps

        return len(dumps(self.store.load(out.run_id)).encode())


# Measurements -----------------------------------------------------------------------------

DECISIONS = ["make it shorter", "more formal", None]  # reject twice, then confirm


def cycles_ms(system: Any, runs: int, cold: bool) -> float:
    """Mean time of one decision + continue_run, over `runs` runs of three cycles each."""
    workflow = system.build()
    outs = [system.start(workflow, f"text {n}") for n in range(runs)]
    start = time.perf_counter()
    for out in outs:
        for feedback in DECISIONS:
            if cold:
                workflow, out = system.cold(out)
            system.decide(out, feedback)
            out = system.resume(workflow, out)
        assert system.done(out), out
    return (time.perf_counter() - start) / (3 * runs) * 1000


def whole_run_ms(system: Any, runs: int) -> float:
    workflow = system.build()
    start = time.perf_counter()
    for n in range(runs):
        out = system.start(workflow, f"text {n}")
        for feedback in DECISIONS:
            system.decide(out, feedback)
            out = system.resume(workflow, out)
        assert system.done(out)
    return (time.perf_counter() - start) / runs * 1000


def stored_after_rejections(system: Any, rejections: int = 40) -> int:
    workflow = system.build()
    out = system.start(workflow, "a paragraph to refine, about as long as a real one would be")
    for k in range(rejections):
        system.decide(out, f"please change sentence {k} so that it reads better")
        out = system.resume(workflow, out)
    return int(system.stored_bytes(out))


def import_ms(modules: dict[str, str], rounds: int) -> dict[str, float]:
    """Median import time of each module in a fresh interpreter, minus a bare interpreter's;
    the interpreters are interleaved so that a busy moment hits every figure alike."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - start) * 1000

    samples: dict[str, list[float]] = {name: [] for name in ("bare", *modules)}
    for _ in range(rounds):
        samples["bare"].append(once("pass"))
        for name, module in modules.items():
            samples[name].append(once(f"import {module}"))
    bare = statistics.median(samples.pop("bare"))
    return {name: statistics.median(values) - bare for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from bench.peer_langgraph import LangGraph
    from statemachine import MemoryStore
    from stores import FileStore, RedisStore, SqliteStore
    from tests.servers import RedisServer

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        server = RedisServer(base / "redis").start()
        try:
            counter = iter(range(10**6))
            systems: list[Any] = [
                Peer(base),
                LangGraph(base),
                Ours("file store", lambda: FileStore(base / f"runs{next(counter)}")),
                Ours("SQLite store", lambda: SqliteStore(base / f"runs{next(counter)}.db")),
                Ours("memory store", MemoryStore),
                Ours("Redis store", lambda: RedisStore(server.url, prefix=f"p{next(counter)}")),
            ]
            figures: dict[str, dict[str, list[float]]] = {s.name: {} for s in systems}
            for _ in range(args.rounds):
                for system in systems:
                    found = figures[system.name]
                    found.setdefault("warm", []).append(cycles_ms(system, args.runs, cold=False))
                    found.setdefault("cold", []).append(cycles_ms(system, args.runs, cold=True))
                    found.setdefault("run", []).append(whole_run_ms(system, args.runs))
            sizes = {}
            (base / "big").mkdir()
            for system in systems:
                big: Any = (
                    Peer(base / "big", 41)
                    if isinstance(system, Peer)
                    else LangGraph(base / "big", 41)
                    if isinstance(system, LangGraph)
                    else Ours(system.name, partial(getattr, system, "store"), 41)
                )
                sizes[system.name] = stored_after_rejections(big)
        finally:
            server.stop()
    peer_name = systems[0].name
    imports = import_ms(
        {"peer": "agno.workflow", "langgraph": "langgraph.graph", "ours": "statemachine"},
        args.rounds * 4,
    )

    def median(name: str, what: str) -> float:
        return statistics.median(figures[name][what])

    runs = f"{args.rounds} rounds x {args.runs} runs, {os.cpu_count()} cores"
    print(f"python {sys.version.split()[0]}, {runs}")
    print("| system | cycle, warm | cycle, cold | whole run | stored after 40 rejections |")
    print("|---|---|---|---|---|")
    for name in figures:
        cells = []
        for what in ("warm", "cold", "run"):
            ms = median(name, what)
            ratio = median(peer_name, what) / ms
            cells.append(f"{ms:.2f} ms" + ("" if name == peer_name else f" ({ratio:.1f}x faster)"))
        size = sizes[name]
        smaller = "" if name == peer_name else f" ({sizes[peer_name] / size:.1f}x smaller)"
        print(f"| {name} | " + " | ".join(cells) + f" | {size:,} bytes{smaller} |")
    langgraph = systems[1].name
    print(f"\n| against {langgraph} | cycle, warm | cycle, cold | whole run |")
    print("|---|---|---|---|")
    for name in ("file store", "SQLite store", "Redis store"):
        ratios = [median(langgraph, what) / median(name, what) for what in ("warm", "cold", "run")]
        print(f"| {name} | " + " | ".join(f"{ratio:.1f}x faster" for ratio in ratios) + " |")
    lighter = imports["peer"] / imports["ours"]
    print(f"\n| import | peer `agno.workflow` {imports['peer']:.0f} ms |", end=" ")
    print(f"`statemachine` {imports['ours']:.0f} ms | {lighter:.1f}x lighter |")
    print(f"| import | `langgraph.graph` {imports['langgraph']:.0f} ms |", end=" ")
    print(f"{imports['langgraph'] / imports['ours']:.1f}x lighter |")


if __name__ == "__main__":
    main()
