"""Seed example "Streaming", under asyncio: one `StepPausedEvent` at every pause, then resume
by streaming, with ``async for``."""

import asyncio

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


async def main() -> None:
    async for event in workflow.arun("input", stream=True, stream_events=True):
        if isinstance(event, StepPausedEvent):
            print(f"Paused at: {event.step_name}")

    session = await workflow.aget_session()
    run_output = session.runs[-1]

    while run_output.is_paused:
        for req in run_output.steps_requiring_confirmation:
            await req.aconfirm()

        async for event in workflow.acontinue_run(run_output, stream=True, stream_events=True):  # noqa: B007
            pass

        session = await workflow.aget_session()
        run_output = session.runs[-1]

    print(run_output.status.value, run_output.content)
    await workflow.store.aclose()


asyncio.run(main())
