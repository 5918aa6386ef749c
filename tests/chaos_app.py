"""The chaos test's workflows, worker process and decider process.

    python -m tests.chaos_app worker STORE_URL STATS_FILE
    python -m tests.chaos_app decider STORE_URL

Every pause has a one-second timeout; which pauses the decider answers is decided by a hash
of the request, so the test knows which ones nobody answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import threading
import time

from statemachine import HumanReview, Loop, OnReject, OnTimeout, Step, StepInput, Workflow

TIMEOUT = 1.0
POLICIES = {
    "chaos_approve": {"on_timeout": OnTimeout.approve},
    "chaos_reject": {"on_timeout": OnTimeout.reject},
    "chaos_cancel": {"on_timeout": OnTimeout.cancel},
    "chaos_confirm": {"on_timeout": OnTimeout.skip, "requires_confirmation": True},
}


def iterate(step_input: StepInput) -> str:
    # While a unit runs, a marker names its process, so the test can SIGSTOP one mid-unit.
    busy = os.environ.get("CHAOS_BUSY")
    marker = f"{busy}/{os.getpid()}-{threading.get_ident()}" if busy else None
    if marker:
        open(marker, "w").close()
    try:
        time.sleep(random.uniform(0.05, 0.2))  # long enough for SIGSTOP to catch units mid-way
    finally:
        if marker:
            os.unlink(marker)
    feedback = step_input.additional_data.get("rejection_feedback")
    return f"{step_input.run_id[:6]} v{step_input.iteration}" + (
        f" ({feedback})" if feedback else ""
    )


workflows = [
    Workflow(
        name=name,
        steps=[
            Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
            Loop(
                name="loop",
                steps=[Step(name="iterate", executor=iterate)],
                max_iterations=3,
                human_review=HumanReview(
                    requires_iteration_review=True,
                    on_reject=OnReject.retry,
                    timeout=TIMEOUT,
                    **policy,  # type: ignore[arg-type]
                ),
            ),
            Step(name="finalize", executor=lambda si: f"final {si.previous_step_content}"),
        ],
    )
    for name, policy in POLICIES.items()
]


def answered(run_id: str, request_id: str) -> bool:
    """Whether the decider answers this request at all (about 70% of them)."""
    digest = hashlib.sha256(f"{run_id}/{request_id}".encode()).digest()
    return digest[0] % 10 < 7


def work(url: str, stats: str) -> None:
    """A worker process that keeps its counts in `stats` (rewritten every 100 ms)."""
    from statemachine import RetryPolicy, Worker
    from stores import open_store

    # Short backoffs: a run abandoned by several killed workers in a row still ends in time.
    retry = RetryPolicy(max_attempts=20, base_seconds=0.25, cap_seconds=1.0)
    worker = Worker(workflows, open_store(url), concurrency=4, retry=retry)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()
    while runner.is_alive():
        temp = f"{stats}.{os.getpid()}.tmp"
        with open(temp, "w") as out:
            json.dump(dict(worker.counts), out)
        os.replace(temp, stats)
        time.sleep(0.1)


def decide(url: str) -> None:
    """Answer pauses from outside, with duplicates and conflicting decisions thrown in."""
    from statemachine import DecisionRefused, StateMachineError
    from stores import open_store

    store = open_store(url)
    seen: set[str] = set()
    while True:
        try:
            for state in ("awaiting_confirmation", "awaiting_review"):
                for run in store.page(state, limit=200):
                    gate = run.pending_gate
                    if gate is None or gate.request is None:
                        continue
                    request = gate.request.request_id
                    key = f"{run.run_id}/{request}"
                    if key in seen or not answered(run.run_id, request):
                        continue
                    seen.add(key)
                    verdict = (
                        "reject"
                        if gate.iteration == 1 and state == "awaiting_review"
                        else "confirm"
                    )
                    other = "confirm" if verdict == "reject" else "reject"
                    for answer, decision_id in (
                        (verdict, f"{key}/a"),
                        (verdict, f"{key}/a"),  # a duplicate
                        (other, f"{key}/b"),  # a conflicting decision: refused, stale
                    ):
                        try:
                            store.decide(
                                run.run_id, request, answer, "more", decision_id=decision_id
                            )
                        except DecisionRefused:
                            continue  # decided already, or past its deadline
        except StateMachineError:
            time.sleep(0.1)  # Redis restarting: try again
        time.sleep(0.02)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    work(*arguments) if command == "worker" else decide(*arguments)
