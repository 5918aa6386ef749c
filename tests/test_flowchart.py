"""Diagrams of a user's workflow (`statemachine.tools.flowchart`): every kind of step and
gate, and where a run stands. `test_cli_diagram.py` tests the command that prints them."""

from __future__ import annotations

import re

import pytest

from statemachine import (
    Condition,
    InvalidArgument,
    Loop,
    Parallel,
    Router,
    RunStatus,
    Step,
    StepInput,
    Steps,
    Workflow,
)
from statemachine.runtime.containers import Node
from statemachine.tools.flowchart import flowchart
from stores import MemoryStore

from .cli_app import publishing


def work(step_input: StepInput) -> str:
    return "done"


def fails(step_input: StepInput) -> str:
    raise RuntimeError("upstream API returned 503")


def is_urgent(step_input: StepInput) -> bool:
    return bool(step_input.input == "urgent")


def pick(step_input: StepInput) -> str:
    return "mail"


def step(name: str, **options: object) -> Step:
    return Step(name=name, executor=work, **options)  # type: ignore[arg-type]


def draw(*steps: Node, name: str = "flow") -> str:
    return flowchart(Workflow(name, list(steps)))


def test_steps_in_order() -> None:
    """Plain steps are boxes, one after the other, from the workflow's name to its end."""
    assert draw(step("a"), step("b")) == (
        "flowchart TD\n"
        '    start(["flow"])\n'
        '    n1["a"]\n'
        '    n2["b"]\n'
        '    finish(["end"])\n'
        "    start --> n1\n"
        "    n1 --> n2\n"
        "    n2 --> finish\n"
    )


def test_gates_before_and_after_a_step() -> None:
    """A confirmation and user input (its fields) come before the step, a review after it,
    each with its timeout; a rejection retries, or skips when no try is left."""
    assert draw(
        step("write", requires_confirmation=True, requires_user_input=True,
             user_input_schema=[{"name": "tone"}], requires_output_review=True,
             on_reject="retry", timeout=60, on_timeout="approve"),
    ) == (
        "flowchart TD\n"
        '    start(["flow"])\n'
        '    n1{{"confirmation, timeout 60 s: approve"}}\n'
        '    n2{{"input: tone, timeout 60 s: approve"}}\n'
        '    n3["write"]\n'
        '    n4{{"review, timeout 60 s: approve"}}\n'
        '    finish(["end"])\n'
        "    start --> n1\n"
        '    n1 -->|"confirm"| n2\n'
        '    n2 -->|"provide"| n3\n'
        "    n3 --> n4\n"
        '    n4 -.->|"reject: retry"| n3\n'
        '    n4 -->|"confirm"| finish\n'
        '    n4 -.->|"reject, no try left: skip"| finish\n'
        '    n1 -.->|"reject: skip"| finish\n'
        '    n2 -.->|"reject: skip"| finish\n'
    )  # fmt: skip


def test_a_rejection_that_cancels_ends_at_cancelled() -> None:
    """on_reject=cancel draws the rejection to the run's cancelled end."""
    drawn = draw(step("send", requires_confirmation=True, on_reject="cancel"))
    assert '    n1 -.->|"reject: cancel"| cancelled\n' in drawn
    assert '    cancelled(["cancelled"])\n' in drawn
    assert "cancelled" not in draw(step("send", requires_confirmation=True))


def test_loops_repeat_their_body() -> None:
    """A loop is a box around its body: without review its last step leads back to its
    first for the next iteration; with iteration review, a rejection does."""
    assert draw(
        Loop(name="refine", steps=[step("draft"), step("check")], max_iterations=3),
        Loop(name="reviewed", steps=[step("d")], requires_iteration_review=True,
             on_reject="retry", max_iterations=1),
    ) == (
        "flowchart TD\n"
        '    start(["flow"])\n'
        '    subgraph b1 ["Loop refine, up to 3 iterations"]\n'
        '        n1["draft"]\n'
        '        n2["check"]\n'
        "    end\n"
        '    subgraph b2 ["Loop reviewed, up to 1 iteration"]\n'
        '        n3["d"]\n'
        "    end\n"
        '    n4{{"review"}}\n'
        '    finish(["end"])\n'
        "    start --> n1\n"
        "    n1 --> n2\n"
        '    n2 -.->|"next iteration"| n1\n'
        "    n2 --> n3\n"
        "    n3 --> n4\n"
        '    n4 -.->|"reject: retry"| n3\n'
        '    n4 -->|"confirm"| finish\n'
        '    n4 -.->|"reject, no try left: skip"| finish\n'
    )  # fmt: skip


