"""agno's output-review cookbook examples (examples/agno/: basic_output_review, edit_output,
output_review_with_retry, conditional_output_review, full_review_cycle, loop_iteration_review,
and the flat-keyword versions), ported with only their imports and store line changed, run as
programs with the human's answers on stdin: approve, reject (cancel), reject with feedback and
retry, retries exhausted, edit, a review predicate that does or does not ask, and per-iteration
review of a loop, on the memory, file and Redis stores.

Besides the printed output, the runs the example left in the store are read back (file and
Redis; a memory store dies with its process) to see which steps really ran and what was
decided. The stand-in agent (examples/stand_ins.py) drops a leading "Refined: " before adding
its own, so a second agent's output reads like the first's; the store tells them apart.

Where our output differs from agno's, a comment says why. One difference shows in every
example: the status line prints our `RunStatus` ("completed"; it printed "RunStatus.completed"
before, and `run_program` reads either), where agno's str-valued enum prints "COMPLETED" (or
"RunStatus.completed" from Python 3.12 on).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from statemachine import RunRecord, RunStatus
from statemachine.core.events import JSON
from stores import open_store

from .programs import EXAMPLES, run_example

EMAIL_PROMPT = "Draft an email to the team about the Friday standup being moved to Monday"
DRAFT = f"Refined: {EMAIL_PROMPT}"


def run_program(name: str, cwd: Path, stdin: str = "", store_url: str | None = None) -> str:
    """`run_example`, with the status lines read the same whether `RunStatus` prints as
    "RunStatus.completed" or "completed"."""
    return run_example(name, cwd, stdin, store_url).replace("RunStatus.", "")


def stored_runs(store_url: str) -> list[RunRecord] | None:
    """The runs the example left in the store, oldest first; None for a memory store, whose
    runs died with the example's process."""
    if store_url.startswith("memory:"):
        return None
    store = open_store(store_url)
    try:
        runs = [store.load(run_id) for run_id in store.run_ids()]
    finally:
        store.close()
    return sorted(runs, key=lambda run: run.created_at)


def results(run: RunRecord) -> list[tuple[str, JSON]]:
    """(step name, content) of each step that finished and produced an output."""
    return [(result.name, result.content) for result in run.results]


def answers(run: RunRecord) -> list[tuple[str, JSON]]:
    """(how, value) of each decision taken on the run, in order."""
    return [(answer.how, answer.value) for answer in run.answers]


def outputs(run: RunRecord, gate_name: str) -> list[JSON]:
    """Every output the gated step or loop produced, one per run of it (iteration)."""
    gate = run.gate(gate_name)
    assert gate is not None, gate_name
    return list(gate.outputs)


def file_url(tmp_path: Path) -> str:
    return f"file://{tmp_path}/runs"


