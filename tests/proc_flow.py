"""A workflow driven from separate processes by the multi-process tests.

    python -m tests.proc_flow STORE_DIR MARKER_DIR start
    python -m tests.proc_flow STORE_DIR MARKER_DIR decide RUN_ID confirm|reject [FEEDBACK]
    python -m tests.proc_flow STORE_DIR MARKER_DIR continue RUN_ID [GO_FILE]

Every execution of user code leaves a marker file named after the process, step and iteration,
so the tests can tell which process ran what. With GO_FILE, `continue` reads the run first,
then waits for that file to appear before continuing: two processes then race on the same view.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from statemachine import (
    HumanReview,
    Loop,
    OnReject,
    StateMachineError,
    Step,
    StepInput,
    Workflow,
)
from stores import FileStore


def build(store_dir: str, markers: Path) -> Workflow:
    def work(name: str):  # type: ignore[no-untyped-def]
        def run(step_input: StepInput) -> str:
            feedback = step_input.additional_data.get("rejection_feedback")
            (markers / f"{os.getpid()}-{name}-{step_input.iteration}").write_text(str(feedback))
            time.sleep(float(os.environ.get("STEP_SECONDS", "0")))
            return f"{name} {step_input.iteration} ({feedback})"

        return run

    return Workflow(
        name="cross_process",
        store=FileStore(store_dir),
        steps=[
            Step(name="prepare", executor=work("prepare")),
            Loop(
                name="loop",
                steps=[Step(name="refine", executor=work("refine"))],
                max_iterations=3,
                human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
            ),
            Step(name="finalize", executor=work("finalize")),
        ],
    )


def main(argv: list[str]) -> int:
    store_dir, marker_dir, command, *args = argv
    workflow = build(store_dir, Path(marker_dir))
    try:
        if command == "start":
            out = workflow.run("input")
        elif command == "decide":
            run_id, verdict, *feedback = args
            out = workflow.get_run(run_id)
            (requirement,) = out.requirements
            requirement.confirm() if verdict == "confirm" else requirement.reject(*feedback)
        else:
            run_id, *go = args
            out = workflow.get_run(run_id)
            while go and not Path(go[0]).exists():
                time.sleep(0.005)
            out = workflow.continue_run(out)
    except StateMachineError as exc:
        print(f"error {type(exc).__name__} {exc}")
        return 3
    print(f"ok {out.run_id} {out.status.value} {out.content}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
