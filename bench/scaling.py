"""Worker throughput with 1 and 2 worker processes, on Redis and on SQLite.

    python bench/scaling.py [--runs 400] [--rounds 5] [--stores redis,sqlite,sqlite-normal]

Each run is three plain steps, so three units of work: a worker claims the run, executes one
step, commits it and hands the run over, three times. A batch stores `--runs` runnable runs,
starts 1 or 2 worker processes (1 thread each), waits until each has imported everything and
opened the store (it says "ready"), then tells them all to go and times until no run is left
pending. Batches of 1 and 2 processes alternate, each on a fresh prefix (Redis) or database
file (SQLite); the ratio is the median of the per-round ratios, with the lowest and highest.
The redis-server is started by this script (AOF on, ``appendfsync everysec``); the SQLite
database is on the working directory's disk (WAL, ``synchronous=FULL``; ``sqlite-normal``:
``synchronous=NORMAL``, no sync per commit).

The control: what the machine itself gives two processes at the moment, measured in the same
rounds: a pure-Python loop, once in one process and then the same loop in each of two
processes at once (1 is one core's worth, 2.00x is two whole cores). On a machine shared with
other work, no workload scales past it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachine import Step, Workflow

ROOT = Path(__file__).resolve().parent.parent

workflow = Workflow(
    name="scaling",
    steps=[
        Step(name="one", executor=lambda si: f"one {si.input}"),
        Step(name="two", executor=lambda si: f"two {si.previous_step_content}"),
        Step(name="three", executor=lambda si: f"three {si.previous_step_content}"),
    ],
)


def work(url: str) -> None:
    """A worker process: open the store, say ready, wait for go, work until stdin closes."""
    from statemachine import Worker
    from stores import open_store

    store = open_store(url)
    worker = Worker([workflow], store, poll_seconds=0.002, idle_seconds=0.01)
    stop = threading.Event()
    print("ready", flush=True)
    sys.stdin.readline()

    def stop_at_eof() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    worker.run(stop)


def burn(count: int) -> float:
    """Seconds of a pure-Python loop of `count` steps."""
    start = time.perf_counter()
    total = 0
    for n in range(count):
        total += n * n
    return time.perf_counter() - start


def control(count: int = 3_000_000) -> float:
    """Throughput of two processes running the loop at once, against one running it."""
    from multiprocessing import Pool

    with Pool(2) as pool:
        pool.map(burn, [1000, 1000])  # started and warm
        start = time.perf_counter()
        pool.map(burn, [count])
        one = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(burn, [count, count], chunksize=1)
        two = time.perf_counter() - start
    return 2 * one / two


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(url: str, runs: int, processes: int, server: int | None) -> tuple[float, float, float]:
    """Finished runs per second with `processes` worker processes, and the CPU time per run
    (ms) of the workers and of the redis-server (pid `server`, if any)."""
    from stores import open_store

    store = open_store(url)
    bound = workflow.bind(store)
    for n in range(runs):
        bound.submit(n)
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "work", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for each in workers:
            assert each.stdout is not None
            assert each.stdout.readline().strip() == "ready"
        start = time.perf_counter()
        served = cpu_seconds(server) if server is not None else 0.0
        worked = sum(cpu_seconds(each.pid) for each in workers)
        for each in workers:
            assert each.stdin is not None
            each.stdin.write("go\n")
            each.stdin.flush()
        while store.page("pending", limit=1):  # one index read: cheap beside the work
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        worked = sum(cpu_seconds(each.pid) for each in workers) - worked
        served = (cpu_seconds(server) if server is not None else 0.0) - served
        assert len(store.page("completed", limit=runs)) == runs
        return runs / elapsed, worked / runs * 1000, served / runs * 1000
    finally:
        for each in workers:
            assert each.stdin is not None
            each.stdin.close()
            each.wait(timeout=60)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="redis,sqlite")
    args = parser.parse_args()
    from tests.servers import RedisServer

    print(f"python {sys.version.split()[0]}, {args.runs} runs of 3 units, {args.rounds} rounds")
    print(
        "| store | 1 process | 2 processes | ratio (median) | ratio (lowest-highest) "
        "| CPU ms per run, workers (1 / 2 processes) | CPU ms per run, redis-server "
        "| control: the machine's 2 processes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        server = RedisServer(base / "redis").start()
        try:
            for kind in args.stores.split(","):
                pairs = []
                controls = []
                pid = server.process.pid if server.process and kind == "redis" else None
                for n in range(args.rounds):
                    pair = []
                    for processes in (1, 2):
                        if kind == "redis":
                            url = f"{server.url}?prefix=s{n}-{processes}"
                        elif kind == "sqlite":
                            url = f"sqlite://{base}/runs-{n}-{processes}.db"
                        else:  # sqlite-normal: no sync per commit
                            url = f"sqlite://{base}/runs-{n}-{processes}-n.db?synchronous=NORMAL"
                        pair.append(rate(url, args.runs, processes, pid))
                    pairs.append(pair)
                    controls.append(control())
                ratios = [two[0] / one[0] for one, two in pairs]
                one, two = (statistics.median(p[k][0] for p in pairs) for k in (0, 1))
                cpu1, cpu2 = (statistics.median(p[k][1] for p in pairs) for k in (0, 1))
                redis = "" if pid is None else f"{statistics.median(p[0][2] for p in pairs):.2f}"
                print(
                    f"| {kind} | {one:,.0f} runs/s | {two:,.0f} runs/s | "
                    f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}x-{max(ratios):.2f}x "
                    f"| {cpu1:.2f} / {cpu2:.2f} | {redis} | {statistics.median(controls):.2f}x "
                    f"({min(controls):.2f}x-{max(controls):.2f}x) |",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["work"]:
        work(sys.argv[2])
    else:
        main()