def in_order(text: str, *parts: str) -> bool:
    """Whether every part occurs in `text`, one after the other."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


# basic_output_review: the draft is reviewed before it is sent; reject cancels the workflow


def test_basic_output_review_approved_flows_to_send(tmp_path: Path, store_url: str) -> None:
    out = run_program("agno/basic_output_review", tmp_path, "yes\n", store_url)
    assert in_order(
        out,
        "Step 'draft_email' produced output for review:",
        "Message: Review the email draft before sending",
        f"Output:\n{DRAFT}\n",
        "Approve this output? (yes/no): Output approved - continuing to next step.",
        "Final status: completed",
        f"Final output: {DRAFT}\n",
    )
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert run.workflow == "email_workflow"
        assert results(run) == [("draft_email", DRAFT), ("send_email", DRAFT)]
        assert answers(run) == [("confirm", None)]


def test_basic_output_review_rejected_cancels(tmp_path: Path, store_url: str) -> None:
    out = run_program("agno/basic_output_review", tmp_path, "no\n", store_url)
    assert in_order(out, f"Output:\n{DRAFT}\n", "Output rejected.")
    # agno keeps the rejected draft in the cancelled run's step_results; ours keeps no
    # unapproved output, so the run has no content.
    assert out.endswith("Final status: cancelled\nFinal output: None\n")
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert run.status is RunStatus.cancelled
        assert results(run) == []  # send_email never ran
        assert outputs(run, "draft_email") == [DRAFT]
        assert answers(run) == [("reject", None)]


# output_review_with_retry (HumanReview) and its flat-keyword twin: reject with feedback
# re-runs the draft with the feedback; max_retries=3 more runs at most.

SHORT_DRAFT = "Refined: Draft an email to the team about"  # the stand-in obeys "shorter"


@pytest.mark.parametrize("name", ["output_review_with_retry", "output_review_with_retry_flat"])
def test_output_review_retry_with_feedback(tmp_path: Path, store_url: str, name: str) -> None:
    stdin = "no\nmake it shorter\nyes\n"
    out = run_program(f"agno/{name}", tmp_path, stdin, store_url)
    assert in_order(
        out,
        f"Step 'draft_email' output (attempt 1):\n{DRAFT}\n",
        "Approve? (yes/no): What should change? Rejected with feedback. Retrying...",
        f"Step 'draft_email' output (attempt 2):\n{SHORT_DRAFT}\n",
        "Approve? (yes/no): \nFinal status: completed",
        f"Final output: {SHORT_DRAFT}\n",
    )
    assert "attempt 3" not in out
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert run.workflow == "email_review_workflow"
        assert outputs(run, "draft_email") == [DRAFT, SHORT_DRAFT]
        assert results(run) == [("draft_email", SHORT_DRAFT), ("send_email", SHORT_DRAFT)]
        assert answers(run) == [("reject", "make it shorter"), ("confirm", None)]


def test_output_review_retry_friendlier_then_approved_at_once(tmp_path: Path) -> None:
    """Another feedback the stand-in obeys, answered with "n"/"y" (the flat version)."""
    stdin = "n\nplease be more friendly\ny\n"
    out = run_program("agno/output_review_with_retry_flat", tmp_path, stdin, file_url(tmp_path))
    assert in_order(out, f"(attempt 2):\n{DRAFT}!\n", f"Final output: {DRAFT}!\n")
    out = run_program("agno/output_review_with_retry", tmp_path, "y\n")
    assert "(attempt 2)" not in out
    assert out.endswith(f"Final status: completed\nFinal output: {DRAFT}\n")


def test_output_review_retries_exhausted(tmp_path: Path) -> None:
    stdin = "no\ntoo formal\nno\ntoo long\nno\nstill no\nno\nno again\n"
    out = run_program("agno/output_review_with_retry", tmp_path, stdin, file_url(tmp_path))
    for attempt in (1, 2, 3, 4):
        assert f"Step 'draft_email' output (attempt {attempt}):\n{DRAFT}\n" in out
    assert out.count("Rejected with feedback. Retrying...") == 4
    assert "(attempt 5)" not in out
    # agno cancels the run on the 4th reject (content "Max retries (3) reached for step
    # 'draft_email'"); ours skips the draft (nothing unapproved flows on) and goes on, so
    # send_email works from the workflow input.
    assert out.endswith(f"Final status: completed\nFinal output: {DRAFT}\n")
    runs = stored_runs(file_url(tmp_path))
    assert runs is not None
    (run,) = runs
    assert outputs(run, "draft_email") == [DRAFT] * 4
    assert results(run) == [("send_email", DRAFT)]
    assert [how for how, _ in answers(run)] == ["reject"] * 4


# edit_output: approve, edit (the edit flows on to send_email), or reject (cancel)

EDITED = "Hi all, standup moves to Monday."


def test_edit_output_edit_flows_downstream(tmp_path: Path, store_url: str) -> None:
    out = run_program("agno/edit_output", tmp_path, f"e\n{EDITED}\n", store_url)
    assert in_order(
        out,
        f"Draft output:\n{DRAFT}\n",
        "[a]pprove / [e]dit / [r]eject: Enter your edited version:\n"
        "Output replaced with your edit.",
        "Final status: completed",
        # send_email ran on the edited text: the stand-in prefixes it
        f"Final output: Refined: {EDITED}\n",
    )
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert run.workflow == "email_edit_workflow"
        assert results(run) == [("draft_email", EDITED), ("send_email", f"Refined: {EDITED}")]
        assert answers(run) == [("edit", EDITED)]


@pytest.mark.parametrize(
    ("choice", "printed", "status", "content"),
    [
        ("a", "", "completed", DRAFT),
        ("r", "Draft rejected - cancelling workflow.\n", "cancelled", None),
        ("x", "Draft rejected - cancelling workflow.\n", "cancelled", None),
    ],
)
def test_edit_output_approve_or_reject(
    tmp_path: Path, choice: str, printed: str, status: str, content: str | None
) -> None:
    out = run_program("agno/edit_output", tmp_path, f"{choice}\n", file_url(tmp_path))
    assert out.endswith(
        f"[a]pprove / [e]dit / [r]eject: {printed}\n"
        f"Final status: {status}\nFinal output: {content}\n"
    )
    runs = stored_runs(file_url(tmp_path))
    assert runs is not None
    (run,) = runs
    assert run.status.value == status
    sent = [("draft_email", DRAFT), ("send_email", DRAFT)]
    assert results(run) == (sent if status == "completed" else [])


# conditional_output_review (HumanReview) and its flat twin: a predicate asks for review only
# when the draft is over 200 characters.

CONDITIONAL = ["conditional_output_review", "conditional_output_review_flat"]
Q4_PROMPT = "Draft a detailed email about Q4 planning, budget allocations, and team assignments"
Q4_DRAFT = f"Refined: {Q4_PROMPT}"


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_review_short_draft_is_auto_approved(
    tmp_path: Path, store_url: str, name: str
) -> None:
    """The stand-in's draft is 91 characters: the predicate approves it, nobody is asked."""
    out = run_program(f"agno/{name}", tmp_path, "", store_url)
    # The predicate is asked once, for the one draft: the step runs once.
    assert out == (
        f"[Auto-approved: output is only {len(Q4_DRAFT)} chars]\n"
        "\nFinal status: completed\n"
        f"Final output: {Q4_DRAFT}\n"
    )
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert outputs(run, "draft_email") == [Q4_DRAFT]
        assert results(run) == [("draft_email", Q4_DRAFT), ("send_email", Q4_DRAFT)]
        assert answers(run) == []


