"""agno's Router HITL cookbook examples (examples/agno/router_*.py), ported with only their
imports and store line changed, run as programs with the human's answers on stdin: every
route or package, single and multiple selection, confirm and reject, approve, re-route and
cancel after an output review, on the memory, file and Redis stores.

Where our output differs from agno's, a comment says why. One difference shows in every
example: the status line prints our `RunStatus` value ("completed") where agno's prints
"COMPLETED".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .programs import run_example

RULE = "=" * 60


def ending(out: str) -> tuple[str, str]:
    """The final status as printed ("completed"; agno prints "COMPLETED") and the content
    the example prints after it."""
    _, found, tail = out.rpartition(f"\n{RULE}\nStatus: ")
    assert found, out
    status, _, content = tail.partition(f"\n{RULE}\n")
    return status, content.rstrip("\n")


def in_order(text: str, *parts: str) -> bool:
    """Whether every part occurs in `text`, one after the other."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


# router_user_selection: a person picks one of three analyses

ANALYSES = {
    "quick_analysis": "Quick Analysis Results:\n"
    "- Summary statistics computed\n"
    "- Basic trends identified\n"
    "- Processing time: 2 minutes\n"
    "- Confidence: 85%",
    "deep_analysis": "Deep Analysis Results:\n"
    "- Comprehensive statistical analysis\n"
    "- Pattern recognition applied\n"
    "- Anomaly detection completed\n"
    "- Correlation matrix generated\n"
    "- Processing time: 10 minutes\n"
    "- Confidence: 97%",
    # The route selection gives no user input, so the step gets agno's default parameters.
    "custom_analysis": "Custom Analysis Results:\n"
    "- Custom parameters applied: default parameters\n"
    "- Tailored analysis completed\n"
    "- Processing time: varies\n"
    "- Confidence: based on parameters",
}

ANALYSIS_MENU = """
[DECISION POINT] Router: analysis_type_router
[HITL] Select the type of analysis to perform:

Available options:
  - quick_analysis
  - deep_analysis
  - custom_analysis

Enter your choice: """


def analysis_report(analysis: str) -> str:
    return (
        f"=== FINAL REPORT ===\n\n{analysis}\n\n"
        "Report generated successfully.\nThank you for using the analysis workflow!"
    )


@pytest.mark.parametrize("route", ANALYSES)
def test_user_selection_runs_the_route_picked(tmp_path: Path, store_url: str, route: str) -> None:
    """The Router pauses with its message and its three routes; the one picked runs, and the
    report step gets its output."""
    out = run_example("agno/router_user_selection", tmp_path, f"{route}\n", store_url)
    assert out.count(ANALYSIS_MENU) == 1
    assert f"[HITL] Selected: {route}\n" in out
    # The example's user-input and confirmation handlers never fire: a route request is
    # neither (as in agno, where it is only in steps_requiring_route).
    assert "[HITL] Step:" not in out
    assert "Continue? (yes/no)" not in out
    assert ending(out) == ("completed", analysis_report(ANALYSES[route]))
    for other in set(ANALYSES) - {route}:
        assert ANALYSES[other].splitlines()[0] not in out


def test_user_selection_asks_again_when_nothing_is_picked(tmp_path: Path) -> None:
    """An empty answer selects nothing: continuing leaves the run paused on the same route
    request, which the example's loop shows again."""
    out = run_example("agno/router_user_selection", tmp_path, "\ndeep_analysis\n")
    assert out.count(ANALYSIS_MENU) == 2
    assert out.count("[HITL] Selected:") == 1
    assert ending(out) == ("completed", analysis_report(ANALYSES["deep_analysis"]))


def test_user_selection_refuses_an_unknown_route(tmp_path: Path) -> None:
    """Differs from agno on purpose: agno drops an unknown name with a warning, runs no route
    and completes ("0 results"); here `select` raises InvalidSelection and records nothing,
    so the example stops with the traceback."""
    with pytest.raises(AssertionError) as failed:
        run_example("agno/router_user_selection", tmp_path, "bogus\n")
    assert "InvalidSelection" in str(failed.value)
    assert "unknown routes ['bogus']" in str(failed.value)
    assert "Status:" not in str(failed.value)


# router_multi_selection: several processing steps, run in the order given, chained

