"""Seed example "Start Confirmation": the loop pauses before its first iteration.

Only the imports and the store line differ from the seed page. Answer "y" to run the loop,
anything else to skip it.
"""

from stand_ins import finalize_results, prepare_data

from statemachine import HumanReview, Loop, Step, StepInput, StepOutput, Workflow
from stores import FileStore


def refine_analysis(step_input: StepInput) -> StepOutput:
    return StepOutput(content="Iteration complete: Quality improved")


workflow = Workflow(
    name="refinement_workflow",
    store=FileStore("runs"),
    steps=[
        Step(name="prepare", executor=prepare_data),
        Loop(
            name="refinement_loop",
            steps=[Step(name="refine", executor=refine_analysis)],
            max_iterations=5,
            human_review=HumanReview(
                requires_confirmation=True,
                confirmation_message="Start refinement loop? (up to 5 iterations)",
            ),
        ),
        Step(name="finalize", executor=finalize_results),
    ],
)

run_output = workflow.run("Process data")

if run_output.is_paused:
    for req in run_output.steps_requiring_confirmation:
        print(f"Loop: {req.step_name}")
        print(f"Message: {req.confirmation_message}")
        if input("Start loop? (y/n): ").lower() == "y":
            req.confirm()
            print("Starting loop")
        else:
            req.reject()
            print("Skipping loop")
    run_output = workflow.continue_run(run_output)
print(run_output.content)