# The stand-in agent answers in one line, far under the 200 characters that trigger review.
# To take the review paths, these tests put a wordier drafter (as a real model writing "a
# detailed email" would be) in the example's working directory, where `python -c` (the
# store-swapped run) imports `stand_ins` from first. The example itself is unchanged.
DETAILS = (
    "\n\nHi team,\n\nQ4 planning: each team keeps its Q3 budget plus 5%, hiring reopens in "
    "January, and every lead owns one roadmap theme. Please send questions before Friday."
    "\n\nBest,\nAlex"
)
LONG_DRAFT = Q4_DRAFT + DETAILS
Q4_SHORT = "Refined: Draft a detailed email about Q4"  # the stand-in obeys "shorter"
WORDY_STAND_INS = f'''
"""The examples' stand-ins, with a Drafter that writes a long email unless told "shorter"."""
import importlib.util
import sys

_spec = importlib.util.spec_from_file_location("_stand_ins", {str(EXAMPLES / "stand_ins.py")!r})
assert _spec is not None and _spec.loader is not None
_real = importlib.util.module_from_spec(_spec)
sys.modules["_stand_ins"] = _real
_spec.loader.exec_module(_real)
OpenAIChat, OpenAIResponses = _real.OpenAIChat, _real.OpenAIResponses


class Agent(_real.Agent):
    def run(self, message):
        response = _real.Agent.run(self, message)
        if self.name == "Drafter" and "shorter" not in message:
            response.content += {DETAILS!r}
        return response
'''


