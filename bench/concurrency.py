"""The asyncio API against the synchronous one: a cycle, concurrent callers, and workers.

    python bench/concurrency.py [--rounds 5] [--worker-runs 1000]

- Cycle: one pause-and-resume cycle of `bench/cycle.py`'s workload, warm, through `arun` /
  `areject` / `acontinue_run` against `run` / `reject` / `continue_run`, alternating in the
  same process: on the memory store (nothing waits) and on the file store (each file
  operation awaited in a thread).
- Callers: 640 paused runs, each confirmed and continued to its end by one of 64 concurrent
  callers: 64 tasks on one event loop against 64 threads of a pool. Decisions-and-continues
  per second.
- Workers: 1,000 runs of one step whose executor waits 100 ms (``await asyncio.sleep`` /
  ``time.sleep``), on a redis-server this script starts: an `AsyncWorker` with concurrency
  100 against a threaded `Worker` with 4 threads, from submission to the last run finished.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cycle import build, cycle_us
from statemachine import AsyncWorker, RunOutput, Step, StepInput, Store, Worker, Workflow
from stores import FileStore, MemoryStore, open_store

CALLERS = 64
CALLER_RUNS = 640


async def acycle_us(make_store: Callable[[], Store], runs: int) -> float:
    workflow = build(make_store())
    outputs = [await workflow.arun(f"paragraph {n}") for n in range(runs)]
    start = time.perf_counter()
    for out in outputs:
        for k in range(3):
            requirement = out.steps_requiring_output_review[0]
            if k < 2:
                await requirement.areject(f"feedback {k}")
            else:
                await requirement.aconfirm()
            out = await workflow.acontinue_run(out)
        assert out.status.value == "completed"
    return (time.perf_counter() - start) / (3 * runs) * 1e6


def paused(runs: int) -> tuple[Workflow, list[RunOutput]]:
    workflow = build(MemoryStore())
    return workflow, [workflow.run(f"paragraph {n}") for n in range(runs)]


def threads_per_second() -> float:
    workflow, outputs = paused(CALLER_RUNS)

    def decide_and_continue(out: RunOutput) -> None:
        out.steps_requiring_output_review[0].confirm()
        assert workflow.continue_run(out).status.value == "completed"

    with ThreadPoolExecutor(CALLERS) as pool:
        start = time.perf_counter()
        list(pool.map(decide_and_continue, outputs))
        return CALLER_RUNS / (time.perf_counter() - start)


async def tasks_per_second() -> float:
    workflow, outputs = paused(CALLER_RUNS)
    queue = iter(outputs)

    async def caller() -> None:
        for out in queue:
            await out.steps_requiring_output_review[0].aconfirm()
            assert (await workflow.acontinue_run(out)).status.value == "completed"

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return CALLER_RUNS / (time.perf_counter() - start)


async def wait_async(step_input: StepInput) -> str:
    await asyncio.sleep(0.1)  # a call to a model, say
    return "answered"


def wait_sync(step_input: StepInput) -> str:
    time.sleep(0.1)
    return "answered"


def waiting(url: str, executor: Callable[[StepInput], object], runs: int) -> Workflow:
    steps = [Step(name="ask", executor=executor)]
    workflow = Workflow(name="waits", store=open_store(url), steps=steps)
    for n in range(runs):
        workflow.submit(n)
    return workflow


def finished(workflow: Workflow, runs: int) -> bool:
    store = workflow.store
    return sum(store.load(run_id).status.value == "completed" for run_id in store.run_ids()) == runs


def threaded_worker_seconds(url: str, runs: int) -> float:
    workflow = waiting(url, wait_sync, runs)
    worker, stop = Worker([workflow], concurrency=4, poll_seconds=0.01), threading.Event()
    start = time.perf_counter()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    while worker.counts["units"] < runs:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    assert finished(workflow, runs)
    return elapsed


async def async_worker_seconds(url: str, runs: int) -> float:
    workflow = waiting(url, wait_async, runs)
    worker, stop = AsyncWorker([workflow], concurrency=100, poll_seconds=0.01), asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    while worker.counts["units"] < runs:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    await workflow.store.aclose()
    assert finished(workflow, runs)
    return elapsed


def spread(samples: list[float], digits: int = 0) -> str:
    return f"{min(samples):,.{digits}f}-{max(samples):,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50, help="runs per cycle batch")
    parser.add_argument("--worker-runs", type=int, default=1000)
    parser.add_argument("--worker-rounds", type=int, default=1)
    args = parser.parse_args()

    cycles: dict[str, list[float]] = {
        "memory, sync": [], "memory, asyncio": [], "file, sync": [], "file, asyncio": [],
    }  # fmt: skip
    callers: dict[str, list[float]] = {"threads": [], "tasks": []}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        made = iter(range(10**6))

        def file_store() -> Store:
            return FileStore(Path(scratch) / f"runs{next(made)}", create=True)

        cycle_us(MemoryStore, 10, False)  # warm both paths up
        asyncio.run(acycle_us(MemoryStore, 10))
        for _ in range(args.rounds):
            cycles["memory, sync"].append(cycle_us(MemoryStore, args.runs, False))
            cycles["memory, asyncio"].append(asyncio.run(acycle_us(MemoryStore, args.runs)))
            cycles["file, sync"].append(cycle_us(file_store, args.runs // 2, False))
            cycles["file, asyncio"].append(asyncio.run(acycle_us(file_store, args.runs // 2)))
            callers["threads"].append(threads_per_second())
            callers["tasks"].append(asyncio.run(tasks_per_second()))

    from tests.servers import RedisServer

    workers: dict[str, list[float]] = {"threaded": [], "asyncio": []}
    with tempfile.TemporaryDirectory() as scratch:
        server = RedisServer(Path(scratch) / "redis").start()
        try:
            for n in range(args.worker_rounds):
                url = f"{server.url}?prefix=w{n}"
                workers["asyncio"].append(
                    asyncio.run(async_worker_seconds(f"{url}a", args.worker_runs))
                )
                workers["threaded"].append(threaded_worker_seconds(f"{url}t", args.worker_runs))
        finally:
            server.stop()

    print(f"python {sys.version.split()[0]}, {args.rounds} rounds")
    print("\n| store, API (warm) | median per cycle (spread) | ratio |\n|---|---|---|")
    for name, samples in cycles.items():
        median = statistics.median(samples)
        sync = statistics.median(cycles[name.split(",")[0] + ", sync"])
        print(f"| {name} | {median:,.0f} µs ({spread(samples)}) | {median / sync:.2f}x |")
    print(f"\n| {CALLERS} concurrent callers | decisions-and-continues per second | ratio |")
    print("|---|---|---|")
    threads = statistics.median(callers["threads"])
    for name, samples in callers.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:,.0f} ({spread(samples)}) | {median / threads:.2f}x |")
    print(f"\n| {args.worker_runs:,} runs of a 100 ms wait | seconds | speed-up |\n|---|---|---|")
    slow = statistics.median(workers["threaded"])
    for name, label in [("threaded", "`Worker`, 4 threads"), ("asyncio", "`AsyncWorker`, 100")]:
        median = statistics.median(workers[name])
        print(f"| {label} | {median:.2f} ({spread(workers[name], 2)}) | {slow / median:.1f}x |")


if __name__ == "__main__":
    main()
