"""Workflows shared by the HITL runtime tests, and a nested one driven from separate processes:

python -m tests.hitl_flows STORE_URL start          prints the run id and where it paused
python -m tests.hitl_flows STORE_URL resume RUN_ID  edits the output under review, continues
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from statemachine import Condition, Router, Step, StepInput, StepOutput, Store, Workflow
from stores import open_store


def tag(name: str) -> Callable[[StepInput], StepOutput]:
    """A step that wraps what it was given in its name: "name(previous content)"."""

    def run(step_input: StepInput) -> StepOutput:
        before = step_input.previous_step_content
        return StepOutput(content=f"{name}({before if before is not None else step_input.input})")

    run.__name__ = name
    return run


def nested_workflow(store: Store) -> Workflow:
    """A reviewed step inside a Router's route inside a Condition."""
    return Workflow(name="nested", store=store, steps=[
        Condition(name="outer", evaluator=True, steps=[
            Router(name="route", choices=[
                Step(name="review", executor=tag("review"), requires_output_review=True),
                Step(name="other", executor=tag("other")),
            ], selector=lambda step_input: "review"),
        ]),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip


def main(url: str, command: str, *args: str) -> None:
    workflow = nested_workflow(open_store(url))
    if command == "start":
        run = workflow.run("in")
        print(run.run_id, run.paused_step_name)
    else:
        run = workflow.get_run(args[0])
        run.requirements[0].edit("edited")
        run = workflow.continue_run(run)
        print(run.status.value, run.content)


if __name__ == "__main__":
    main(*sys.argv[1:])
