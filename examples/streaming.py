"""Seed example "Streaming": one `StepPausedEvent` at every pause, then resume by streaming.

The seed shows the streaming code only; the workflow it streams (a loop with a start
confirmation) is defined first. Only the imports and the store line differ.
"""

from stand_ins import finalize_results, prepare_data

from statemachine import HumanReview, Loop, Step, StepInput, StepOutput, StepPausedEvent, Workflow
from stores import FileStore


def refine_analysis(step_input: StepInput) -> StepOutput:
    return StepOutput(content=f"Refined pass {step_input.iteration}")


workflow = Workflow(
    name="streaming_workflow",
    store=FileStore("runs"),
    steps=[
        Step(name="prepare", executor=prepare_data),
        Loop(
            name="refinement_loop",
            steps=[Step(name="refine", executor=refine_analysis)],
            max_iterations=2,
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Start refinement loop?",
            ),
        ),
        Step(name="finalize", executor=finalize_results),
    ],
)

for event in workflow.run("input", stream=True, stream_events=True):
    if isinstance(event, StepPausedEvent):
        print(f"Paused at: {event.step_name}")

session = workflow.get_session()
run_output = session.runs[-1]

while run_output.is_paused:
    for req in run_output.steps_requiring_confirmation:
        req.confirm()

    for event in workflow.continue_run(run_output, stream=True, stream_events=True):  # noqa: B007
        pass

    session = workflow.get_session()
    run_output = session.runs[-1]

print(run_output.status.value, run_output.content)
