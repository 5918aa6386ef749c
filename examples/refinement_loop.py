"""The demo: a refinement loop reviewed at the terminal, paused and resumed on the file store.

    make demo

A prepare step, a loop whose every iteration pauses for your review (accept it, or reject it
with feedback and the next iteration uses it), then a finalize step. Runs live in ./runs, so
interrupting the demo at a prompt (Ctrl-C) and running it again resumes the same paused run,
in a new process. With no terminal attached (as in CI) it decides by itself: it rejects the
first draft with feedback and accepts the second.

A request can also be answered from elsewhere while the demo waits at its prompt
(`statemachine confirm RUN --store file://runs` in another terminal): the demo's own answer
is then refused, and it says so and carries on with the run as stored.
"""

from __future__ import annotations

import sys

from stand_ins import Agent, OpenAIChat, finalize_results, prepare_data

from statemachine import (
    DeadlinePassed,
    DecisionRefused,
    HumanReview,
    Loop,
    OnReject,
    RunOutput,
    Step,
    StepRequirement,
    StoreNotFound,
    Workflow,
)
from stores import FileStore

TEXT = "Hi team! The quarterly numbers are in and they look better than we hoped for this year!"

workflow = Workflow(
    name="refinement_demo",
    store=FileStore("runs"),
    session_id="demo",  # a session of its own, found again by the next start of the demo
    steps=[
        Step(name="prepare", executor=prepare_data),
        Loop(
            name="refinement_loop",
            steps=[
                Step(
                    name="refine",
                    agent=Agent(name="Refiner", model=OpenAIChat(id="stand-in")),
                )
            ],
            max_iterations=4,
            forward_iteration_output=True,
            human_review=HumanReview(
                requires_iteration_review=True,
                iteration_review_message="Accept this draft, or reject it with feedback?",
                on_reject=OnReject.retry,
            ),
        ),
        Step(name="finalize", executor=finalize_results),
    ],
)


def decide(req: StepRequirement, interactive: bool) -> None:
    """Ask at the terminal, or decide by rule when nobody is there."""
    print(f"\n[{req.step_name}] iteration {req.iteration}: {req.message}")
    print(f"  {req.step_output.content if req.step_output else ''}")
    if not interactive:
        if req.iteration == 1:
            print("  (no terminal: rejecting with feedback 'shorter and more formal')")
            req.reject(feedback="shorter and more formal")
        else:
            print("  (no terminal: accepting)")
            req.confirm()
        return
    if input("  Accept? [y/n] ").strip().lower() in ("y", "yes"):
        req.confirm()
    else:
        req.reject(feedback=input("  Feedback for the next iteration: ").strip() or None)


def start_or_resume() -> RunOutput:
    try:
        session = workflow.get_session().runs
    except StoreNotFound:  # the first run: ./runs is made when it is stored
        session = []
    unfinished = [run for run in session if not run.status.is_finished]
    if not unfinished:
        run = workflow.run(TEXT)
        print(f"Started run {run.run_id}, stored in ./runs")
        return run
    run = unfinished[-1]
    print(f"Resuming run {run.run_id} ({run.status.value}) from ./runs")
    return workflow.continue_run(run.run_id)


def main() -> int:
    interactive = sys.stdin.isatty()
    run = start_or_resume()
    try:
        while run.is_paused:
            try:
                for req in run.requirements:
                    decide(req, interactive)
            except DecisionRefused as refused:  # answered elsewhere first, or too late
                late = isinstance(refused, DeadlinePassed)
                print(f"  This request {'timed out' if late else 'was decided elsewhere'}: "
                      "carrying on with the run as stored.")  # fmt: skip
                run = workflow.continue_run(run.run_id)  # by id: the run as it is stored now
            else:
                run = workflow.continue_run(run)
    except (KeyboardInterrupt, EOFError):
        print(f"\nInterrupted. Run {run.run_id} stays paused in ./runs: run `make demo` to resume.")
        return 130
    print(f"\nRun {run.run_id} {run.status.value}: {run.content}")
    return 0 if run.status.value == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