def test_containers_are_boxes_with_their_branches() -> None:
    """Steps in a box; a Condition's evaluator chooses its if or else branch (a human does,
    when it asks for confirmation); a Router's selector or a human picks a route; a Parallel
    forks into its branches."""
    assert draw(
        Steps(name="pipeline", steps=[step("a")], requires_confirmation=True),
        Condition(name="urgent", evaluator=is_urgent, steps=[step("fast")],
                  else_steps=[step("slow")]),
        Condition(name="asked", requires_confirmation=True, steps=[step("yes")],
                  else_steps=[step("no")]),
        Router(name="auto", selector=pick, choices=[step("mail"), [step("b1"), step("b2")]]),
        Router(name="human", requires_user_input=True, choices=[step("p"), step("q")]),
        Parallel(step("left"), step("right"), name="both"),
    ) == (
        "flowchart TD\n"
        '    start(["flow"])\n'
        '    n1{{"confirmation"}}\n'
        '    subgraph b1 ["Steps pipeline"]\n'
        '        n2["a"]\n'
        "    end\n"
        '    subgraph b2 ["Condition urgent"]\n'
        '        n3{"is_urgent?"}\n'
        '        n4["fast"]\n'
        '        n5["slow"]\n'
        "    end\n"
        '    n6{{"confirmation"}}\n'
        '    subgraph b3 ["Condition asked"]\n'
        '        n7["yes"]\n'
        '        n8["no"]\n'
        "    end\n"
        '    subgraph b4 ["Router auto"]\n'
        '        n9{"pick?"}\n'
        '        n10["mail"]\n'
        '        subgraph b5 ["Steps steps_group_1"]\n'
        '            n11["b1"]\n'
        '            n12["b2"]\n'
        "        end\n"
        "    end\n"
        '    subgraph b6 ["Router human"]\n'
        '        n13{{"route"}}\n'
        '        n14["p"]\n'
        '        n15["q"]\n'
        "    end\n"
        '    subgraph b7 ["Parallel both"]\n'
        '        n16(("all at once"))\n'
        '        n17["left"]\n'
        '        n18["right"]\n'
        "    end\n"
        '    finish(["end"])\n'
        "    start --> n1\n"
        '    n1 -->|"confirm"| n2\n'
        "    n2 --> n3\n"
        '    n1 -.->|"reject: skip"| n3\n'
        '    n3 -->|"if"| n4\n'
        '    n3 -->|"else"| n5\n'
        "    n4 --> n6\n"
        "    n5 --> n6\n"
        '    n6 -->|"confirm: if"| n7\n'
        '    n6 -.->|"reject: else"| n8\n'
        "    n7 --> n9\n"
        "    n8 --> n9\n"
        "    n9 --> n10\n"
        "    n9 --> n11\n"
        "    n11 --> n12\n"
        "    n10 --> n13\n"
        "    n12 --> n13\n"
        '    n13 -->|"select"| n14\n'
        '    n13 -->|"select"| n15\n'
        "    n14 --> n16\n"
        "    n15 --> n16\n"
        '    n13 -.->|"reject: skip"| n16\n'
        "    n16 --> n17\n"
        "    n16 --> n18\n"
        "    n17 --> finish\n"
        "    n18 --> finish\n"
    )  # fmt: skip


def test_a_condition_without_else_steps_goes_on() -> None:
    """A Condition with no else branch leads from its evaluator to what follows."""
    drawn = draw(Condition(name="only", evaluator=True, steps=[step("x")]), step("after"))
    assert '    n1 -->|"else"| n3\n' in drawn
    assert '        n1{"True"}\n' in drawn


def test_failures_pause_or_skip() -> None:
    """on_error=pause draws an error review that retries or skips the step; on_error=skip
    an edge past it."""
    drawn = draw(step("flaky", on_error="pause"), step("optional", on_error="skip"))
    assert drawn.endswith(
        '    n1 -.->|"fails"| n2\n'
        '    n2 -.->|"retry"| n1\n'
        "    n1 --> n3\n"
        '    n2 -.->|"skip"| n3\n'
        "    n3 --> finish\n"
        '    n3 -.->|"fails: skip"| finish\n'
    )
    assert '    n2{{"error review"}}\n' in drawn