def run_wordy(name: str, tmp_path: Path, stdin: str, store_url: str) -> str:
    (tmp_path / "stand_ins.py").write_text(WORDY_STAND_INS)
    return run_program(f"agno/{name}", tmp_path, stdin, store_url)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_review_long_draft_rejected_then_auto_approved(
    tmp_path: Path, store_url: str, name: str
) -> None:
    out = run_wordy(name, tmp_path, "no\nmake it shorter\n", store_url)
    assert in_order(
        out,
        f"[Review triggered: output is {len(LONG_DRAFT)} chars, threshold is 200]\n",
        f"Output for review:\n{LONG_DRAFT}\n",
        "Approve? (yes/no): Feedback: ",
        # the retry, with the feedback, is short: the predicate lets it through unasked
        f"[Auto-approved: output is only {len(Q4_SHORT)} chars]\n",
        f"Final status: completed\nFinal output: {Q4_SHORT}\n",
    )
    assert out.count("Output for review:") == out.count("[Auto-approved") == 1
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert outputs(run, "draft_email") == [LONG_DRAFT, Q4_SHORT]
        assert results(run) == [("draft_email", Q4_SHORT), ("send_email", Q4_SHORT)]
        assert answers(run) == [("reject", "make it shorter")]


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_review_long_draft_approved(tmp_path: Path, name: str) -> None:
    out = run_wordy(name, tmp_path, "y\n", file_url(tmp_path))
    assert in_order(
        out,
        f"[Review triggered: output is {len(LONG_DRAFT)} chars, threshold is 200]\n",
        f"Output for review:\n{LONG_DRAFT}\n",
        "Approve? (yes/no): \nFinal status: completed\n",
        f"Final output: {LONG_DRAFT}\n",
    )
    runs = stored_runs(file_url(tmp_path))
    assert runs is not None
    (run,) = runs
    assert results(run) == [("draft_email", LONG_DRAFT), ("send_email", LONG_DRAFT)]
    assert answers(run) == [("confirm", None)]


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_review_retries_exhausted(tmp_path: Path, name: str) -> None:
    out = run_wordy(name, tmp_path, "no\nmore detail\n" * 3, file_url(tmp_path))
    assert out.count(f"Output for review:\n{LONG_DRAFT}\n") == 3  # max_retries=2: 3 drafts
    # agno cancels on the 3rd reject ("Max retries (2) reached for step 'draft_email'"); ours
    # skips the draft and goes on: send_email works from the workflow input.
    assert out.endswith(f"Final status: completed\nFinal output: {Q4_DRAFT}\n")
    runs = stored_runs(file_url(tmp_path))
    assert runs is not None
    (run,) = runs
    assert outputs(run, "draft_email") == [LONG_DRAFT] * 3
    assert results(run) == [("send_email", Q4_DRAFT)]


# full_review_cycle: scripted approve, cancel (a second workflow) and reject-then-approve

EXERCISE = "Refined: Summarise the benefits of morning exercise."
FEEDBACK = "Please add a point about improved mood and mental health."


def test_full_review_cycle(tmp_path: Path, store_url: str) -> None:
    out = run_program("agno/full_review_cycle", tmp_path, "", store_url)
    demo1, _, rest = out.partition("  Demo 2: CANCEL\n")
    demo2, _, demo3 = rest.partition("  Demo 3: REJECT on first attempt, then APPROVE on retry\n")
    assert in_order(
        demo1,
        "  Demo 1: APPROVE\n",
        f"[PAUSED] Step 'agent_a' produced output for review:\n  Draft:\n    {EXERCISE}\n",
        "  -> Simulating decision: APPROVE\n",
        f"[RESULT] Agent B summary:\n  {EXERCISE}\n",
    )
    assert in_order(
        demo2,
        f"[PAUSED] Draft:\n    {EXERCISE}\n",
        "  -> Simulating decision: CANCEL\n",
        # agno keeps the cancelled draft in step_results; ours keeps nothing unapproved.
        "[RESULT] Status: cancelled\n  Content: None\n",
    )
    assert in_order(
        demo3,
        f"[PAUSED] Attempt 1 - Draft:\n    {EXERCISE}\n",
        "  -> Simulating decision: REJECT (with feedback)\n",
        f"[PAUSED] Attempt 2 - Draft:\n    {EXERCISE}\n",
        "  -> Simulating decision: APPROVE\n",
        f"[RESULT] Final Agent B summary:\n  {EXERCISE}\n  Status: completed\n",
    )
    assert "Attempt 3" not in demo3
    if (runs := stored_runs(store_url)) is not None:
        # Both workflows keep their runs in the one store, told apart by name.
        approved, cancelled, retried = runs
        assert approved.workflow == retried.workflow == "hitl_review_workflow"
        assert cancelled.workflow == "hitl_cancel_workflow"
        assert results(approved) == [("agent_a", EXERCISE), ("agent_b", EXERCISE)]
        assert answers(approved) == [("confirm", None)]
        assert cancelled.status is RunStatus.cancelled
        assert results(cancelled) == []  # agent_b never ran
        assert answers(cancelled) == [("reject", None)]
        assert outputs(retried, "agent_a") == [EXERCISE, EXERCISE]
        assert results(retried) == [("agent_a", EXERCISE), ("agent_b", EXERCISE)]
        assert answers(retried) == [("reject", FEEDBACK), ("confirm", None)]


