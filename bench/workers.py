"""Worker throughput, and the cost of listing a page of paused runs as the store grows.

    python bench/workers.py [--runs 300] [--rounds 3]

- Throughput: finished runs per second with 1, 2 and 4 worker processes (2 threads each) on
  the same workload, against a redis-server this script starts. Each run is a loop of 3
  iterations, then a step whose output a separate decider process reviews and confirms.
- Listing: the median time of `store.page("awaiting_review", limit=50)` with 1,000 and with
  100,000 paused runs stored; the index makes the two about equal.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachine import HumanReview, Loop, Step, Workflow

ROOT = Path(__file__).resolve().parent.parent

workflows = [
    Workflow(
        name="bench",
        steps=[
            Loop(
                name="refine",
                steps=[Step(name="improve", executor=lambda si: f"pass {si.iteration}")],
                max_iterations=3,
            ),
            Step(
                name="publish",
                executor=lambda si: f"published {si.previous_step_content}",
                human_review=HumanReview(requires_output_review=True),
            ),
        ],
    )
]


def decider(url: str) -> None:
    """Confirm every output review, as a person at a web app would, until killed."""
    from stores import open_store

    store = open_store(url)
    while True:
        for run in store.page("awaiting_review", limit=100):
            gate = run.pending_gate
            if gate is not None and gate.request is not None:
                store.decide(run.run_id, gate.request.request_id, "confirm")
        time.sleep(0.005)


def throughput(url: str, runs: int, processes: int) -> float:
    from stores import open_store

    store = open_store(url)
    workflow = workflows[0].bind(store)
    ids = [workflow.submit(n) for n in range(runs)]
    helpers = [
        subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "decider", url], cwd=ROOT)
    ]
    start = time.perf_counter()
    helpers += [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "statemachine",
                "worker",
                "--app",
                "bench.workers:workflows",
                "--store",
                url,
                "--concurrency",
                "2",
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        remaining = set(ids)
        while remaining:
            time.sleep(0.02)
            remaining = {r for r in remaining if not store.load(r).status.is_finished}
        return runs / (time.perf_counter() - start)
    finally:
        for helper in helpers:
            helper.terminate()
            helper.wait()


def listing_ms(url: str, stored: int) -> float:
    from statemachine.testing import EPOCH
    from statemachine.testing.contract import sample_run
    from stores import open_store

    store = open_store(url)
    for n in range(stored):  # through the store, so every index is written as in production
        store.create(sample_run(f"run{n:06}", EPOCH, True, None))
    samples = []
    for _ in range(50):
        start = time.perf_counter()
        page = store.page("awaiting_review", limit=50)
        samples.append((time.perf_counter() - start) * 1000)
        assert len(page) == 50
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.servers import RedisServer

    with tempfile.TemporaryDirectory() as scratch:
        server = RedisServer(Path(scratch) / "redis").start()
        try:
            rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
            for round_ in range(args.rounds):
                for processes in rates:
                    url = f"{server.url}?prefix=t{round_}-{processes}"
                    rates[processes].append(throughput(url, args.runs, processes))
            small = listing_ms(f"{server.url}?prefix=list1k", 1_000)
            large = listing_ms(f"{server.url}?prefix=list100k", 100_000)
        finally:
            server.stop()
    print(f"python {sys.version.split()[0]}, {args.runs} runs x {args.rounds} rounds per figure")
    print("| worker processes (2 threads each) | finished runs per second | vs 1 process |")
    print("|---|---|---|")
    base = statistics.median(rates[1])
    for processes, samples in rates.items():
        rate = statistics.median(samples)
        print(f"| {processes} | {rate:,.0f} | {rate / base:.2f}x |")
    print("\n| runs stored | one page of 50 awaiting review | ratio |\n|---|---|---|")
    print(f"| 1,000 | {small:.2f} ms | 1.00x |")
    print(f"| 100,000 | {large:.2f} ms | {large / small:.2f}x |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["decider"]:
        decider(sys.argv[2])
    else:
        main()
