"""What exploring a whole workflow costs: ten loops in a row, each reviewed at every one of its
five iterations and retried on rejection, explored whole (`explore_workflow`), against the
same ten gates explored one at a time (`explore`), in the same run.

    .venv/bin/python bench/explore.py

Median of 7 alternating batches, with the spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from statemachine import HumanReview, Loop, OnReject, Step, StepInput, Workflow
from statemachine.testing import explore, explore_workflow

REVIEW = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry, timeout=60)


def write(step_input: StepInput) -> str:
    return "draft"


LOOPS = Workflow(
    "ten_loops",
    [
        Loop(name=f"loop{n}", steps=[Step(name="write", executor=write)], max_iterations=5,
             human_review=REVIEW)
        for n in range(10)
    ],
)  # fmt: skip


def whole() -> None:
    explore_workflow(LOOPS).check()


def gates() -> None:
    for _ in range(10):
        explore(REVIEW, 5).check()


def ms(function: Callable[[], None], repeat: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    exploration = explore_workflow(LOOPS)
    print(f"ten reviewed loops: {len(exploration.places)} places, {len(exploration.edges)} moves")
    workflow_ms, gate_ms = [], []
    for _ in range(7):
        workflow_ms.append(ms(whole))
        gate_ms.append(ms(gates))
    ratios = sorted(w / g for w, g in zip(workflow_ms, gate_ms, strict=True))
    print(
        f"explore_workflow: median {statistics.median(workflow_ms):.1f} ms "
        f"({min(workflow_ms):.1f}-{max(workflow_ms):.1f})"
    )
    print(
        f"ten gates explored one by one: median {statistics.median(gate_ms):.1f} ms "
        f"({min(gate_ms):.1f}-{max(gate_ms):.1f})"
    )
    print(f"ratio: median {statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