# loop_iteration_review (HumanReview) and its flat twin: each iteration's output is reviewed;
# reject (with or without feedback) runs another iteration on the previous one's output
# (forward_iteration_output=True), confirm stops the loop with it. max_iterations=5.

LOOPS = ["loop_iteration_review", "loop_iteration_review_flat"]
FOX = (
    "Refined: The quick brown fox jumped over the lazy dog and then it went to the store "
    "to buy some groceries because it was hungry and needed food to eat."
)
FOX_SHORT = "Refined: The quick brown fox jumped over the lazy dog and then it went to"


def review(output: str) -> str:
    return f"\nReview this iteration.\n\nCurrent output:\n{output}\n"


@pytest.mark.parametrize("name", LOOPS)
def test_loop_iteration_review(tmp_path: Path, store_url: str, name: str) -> None:
    stdin = "no\nmake it shorter\nno\n\nno\nbe friendly\nyes\n"
    out = run_program(f"agno/{name}", tmp_path, stdin, store_url)
    again = (
        "Accept this result? (yes/no): Feedback (press Enter to skip): Trying another iteration..."
    )
    assert in_order(
        out,
        review(FOX),
        again,
        review(FOX_SHORT),  # iteration 2 shortened iteration 1's output
        again,
        review(FOX_SHORT),  # no feedback: the same text again
        again,
        review(f"{FOX_SHORT}!"),  # iteration 4 made iteration 3's output friendlier
        "Accept this result? (yes/no): Result accepted.\n",
        f"\nFinal status: completed\nFinal output: {FOX_SHORT}!\n",
    )
    assert out.count("Review this iteration.") == 4
    if (runs := stored_runs(store_url)) is not None:
        (run,) = runs
        assert run.workflow == "iterative_refinement"
        assert outputs(run, "refinement_loop") == [FOX, FOX_SHORT, FOX_SHORT, f"{FOX_SHORT}!"]
        assert results(run) == [("refinement_loop", f"{FOX_SHORT}!")]
        assert answers(run) == [
            ("reject", "make it shorter"),
            ("reject", None),
            ("reject", "be friendly"),
            ("confirm", None),
        ]


@pytest.mark.parametrize("name", LOOPS)
def test_loop_iteration_review_accepted_at_once(tmp_path: Path, name: str) -> None:
    out = run_program(f"agno/{name}", tmp_path, "y\n", file_url(tmp_path))
    assert out == (
        f"{review(FOX)}\nAccept this result? (yes/no): Result accepted.\n"
        f"\nFinal status: completed\nFinal output: {FOX}\n"
    )


@pytest.mark.parametrize("name", LOOPS)
def test_loop_iteration_review_all_rejected(tmp_path: Path, name: str) -> None:
    out = run_program(f"agno/{name}", tmp_path, "no\n\n" * 5, file_url(tmp_path))
    assert out.count(review(FOX)) == 5
    assert out.count("Trying another iteration...") == 5
    # The 5th iteration is the last (max_iterations=5): rejecting it skips the loop, so no
    # unapproved output flows on and the run has no content (not verified against agno).
    assert out.endswith("\nFinal status: completed\nFinal output: None\n")
    runs = stored_runs(file_url(tmp_path))
    assert runs is not None
    (run,) = runs
    assert outputs(run, "refinement_loop") == [FOX] * 5
    assert results(run) == []
