"""Cost of applying one event to a gate, against two baselines measured in the same run.

    python bench/core.py [--rounds 15] [--lives 2000]

- `step`: this library's `statemachine.step`, on a realistic event mix (a loop with start
  confirmation and iteration review: start, confirm, two rejected iterations, an accepted one).
- bare transitions: a `transitions.Machine` with the same states and triggers, and a plain model,
  firing the same state changes; no record, no policy, no time.
- floor: a dict lookup of the next state plus `attrs.evolve` of the record, the least any
  immutable-record machine can do.

Each figure is the median over `rounds` runs of the mean time per event over `lives` gate lives.
Also reports the import time of `statemachine` (median of fresh interpreters, minus a bare one).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import attrs
from transitions import Machine

from statemachine import (
    TRANSITIONS,
    Confirm,
    Event,
    Gate,
    HumanReview,
    IterationCompleted,
    OnReject,
    Reject,
    Start,
    State,
    Trigger,
    step,
)

POLICY = HumanReview(
    requires_confirmation=True,
    requires_iteration_review=True,
    on_reject=OnReject.retry,
    timeout=3600,
)
LIFE: list[Event] = [
    Start(),
    Confirm(),
    IterationCompleted("draft 1"),
    Reject("shorter"),
    IterationCompleted("draft 2"),
    Reject("friendlier"),
    IterationCompleted("draft 3"),
    Confirm(),
]
TRIGGERS = [
    Trigger.start_confirmation, Trigger.confirm, Trigger.iteration_reviewed, Trigger.reject_retry,
    Trigger.iteration_reviewed, Trigger.reject_retry, Trigger.iteration_reviewed, Trigger.confirm,
]  # fmt: skip
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def run_step(lives: int) -> int:
    fresh = Gate(name="refinement_loop", policy=POLICY, max_iterations=5)
    for _ in range(lives):
        gate = fresh
        for event in LIFE:
            gate, _ = step(gate, event, NOW)
    assert gate.state is State.done
    return lives * len(LIFE)


def run_transitions(lives: int) -> int:
    class Model:
        pass

    machine = Machine(model=None, states=State, initial=State.pending, auto_transitions=False)
    for source, row in TRANSITIONS.items():
        for trigger, target in row.items():
            machine.add_transition(trigger.value, source, target)
    machine.add_transition("reset", State.done, State.pending)
    model = Model()
    machine.add_model(model)
    names = [trigger.value for trigger in TRIGGERS] + ["reset"]
    fire = model.trigger  # type: ignore[attr-defined]
    for _ in range(lives):
        for name in names:
            fire(name)
    return lives * len(names)


@attrs.frozen
class PlainRecord:
    """The gate record's fields, with none of its consistency checks."""

    name: str
    policy: HumanReview
    max_iterations: int
    state: State = State.pending
    iteration: int = 0
    request: object = None
    feedback: tuple[str | None, ...] = ()
    outputs: tuple[object, ...] = ()
    version: int = 0


def run_floor(lives: int) -> int:
    table = {(s, t): d for s, row in TRANSITIONS.items() for t, d in row.items()}
    fresh = PlainRecord(name="refinement_loop", policy=POLICY, max_iterations=5)
    for _ in range(lives):
        gate = fresh
        for trigger in TRIGGERS:
            gate = attrs.evolve(gate, state=table[gate.state, trigger], version=gate.version + 1)
    return lives * len(TRIGGERS)


def median_us_per_event(run: Callable[[int], int], lives: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        start = time.perf_counter_ns()
        events = run(lives)
        elapsed = time.perf_counter_ns() - start
        gc.enable()
        samples.append(elapsed / events / 1000)
    return statistics.median(samples)


def import_ms(rounds: int) -> tuple[float, float]:
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - start) * 1000

    bare = statistics.median(once("pass") for _ in range(rounds))
    ours = statistics.median(once("import statemachine") for _ in range(rounds))
    return ours - bare, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--lives", type=int, default=2000)
    args = parser.parse_args()
    ours = median_us_per_event(run_step, args.lives, args.rounds)
    bare = median_us_per_event(run_transitions, args.lives, args.rounds)
    floor = median_us_per_event(run_floor, args.lives, args.rounds)
    imported, interpreter = import_ms(args.rounds)
    runs = f"{args.rounds} rounds x {args.lives} lives x {len(LIFE)} events"
    rows = [
        (
            "`step` per event",
            f"{ours:.2f} µs",
            f"{ours / bare:.2f}x bare, {ours / floor:.2f}x floor",
        ),
        ("bare `transitions` trigger", f"{bare:.2f} µs", "1.00x bare"),
        ("floor: dict lookup + `attrs.evolve`", f"{floor:.2f} µs", f"{floor / bare:.2f}x bare"),
        ("`import statemachine`", f"{imported:.1f} ms", f"bare interpreter: {interpreter:.1f} ms"),
    ]
    print(f"python {sys.version.split()[0]}, {runs}")
    print("| measure | median | ratio |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
