"""Seed example "Iteration Review", under asyncio: every iteration pauses for review;
rejecting with feedback runs another iteration that sees the feedback.

The workflow is the seed page's, unchanged (its agent is a deterministic stand-in, awaited
through its ``arun``); the calls are their asyncio twins.
"""

import asyncio

from stand_ins import Agent, OpenAIChat

from statemachine import HumanReview, Loop, OnReject, Step, Workflow
from stores import FileStore

refine_agent = Agent(
    name="Refiner",
    model=OpenAIChat(id="gpt-4o-mini"),
    instructions=(
        "You refine and improve text. If the reviewer provides feedback, "
        "incorporate it. Return only the improved text."
    ),
)

workflow = Workflow(
    name="iterative_refinement",
    store=FileStore("runs"),
    steps=[
        Loop(
            name="refinement_loop",
            steps=[Step(name="refine", agent=refine_agent)],
            max_iterations=5,
            forward_iteration_output=True,
            human_review=HumanReview(
                requires_iteration_review=True,
                iteration_review_message="Review this iteration.",
                on_reject=OnReject.retry,
            ),
        ),
    ],
)


async def main() -> None:
    run_output = await workflow.arun("Improve this paragraph...")
    while run_output.is_paused:
        for req in run_output.steps_requiring_output_review:
            print(req.step_output.content)
            choice = (await asyncio.to_thread(input, "Accept? (yes/no): ")).strip().lower()
            if choice in ("yes", "y"):
                await req.aconfirm()
            else:
                feedback = (await asyncio.to_thread(input, "Feedback: ")).strip()
                if feedback:
                    await req.areject(feedback=feedback)
                else:
                    await req.areject()
        run_output = await workflow.acontinue_run(run_output)
    await workflow.store.aclose()


asyncio.run(main())