COLLECTED = (
    "Data collected for 'customer transactions':\n"
    "- 5000 records loaded\n"
    "- Schema validated\n"
    "- Ready for processing\n\n"
    "Select which processing steps to apply (you can choose multiple)."
)
PROCESSING = {
    "clean": "[CLEANING]",
    "validate": "[VALIDATION]",
    "enrich": "[ENRICHMENT]",
    "transform": "[TRANSFORMATION]",
    "aggregate": "[AGGREGATION]",
}
PROCESSING_MENU = """
[DECISION POINT] Router: processing_pipeline
[HITL] Select processing steps to apply (comma-separated for multiple):

Available processing steps:
  1. clean
  2. validate
  3. enrich
  4. transform
  5. aggregate

Tip: Enter multiple choices separated by commas
Example: clean, validate, transform

Enter your choice(s): """


@pytest.mark.parametrize(("answer", "chosen", "echo"), [
    ("transform, clean, aggregate", ["transform", "clean", "aggregate"],
     "[HITL] Selected 3 steps: ['transform', 'clean', 'aggregate']"),
    ("validate", ["validate"], "[HITL] Selected: validate"),
])  # fmt: skip
def test_multi_selection_chains_the_steps_picked(
    tmp_path: Path, store_url: str, answer: str, chosen: list[str], echo: str
) -> None:
    """Several names go through `select_multiple`, one through `select`; the steps picked
    run in the order given, each seeing the one before, and only those."""
    out = run_example("agno/router_multi_selection", tmp_path, f"{answer}\n", store_url)
    assert out.count(PROCESSING_MENU) == 1
    assert f"\n{echo}\n" in out
    status, content = ending(out)
    assert status == "completed"
    assert content.startswith(f"=== PROCESSING SUMMARY ===\n\n{COLLECTED}\n\n")
    assert content.endswith(
        "complete\n\n=== END OF PIPELINE ===\nAll selected processing steps completed successfully."
    )
    assert in_order(content, *(PROCESSING[name] for name in chosen))
    for name, header in PROCESSING.items():
        assert content.count(header) == (name in chosen)


def test_multi_selection_refuses_a_route_twice(tmp_path: Path) -> None:
    """Differs from agno on purpose: agno would run "clean" twice; here a route may be
    selected once, and the selection is refused (InvalidSelection) with nothing recorded."""
    with pytest.raises(AssertionError) as failed:
        run_example("agno/router_multi_selection", tmp_path, "clean, clean\n")
    assert "InvalidSelection" in str(failed.value)
    assert "select each route once" in str(failed.value)


# router_nested_choices: a single step, or a Steps package run in sequence

