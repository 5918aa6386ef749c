"""Seed example "Start Confirmation", under asyncio: the loop pauses before its first
iteration; the decision and the rest of the run are awaited.

The workflow is the seed page's, unchanged; the calls are its asyncio twins (`arun`,
`aconfirm`, `areject`, `acontinue_run`).
"""

import asyncio

from stand_ins import finalize_results, prepare_data

from statemachine import HumanReview, Loop, Step, StepInput, StepOutput, Workflow
from stores import FileStore


async def refine_analysis(step_input: StepInput) -> StepOutput:
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


async def main() -> None:
    run_output = await workflow.arun("Process data")
    if run_output.is_paused:
        for req in run_output.steps_requiring_confirmation:
            print(f"Loop: {req.step_name}")
            print(f"Message: {req.confirmation_message}")
            if (await asyncio.to_thread(input, "Start loop? (y/n): ")).lower() == "y":
                await req.aconfirm()
                print("Starting loop")
            else:
                await req.areject()
                print("Skipping loop")
        run_output = await workflow.acontinue_run(run_output)
    print(run_output.content)
    await workflow.store.aclose()


asyncio.run(main())
