"""Time of one pause-and-resume cycle of a reviewed loop, per store.

    python bench/cycle.py [--runs 50] [--rounds 7]

The workflow is prepare, a loop of up to 5 iterations with iteration review and retry on
reject, then finalize. Each run is decided the same way: reject with feedback twice, then
confirm, so three cycles. A cycle starts with the run paused for review: the reviewer decides
(`StepRequirement.reject` or `confirm`, which records the decision in the store), then
`continue_run` executes up to the next pause (or the end). Warm: the same `Workflow` object all
along. Cold: every cycle builds a new `Workflow` and loads the run by id, as a separate process
would. The figure is the median over rounds of the mean cycle time; the file store's is also
given as a ratio to its floor measured in the same run: the two durable writes a cycle must
make (the decision, then the iteration and the new pause), each a temp file written, fsynced,
renamed over the snapshot, and the directory fsynced.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floors import durable_write_us
from statemachine import (
    HumanReview,
    Loop,
    OnReject,
    Step,
    StepInput,
    Store,
    Workflow,
)
from stores import FileStore, MemoryStore

SNAPSHOT_BYTES = 2000  # about a run's size in this workload


def refine(step_input: StepInput) -> str:
    return f"draft {step_input.iteration}: {step_input.additional_data.get('rejection_feedback')}"


def build(store: Store) -> Workflow:
    return Workflow(
        name="cycle_bench",
        store=store,
        steps=[
            Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
            Loop(
                name="loop",
                steps=[Step(name="refine", executor=refine)],
                max_iterations=5,
                forward_iteration_output=True,
                human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
            ),
            Step(name="finalize", executor=lambda si: f"final {si.previous_step_content}"),
        ],
    )


def cycle_us(make_store: Callable[[], Store], runs: int, cold: bool) -> float:
    store = make_store()
    workflow = build(store)
    outputs = [workflow.run(f"paragraph {n}") for n in range(runs)]
    start = time.perf_counter()
    for out in outputs:
        for k in range(3):
            if cold:
                workflow = build(store)
                out = workflow.get_run(out.run_id)
            requirement = out.steps_requiring_output_review[0]
            requirement.reject(f"feedback {k}") if k < 2 else requirement.confirm()
            out = workflow.continue_run(out)
        assert out.status.value == "completed"
    return (time.perf_counter() - start) / (3 * runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        counter = iter(range(10**6))

        def file_store() -> Store:
            return FileStore(base / f"runs{next(counter)}")

        results: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, make, cold in [
                ("memory, warm", MemoryStore, False),
                ("memory, cold", MemoryStore, True),
                ("file, warm", file_store, False),
                ("file, cold", file_store, True),
            ]:
                results.setdefault(name, []).append(cycle_us(make, args.runs, cold))
            floor = durable_write_us(base, SNAPSHOT_BYTES, 3 * args.runs)
            results.setdefault("floor", []).append(2 * floor)
    floor = statistics.median(results.pop("floor"))
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds x {args.runs} runs x 3 cycles")
    print("| store, object | median per cycle | ratio |\n|---|---|---|")
    for name, samples in results.items():
        median = statistics.median(samples)
        ratio = f"{median / floor:.2f}x the floor" if name.startswith("file") else ""
        print(f"| {name} | {median:,.0f} µs | {ratio} |")
    print(f"| floor: 2 bare durable writes | {floor:,.0f} µs | 1.00x |")


if __name__ == "__main__":
    main()