RECEIVED = (
    "Input received: 'quarterly report'\nReady for processing.\n\n"
    "Please select a processing package."
)
PACKAGES = {
    "quick_scan": ["[QUICK SCAN]"],
    "standard_package": ["[DEEP ANALYSIS]", "[QUALITY CHECK]"],
    "premium_package": ["[DEEP ANALYSIS]", "[QUALITY CHECK]", "[FORMAT OUTPUT]", "[ARCHIVE]"],
}
PACKAGE_MENU = """
[DECISION POINT] package_selector
[HITL] Select a processing package:

Available packages:
  1. quick_scan
  2. standard_package
  3. premium_package
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_nested_choices_run_the_package_picked(
    tmp_path: Path, store_url: str, package: str
) -> None:
    """The Router offers its choices by name (a Steps package by its own name); picking a
    package runs all its steps, chained, before finalize."""
    out = run_example("agno/router_nested_choices", tmp_path, f"{package}\n", store_url)
    assert out.count(PACKAGE_MENU) == 1
    assert f"[HITL] Selected package: {package}\n" in out
    status, content = ending(out)
    assert status == "completed"
    assert content.startswith(f"=== FINAL RESULTS ===\n\n{RECEIVED}\n\n")
    assert content.endswith("\n\n=== PROCESSING COMPLETE ===")
    assert in_order(content, *PACKAGES[package])
    every_header = {header for headers in PACKAGES.values() for header in headers}
    for header in every_header:
        assert content.count(header) == (header in PACKAGES[package])


# router_confirmation: the selector picks, a person confirms or rejects

ANALYZED = (
    "Request analyzed:\n"
    "- Query: URGENT: System is down!\n"
    "- Detected category: urgent\n"
    "- Ready for routing"
)
URGENT = (
    "Urgent Request Handling:\n"
    "- Priority escalation initiated\n"
    "- Immediate response generated\n"
    "- Notification sent to on-call team"
)


@pytest.mark.parametrize(("answer", "said", "handled"), [
    ("yes", "[HITL] Confirmed - executing routed steps", URGENT),
    ("no", "[HITL] Rejected - skipping router", ANALYZED),
])  # fmt: skip
def test_confirmation_runs_the_selected_route_or_skips_the_router(
    tmp_path: Path, store_url: str, answer: str, said: str, handled: str
) -> None:
    """Confirming runs the route the selector picked (urgent); rejecting skips the Router,
    so finalize gets the analysis (the step before it), as in agno."""
    out = run_example("agno/router_confirmation", tmp_path, f"{answer}\n", store_url)
    assert (
        "\n[ROUTING DECISION] request_router\n"
        "[HITL] The system has selected a handler. Proceed with the routed action?\n\n"
        f"Proceed with routing? (yes/no): {said}\n"
    ) in out
    assert out.count("Proceed with routing?") == 1
    assert ending(out) == (
        "completed",
        f"=== FINAL RESPONSE ===\n\n{handled}\n\nRequest processed successfully.",
    )
    assert "Billing Request Handling" not in out
    assert "General Request Handling" not in out
    assert ("Urgent Request Handling" in out) == (answer == "yes")


# router_output_review (HumanReview) and router_output_review_flat (flat keywords):
# review the routed output, approve, re-route, or cancel.
#
# These need `StepOutput.steps` (agno's inner outputs of a container's output), which the
# example reads from the review requirement's `step_output`; without it the example stops
# with AttributeError. See the report to the lead.

REVIEWS = ["router_output_review", "router_output_review_flat"]
FINDINGS = {
    "quick": "Quick Analysis:\n"
    "- Summary statistics computed\n"
    "- Basic trends identified\n"
    "- Confidence: 85%",
    "deep": "Deep Analysis:\n"
    "- Comprehensive statistical analysis\n"
    "- Pattern recognition applied\n"
    "- Anomaly detection completed\n"
    "- Confidence: 97%",
    "custom": "Custom Analysis:\n"
    "- Tailored parameters applied\n"
    "- Domain-specific insights generated\n"
    "- Confidence: 92%",
}
APPROVE = "Approve this result? (yes/no/cancel): "
PICK = (
    "Pick a different route for 'analysis_router':\n  - quick\n  - deep\n  - custom\nYour choice: "
)


def review_of(route: str) -> str:
    """What the human sees when the output of `route` is under review."""
    return (
        f"\nRouter 'analysis_router' produced:\n  {FINDINGS[route]}\n\n"
        "Review the analysis result. Approve, or pick a different analysis type?\n"
        # agno offers the routes on the review requirement too.
        "Available routes: ['quick', 'deep', 'custom']\n\n"
        f"{APPROVE}"
    )


def final_report(route: str | None) -> str:
    analysis = "No analysis" if route is None else FINDINGS[route]
    return f"=== FINAL REPORT ===\n\n{analysis}\n\nReport complete."


@pytest.mark.parametrize("name", REVIEWS)
@pytest.mark.parametrize(("answers", "reviewed", "outcome"), [
    # Approve the selector's route: the report gets it.
    ("yes\n", ["quick"], ("completed", final_report("quick"))),
    # Reject: the human picks another route, which runs and is reviewed in turn.
    ("no\ndeep\ny\n", ["quick", "deep"], ("completed", final_report("deep"))),
    # Cancel: the run ends cancelled, with no content (the example prints none).
    ("cancel\n", ["quick"], ("cancelled", "")),
    ("n\ncustom\nc\n", ["quick", "custom"], ("cancelled", "")),
])  # fmt: skip
def test_output_review_approves_reroutes_or_cancels(
    tmp_path: Path,
    store_url: str,
    name: str,
    answers: str,
    reviewed: list[str],
    outcome: tuple[str, str],
) -> None:
    """Each review shows the routed output and the message; a rejection asks for another
    route, which runs and is reviewed again; cancel ends the run."""
    out = run_example(f"agno/{name}", tmp_path, answers, store_url)
    assert in_order(out, *(review_of(route) for route in reviewed))
    assert out.count(APPROVE) == len(reviewed)
    assert out.count(PICK) == len(reviewed) - 1
    assert ending(out) == outcome


@pytest.mark.parametrize("name", REVIEWS)
def test_output_review_reroutes_at_most_max_retries_times(tmp_path: Path, name: str) -> None:
    """Differs from agno on purpose: agno does not count Router re-routes against
    max_retries (hitl_max_retries) and would ask for a review a 7th time. Here, after the
    5 re-routes allowed, the 6th rejection skips the Router: nothing unapproved flows on,
    so the report has no analysis."""
    routes = ["quick", "deep", "custom", "quick", "deep", "custom"]
    answers = "".join(f"no\n{route}\n" for route in routes[1:]) + "no\n"
    out = run_example(f"agno/{name}", tmp_path, answers)
    assert in_order(out, *(review_of(route) for route in routes))
    assert out.count(APPROVE) == 6
    assert out.count(PICK) == 5
    assert ending(out) == ("completed", final_report(None))
