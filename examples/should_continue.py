"""Seed example "With should_continue": confirmation happens before any iteration, then
`should_continue` decides after each one.

The seed shows only the `Loop(...)`; it is used here unchanged inside a workflow.
"""

from stand_ins import improve_quality

from statemachine import HumanReview, Loop, Step, StepInput, Workflow
from stores import FileStore


def check_quality(step_input: StepInput, iteration: int) -> bool:
    return iteration < 3


workflow = Workflow(
    name="quality_workflow",
    store=FileStore("runs"),
    steps=[
        Loop(
            name="quality_loop",
            steps=[Step(name="improve", executor=improve_quality)],
            should_continue=check_quality,
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Start quality improvement loop?",
            ),
        )
    ],
)

run_output = workflow.run("the report")
for req in run_output.steps_requiring_confirmation:
    print(f"{req.step_name}: {req.confirmation_message}")
    req.confirm()
run_output = workflow.continue_run(run_output)
print(run_output.content)