def test_names_cannot_break_out_of_their_labels() -> None:
    """Quotes, #, &, angle brackets and backticks in names are written as entity codes."""
    drawn = draw(step('`tick` & "quote"'), name='say "hi" #1 <b>')
    assert '    start(["say #34;hi#34; #35;1 #60;b#62;"])\n' in drawn
    assert '    n1["#96;tick#96; #38; #34;quote#34;"]\n' in drawn


# Where a run stands

NODE = re.compile(r'^\s+(\w+)[\[{(]+"(.*?)"[\]})]+$', re.M)


def painted(text: str) -> dict[str, str]:
    """Each coloured node's label, with its class."""
    labels = dict(NODE.findall(text))
    classes = re.findall(r"^    class (\S+) (\w+)$", text, re.M)
    return {labels[ident]: name for ids, name in classes for ident in ids.split(",")}


def test_a_paused_run_stands_at_its_request() -> None:
    """A run paused for review has gone through the steps before, and stands at the review."""
    run = publishing.bind(MemoryStore()).run("x")
    assert painted(flowchart(publishing, run.record)) == {
        "publishing": "visited",
        "prepare": "visited",
        "draft": "visited",
        "review, timeout 3600 s: cancel": "current",
    }
    assert "classDef current fill:" in flowchart(publishing, run.record)
    assert "class " not in flowchart(publishing)  # no run, no colours


def test_a_finished_run_went_through_its_answered_requests() -> None:
    """A completed run colours each step it went through and each request answered, and
    stands at the end; one whose rejection skipped a step shows it skipped."""
    workflow = publishing.bind(MemoryStore())
    output = workflow.run("x")
    output.requirements[0].confirm()
    output = workflow.continue_run(output)
    output.requirements[0].reject()
    output = workflow.continue_run(output)
    assert output.status is RunStatus.completed
    assert painted(flowchart(publishing, output.record)) == {
        "publishing": "visited",
        "prepare": "visited",
        "draft": "visited",
        "review, timeout 3600 s: cancel": "visited",
        "confirmation": "skipped",
        "publish": "skipped",
        "end": "current",
    }


def test_a_failed_run_and_an_error_review_show_the_step_that_failed() -> None:
    """A failed run stands at its failed step; an error review at the gate, the step failed."""
    failing = Workflow("failing", [step("prepare"), Step(name="call", executor=fails)])
    run = failing.bind(MemoryStore()).run("x")
    assert painted(flowchart(failing, run.record)) == {
        "failing": "visited",
        "prepare": "visited",
        "call": "failed",
    }
    paused = Workflow("paused", [Step(name="call", executor=fails, on_error="pause")])
    run = paused.bind(MemoryStore()).run("x")
    assert painted(flowchart(paused, run.record)) == {
        "paused": "visited",
        "call": "failed",
        "error review": "current",
    }


def test_a_run_inside_containers_shows_the_branch_it_took() -> None:
    """The branch a Condition took is coloured, the other not; a submitted run stands at its
    first step, inside a box; a cancelled run at its cancelled end."""
    workflow = Workflow(
        "branches",
        [
            Condition(name="urgent", evaluator=is_urgent, steps=[step("fast")],
                      else_steps=[step("slow")]),
            Steps(name="tail", steps=[step("t1", requires_output_review=True), step("t2")]),
        ],
    )  # fmt: skip
    store = MemoryStore()
    run = workflow.bind(store).run("calm")
    assert painted(flowchart(workflow, run.record)) == {
        "branches": "visited",
        "is_urgent?": "visited",
        "slow": "visited",
        "t1": "visited",
        "review": "current",
    }
    submitted = store.load(workflow.bind(store).submit("x"))
    assert painted(flowchart(workflow, submitted)) == {
        "branches": "visited",
        "is_urgent?": "current",
    }
    cancelled = workflow.bind(store).cancel_run(run.run_id).record
    assert painted(flowchart(workflow, cancelled))["cancelled"] == "current"


def test_a_run_of_another_workflow_is_refused() -> None:
    """Drawing a run on a workflow it does not belong to raises InvalidArgument."""
    run = publishing.bind(MemoryStore()).run("x")
    with pytest.raises(InvalidArgument, match="belongs to workflow 'publishing'"):
        flowchart(Workflow("other", [step("a")]), run.record)
