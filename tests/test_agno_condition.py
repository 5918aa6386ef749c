"""agno's Condition, decision-tree and Steps HITL examples (examples/agno/), run as programs on
every store, with their prompts answered on stdin.

Each example is agno's cookbook file with only its imports and its store line changed; the
assertions read what it printed: what the human was asked, the branch that ran, the status and
the content.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .programs import run_example

COMPLETED = "completed"
CANCELLED = "cancelled"


def ending(out: str) -> tuple[str, str]:
    """The final status and content of a run, as the examples print them: ``Status: ...``,
    a line of separators, then the content."""
    _, _, tail = out.rpartition("Status: ")
    status, _separator, content = tail.split("\n", 2)
    return status, content.strip()


def run_files(tmp_path: Path) -> int:
    """How many runs the example left in its file store (``runs/`` in its directory)."""
    return len(list((tmp_path / "runs").glob("*.json")))


# ---------------------------------------------------------------------------------------------
# condition_user_decision.py: a Condition asks; on_reject decides what a "no" does.
# ---------------------------------------------------------------------------------------------

ANALYSIS = (
    "Analysis complete for 'Q4 sales data':\n"
    "- Found potential issues that may require detailed review\n"
    "- Quick summary is available\n\n"
    "Would you like to proceed with detailed analysis?"
)
DETAILED = (
    "Detailed Analysis Results:\n- Comprehensive review completed\n- All edge cases examined\n"
    "- Full report generated\n- Processing time: 10 minutes"
)
QUICK = (
    "Quick Summary:\n- Basic metrics computed\n- Key highlights identified\n"
    "- Processing time: 1 minute"
)


def final_report(previous: str) -> str:
    return f"=== FINAL REPORT ===\n\n{previous}\n\nReport generated successfully."


CONFIRMED = "[HITL] Confirmed - executing 'if' branch (detailed analysis)"

USER_DECISION_CASES = {
    # menu choice, answer: (on_reject, what the example says it did, status, content)
    "else-confirm": ("1\nyes\n", "else", CONFIRMED, COMPLETED, final_report(DETAILED)),
    "else-reject": (
        "1\nno\n",
        "else",
        "[HITL] Rejected - executing 'else' branch (quick summary)",
        COMPLETED,
        final_report(QUICK),
    ),
    # Skipped: the condition leaves no output, the report reads the analysis before it.
    "skip-reject": (
        "2\nno\n",
        "skip",
        "[HITL] Rejected - skipping entire condition",
        COMPLETED,
        final_report(ANALYSIS),
    ),
    "skip-confirm": ("2\ny\n", "skip", CONFIRMED, COMPLETED, final_report(DETAILED)),
    # Cancelled: the content is that of the last step that ran (analyze_data). agno's is
    # "Workflow cancelled: Step 'analysis_depth_decision' was rejected".
    "cancel-reject": (
        "3\nno\n",
        "cancel",
        "[HITL] Rejected - cancelling workflow",
        CANCELLED,
        ANALYSIS,
    ),
    "cancel-confirm": ("3\ny\n", "cancel", CONFIRMED, COMPLETED, final_report(DETAILED)),
}


@pytest.mark.parametrize("case", USER_DECISION_CASES)
def test_condition_user_decision(tmp_path: Path, store_url: str, case: str) -> None:
    """The Condition pauses once and shows its message and its on_reject; confirming runs the
    if branch, rejecting runs the else branch, skips the condition or cancels the run."""
    stdin, mode, said, status, content = USER_DECISION_CASES[case]
    out = run_example("agno/condition_user_decision", tmp_path, stdin, store_url)
    assert f"on_reject = {mode}\n" in out
    assert out.count("[DECISION POINT] analysis_depth_decision\n") == 1
    assert "[HITL] Would you like to perform detailed analysis?\n" in out
    assert f"[INFO] on_reject mode: {mode}\n" in out
    assert out.count("Your choice (yes/no): ") == 1
    assert f"Your choice (yes/no): {said}\n" in out
    assert ending(out) == (status, content)


def test_condition_user_decision_invalid_menu_choice(tmp_path: Path) -> None:
    """An unknown menu choice runs the default demo (on_reject="else"); the file store keeps
    the one run."""
    out = run_example("agno/condition_user_decision", tmp_path, "9\nno\n")
    assert "Invalid choice. Running default demo (on_reject='else')..." in out
    assert "[INFO] on_reject mode: else\n" in out
    assert ending(out) == (COMPLETED, final_report(QUICK))
    assert run_files(tmp_path) == 1


def test_condition_user_decision_all_demos(tmp_path: Path, store_url: str) -> None:
    """Choice 4 rejects automatically in each mode: the else branch runs, the condition is
    skipped, the run is cancelled."""
    out = run_example("agno/condition_user_decision", tmp_path, "4\n", store_url)
    assert "Your choice (yes/no)" not in out  # nothing more is read
    demos = out.split("\nDemo: ")[1:]
    assert [demo.splitlines()[1] for demo in demos] == [
        "on_reject = else",
        "on_reject = skip",
        "on_reject = cancel",
    ]
    endings = []
    for demo in demos:
        assert demo.count("[DECISION POINT] analysis_depth_decision\n") == 1
        assert "[HITL] Would you like to perform detailed analysis?\n" in demo
        assert demo.count("[AUTO] Rejecting to demonstrate on_reject behavior...") == 1
        status, _, content = demo.partition("\nStatus: ")[2].partition("\nContent: ")
        endings.append((status, content.rstrip("=\n")))
    assert endings == [
        (COMPLETED, final_report(QUICK)),
        (COMPLETED, final_report(ANALYSIS)),
        # agno's content: "Workflow cancelled: Step 'analysis_depth_decision' was rejected".
        (CANCELLED, ANALYSIS),
    ]


def test_condition_user_decision_all_demos_leave_three_runs(tmp_path: Path) -> None:
    """Run as it is, choice 4 keeps its three runs in the file store."""
    out = run_example("agno/condition_user_decision", tmp_path, "4\n")
    assert out.count("\nStatus: ") == 3
    assert run_files(tmp_path) == 3


# ---------------------------------------------------------------------------------------------
# condition_on_error.py: a step inside a Condition always fails; on_error decides.
# ---------------------------------------------------------------------------------------------

# As in agno, a Condition's on_error takes a failure of a step inside it as the Condition's:
# on_error="skip" stops the rest of the condition (enrich_data never runs). Here the skipped
# Condition hands nothing on, so save sees no data (agno keeps a failed placeholder output as
# the Condition's). step_results lists every finished step, nested ones included.
SKIPPED_ENDING = (
    "Status: completed\nContent: Saved: no data\n  [save] success=True: Saved: no data\n"
)


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_condition_on_error(tmp_path: Path, store_url: str, retries: int) -> None:
    """skip: the workflow goes on; fail: the run fails; pause: the human sees the error, each
    retry fails and pauses again, and skip goes on."""
    stdin = "retry\n" * retries + "skip\n"
    out = run_example("agno/condition_on_error", tmp_path, stdin, store_url)
    skip, rest = out.split("Example 2: on_error='fail'\n")
    fail, pause = rest.split("Example 3: on_error='pause' (HITL)\n")
    assert "Example 1: on_error='skip' (default)\n" in skip
    assert skip.split("=" * 60 + "\n")[2] == SKIPPED_ENDING + "\n"
    # workflow.run does not raise here: the run comes back with status failed, so the example
    # prints nothing for it (agno raises, and it prints "Workflow failed as expected: ...").
    assert fail.strip("=\n") == ""
    assert "Workflow failed as expected" not in out
    # The error requirement names the Condition, as in agno. A retry runs the Condition again
    # from its first step and pauses again (agno raises the ValueError out of continue_run on
    # a Condition retry); skip skips the whole Condition, as in agno: "Saved: no data".
    asked = (
        "Step 'validate_if_needed' failed: Data validation failed: missing required fields\n"
        "Error type: ValueError\n"
        "Retry or skip? (retry/skip): "
    )
    assert pause.count(asked) == retries + 1
    assert pause.count(asked + "Retrying...\n") == retries
    assert pause.count(asked + "Skipping...\n") == 1
    assert pause.endswith("Skipping...\n" + SKIPPED_ENDING + "\n")


# ---------------------------------------------------------------------------------------------
# decision_tree.py: two Conditions in a row, each asked.
# ---------------------------------------------------------------------------------------------

DETAILED_TREE = (
    "Detailed analysis complete:\n- Full statistical review\n- All edge cases examined\n"
    "- Confidence level: 95%"
)
QUICK_TREE = "Quick summary complete:\n- Key metrics computed\n- Top highlights identified"


def formal(previous: str) -> str:
    return f"=== FORMAL REPORT ===\n\n{previous}\n\nReport formatted for stakeholder presentation."


def notes(previous: str) -> str:
    return f"--- Internal Notes ---\n\n{previous}\n\nSaved as team reference document."


DECISION_TREE_CASES = {
    "yes-yes": ("yes\nyes\n", formal(DETAILED_TREE)),
    "no-no": ("no\nno\n", notes(QUICK_TREE)),
    "yes-no": ("y\nn\n", notes(DETAILED_TREE)),
    "no-yes": ("n\ny\n", formal(QUICK_TREE)),
}


@pytest.mark.parametrize("case", DECISION_TREE_CASES)
def test_decision_tree(tmp_path: Path, store_url: str, case: str) -> None:
    """Each Condition asks in turn; each answer picks its branch, and the second branch builds
    on the first one's output."""
    stdin, content = DECISION_TREE_CASES[case]
    out = run_example("agno/decision_tree", tmp_path, stdin, store_url)
    first, second = out.split("\n[Decision] ")[1:]
    assert first.startswith("analysis_depth\n  Perform detailed analysis? (No = quick summary)\n")
    assert second.startswith("output_format\n  Generate formal report? (No = internal notes)\n")
    said = {"y": "-> Confirmed", "n": "-> Rejected (taking alternative path)"}
    answers = stdin.split()
    for shown, answer in zip((first, second), answers, strict=True):
        assert f"Your choice (yes/no):   {said[answer[0]]}\n" in shown
    assert ending(out) == (COMPLETED, content)


