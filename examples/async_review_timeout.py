"""Seed example "Timeout", under asyncio: an unanswered review is approved after 120 seconds.

Nobody answers the review, the clock moves past the deadline, and an awaited sweep (what an
`AsyncWorker` does about once a second) applies `on_timeout` with nobody calling
`acontinue_run`. The clock is simulated, so the example does not wait two minutes.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from stand_ins import generate_fn

from statemachine import HumanReview, Loop, OnReject, OnTimeout, Step, Workflow
from stores import FileStore


class Clock:
    """A clock this example moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


clock = Clock()
workflow = Workflow(
    name="timeout_workflow",
    store=FileStore("runs"),
    clock=clock,
    steps=[
        Loop(
            name="review_loop",
            steps=[Step(name="generate", executor=generate_fn)],
            max_iterations=3,
            human_review=HumanReview(
                requires_iteration_review=True,
                iteration_review_message="Review this iteration.",
                on_reject=OnReject.retry,
                timeout=120,  # 2 minutes per pause
                on_timeout=OnTimeout.approve,
            ),
        )
    ],
)


async def main() -> None:
    run_output = await workflow.arun("the announcement")
    req = run_output.steps_requiring_output_review[0]
    print(f"paused for review until {req.deadline:%H:%M:%S}: {req.step_output.content}")

    clock.now += timedelta(seconds=121)  # nobody answered
    fired = await workflow.store.aexpire_due(clock())
    print(f"timeouts applied by the sweep: {len(fired)}")
    state = (await workflow.aget_run(run_output.run_id)).states["review_loop"].value
    print(f"state after the timeout: {state}")

    run_output = await workflow.acontinue_run(run_output.run_id)
    print(f"{run_output.status.value}: {run_output.content}")
    await workflow.store.aclose()


asyncio.run(main())
