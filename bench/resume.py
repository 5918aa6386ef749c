"""Wall time of a Redis run paused for review once and then completed, for two versions of
the library side by side: this checkout and another (say, an earlier commit's tree).

    git archive a851764 statemachine stores | tar -x -C /tmp/before
    python bench/resume.py --before /tmp/before [--runs 100] [--rounds 7]

A run is started (it executes its first step and pauses for review of its output), the
review is confirmed, and `continue_run` executes the last step: what a person-in-the-loop
run costs end to end. Each batch is `--runs` such runs in a fresh process importing one of
the two versions, with a warm-up run first (connections, scripts); batches of the two
versions alternate against one redis-server this script starts (AOF on, ``appendfsync
everysec``), each on its own prefix. The figure is the median of the batches' mean time per
run, and the ratio the median of the per-round ratios (with the lowest and highest).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def batch(url: str, runs: int) -> float:
    """Mean µs per paused-and-resumed run (in the process importing the version measured)."""
    from statemachine import Step, Workflow
    from stores import RedisStore

    store = RedisStore(url)
    workflow = Workflow(
        name="resumed",
        store=store,
        steps=[
            Step(
                name="draft",
                executor=lambda si: f"draft of {si.input}",
                requires_output_review=True,
            ),
            Step(name="publish", executor=lambda si: f"published {si.previous_step_content}"),
        ],
    )

    def one(n: int) -> None:
        paused = workflow.run(f"paragraph {n}")
        paused.steps_requiring_output_review[0].confirm()
        assert workflow.continue_run(paused).status.value == "completed"

    one(-1)
    start = time.perf_counter()
    for n in range(runs):
        one(n)
    return (time.perf_counter() - start) / runs * 1e6


def fresh(code: Path, url: str, runs: int) -> float:
    """`batch` in a new process whose imports come from `code`."""
    out = subprocess.run(
        [sys.executable, __file__, "batch", str(code), url, str(runs)],
        check=True, capture_output=True, text=True, cwd=code,
    )  # fmt: skip
    return float(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.servers import RedisServer

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        server = RedisServer(Path(scratch) / "redis").start()
        try:
            pairs = [
                (
                    fresh(args.before.resolve(), f"{server.url}?prefix=b{n}", args.runs),
                    fresh(ROOT, f"{server.url}?prefix=a{n}", args.runs),
                )
                for n in range(args.rounds)
            ]
        finally:
            server.stop()
    ratios = [after / before for before, after in pairs]
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds x {args.runs} runs")
    print("| version | median per run | ratio to before (median) | lowest-highest |")
    print("|---|---|---|---|")
    print(f"| before | {statistics.median(p[0] for p in pairs):,.0f} µs | 1.00x | |")
    print(
        f"| after | {statistics.median(p[1] for p in pairs):,.0f} µs | "
        f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}x-{max(ratios):.2f}x |"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["batch"]:
        sys.path.insert(0, sys.argv[2])
        print(json.dumps(batch(sys.argv[3], int(sys.argv[4]))))
    else:
        main()