def test_decision_tree_as_is(tmp_path: Path) -> None:
    """Run as it is, the example keeps its one run in the file store."""
    out = run_example("agno/decision_tree", tmp_path, "n\ny\n")
    assert ending(out) == (COMPLETED, formal(QUICK_TREE))
    assert run_files(tmp_path) == 1


# ---------------------------------------------------------------------------------------------
# multi_component_decision_tree.py: Condition, then a Loop that asks to start, then Condition.
# ---------------------------------------------------------------------------------------------

MC_DETAILED = "Detailed analysis: all metrics computed, edge cases covered."
MC_QUICK = "Quick summary: key highlights identified."


def refined(previous: str) -> str:
    # Each of the loop's iterations refines the same input (forward_iteration_output=False).
    return f"Refinement pass complete. Quality improved.\nPrevious: {previous[:80]}..."


MULTI_CASES = {
    "yes-yes-yes": ("yes\nyes\nyes\n", f"=== FORMAL REPORT ===\n{refined(MC_DETAILED)}"),
    "no-no-no": ("no\nno\nno\n", f"--- Internal Notes ---\n{MC_QUICK}"),
    "no-yes-no": ("n\ny\nn\n", f"--- Internal Notes ---\n{refined(MC_QUICK)}"),
    "yes-no-yes": ("y\nn\ny\n", f"=== FORMAL REPORT ===\n{MC_DETAILED}"),
}


