"""Seed example "Iteration Review": every iteration pauses for review; rejecting with
feedback runs another iteration that sees the feedback.

Only the imports and the store line differ from the seed page (the LLM agent is a
deterministic stand-in).
"""

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

run_output = workflow.run("Improve this paragraph...")

while run_output.is_paused:
    for req in run_output.steps_requiring_output_review:
        print(req.step_output.content)
        choice = input("Accept? (yes/no): ").strip().lower()
        if choice in ("yes", "y"):
            req.confirm()
        else:
            feedback = input("Feedback: ").strip()
            if feedback:
                req.reject(feedback=feedback)
            else:
                req.reject()
    run_output = workflow.continue_run(run_output)
