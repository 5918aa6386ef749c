"""Seed example "With should_continue", under asyncio: confirmation happens before any
iteration, then an ``async def`` `should_continue` decides after each one."""

import asyncio

from stand_ins import improve_quality

from statemachine import HumanReview, Loop, Step, StepInput, Workflow
from stores import FileStore


async def check_quality(step_input: StepInput, iteration: int) -> bool:
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


async def main() -> None:
    run_output = await workflow.arun("the report")
    for req in run_output.steps_requiring_confirmation:
        print(f"{req.step_name}: {req.confirmation_message}")
        await req.aconfirm()
    run_output = await workflow.acontinue_run(run_output)
    print(run_output.content)
    await workflow.store.aclose()


asyncio.run(main())