@pytest.mark.parametrize("case", MULTI_CASES)
def test_multi_component_decision_tree(tmp_path: Path, store_url: str, case: str) -> None:
    """The first Condition, the Loop and the last Condition each ask once: a "no" takes the
    else branch of a Condition, and skips the Loop."""
    stdin, content = MULTI_CASES[case]
    out = run_example("agno/multi_component_decision_tree", tmp_path, stdin, store_url)
    asked = out.split("\n[Decision] ")[1:]
    assert [shown.split("\n\n")[0] for shown in asked] == [
        "analysis_depth\n  Run detailed analysis? (No = quick summary)",
        "refinement\n  Start iterative refinement? (up to 3 passes)",
        "output_format\n  Generate formal report? (No = internal notes)",
    ]
    said = {"y": "-> Confirmed", "n": "-> Rejected"}
    for shown, answer in zip(asked, stdin.split(), strict=True):
        assert f"Your choice (yes/no):   {said[answer[0]]}\n" in shown
    assert ending(out) == (COMPLETED, content)


# ---------------------------------------------------------------------------------------------
# steps_pipeline_confirmation.py: a Steps pipeline asks before it runs.
# ---------------------------------------------------------------------------------------------

PIPELINE_CASES = {
    # The report reads the pipeline's last step (enrich_data).
    "yes": (
        "[HITL] Confirmed - executing pipeline",
        "Enrichment complete:\n- External data merged\n- Derived fields computed",
    ),
    # Skipped: the pipeline leaves no output, the report reads collect_data's.
    "no": (
        "[HITL] Rejected - skipping pipeline",
        "Data collection complete:\n- 1000 records gathered\n"
        "- Ready for optional advanced processing",
    ),
}


@pytest.mark.parametrize("answer", PIPELINE_CASES)
def test_steps_pipeline_confirmation(tmp_path: Path, store_url: str, answer: str) -> None:
    """The pipeline asks once with its message; confirming runs its three steps, rejecting
    skips them all."""
    said, previous = PIPELINE_CASES[answer]
    out = run_example("agno/steps_pipeline_confirmation", tmp_path, f"{answer}\n", store_url)
    assert out.count("[DECISION POINT] advanced_processing_pipeline\n") == 1
    assert (
        "[HITL] Run advanced processing pipeline? "
        "(This includes validation, transformation, and enrichment)\n"
    ) in out
    assert f"Run this pipeline? (yes/no): {said}\n" in out
    assert ending(out) == (COMPLETED, final_report(previous))


def test_steps_pipeline_confirmation_as_is(tmp_path: Path) -> None:
    """Run as it is, the example keeps its one run in the file store."""
    out = run_example("agno/steps_pipeline_confirmation", tmp_path, "n\n")
    assert "Run this pipeline? (yes/no): [HITL] Rejected - skipping pipeline\n" in out
    assert ending(out)[0] == COMPLETED
    assert run_files(tmp_path) == 1
