"""Steps, Condition, Router and Parallel at runtime, on every store: their human gates, the
gates inside them, and where a run paused inside one resumes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from statemachine import (
    Condition,
    DefinitionError,
    InvalidSelection,
    Loop,
    OnError,
    OnReject,
    Parallel,
    RequestKind,
    Router,
    RunStatus,
    State,
    Step,
    StepInput,
    StepOutput,
    Steps,
    Store,
    Worker,
    Workflow,
)

from .helpers import Clock
from .hitl_flows import nested_workflow, tag


def test_condition_evaluator_picks_the_branch(store: Store, clock: Clock) -> None:
    """Without a gate the evaluator decides: True runs `steps`, False runs `else_steps`."""

    def over_ten(step_input: StepInput) -> bool:
        return len(str(step_input.previous_step_content)) > 10

    workflow = Workflow(name="cond", store=store, clock=clock, steps=[
        Step(name="a", executor=tag("a")),
        Condition(name="c", evaluator=over_ten, steps=[Step(name="long", executor=tag("long"))],
                  else_steps=[Step(name="short", executor=tag("short"))]),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    assert workflow.run("x").content == "z(short(a(x)))"
    assert workflow.run("a much longer input").content == "z(long(a(a much longer input)))"


@pytest.mark.parametrize(("on_reject", "status", "content"), [
    (OnReject.else_branch, RunStatus.completed, "z(no(a(x)))"),
    (OnReject.skip, RunStatus.completed, "z(a(x))"),
    (OnReject.cancel, RunStatus.cancelled, "a(x)"),
])  # fmt: skip
def test_condition_confirmation_decides_the_branch(
    store: Store, clock: Clock, on_reject: OnReject, status: RunStatus, content: str
) -> None:
    """Confirming runs `steps` (whatever the evaluator says); rejecting applies on_reject."""

    def build() -> Workflow:
        return Workflow(name="cond", store=store, clock=clock, steps=[
            Step(name="a", executor=tag("a")),
            Condition(name="c", evaluator=False, steps=[Step(name="yes", executor=tag("yes"))],
                      else_steps=[Step(name="no", executor=tag("no"))],
                      requires_confirmation=True, on_reject=on_reject),
            Step(name="z", executor=tag("z")),
        ])  # fmt: skip

    confirmed = build().run("x")
    (asked,) = confirmed.steps_requiring_confirmation
    assert (asked.step_name, asked.step_type, asked.on_reject) == ("c", "Condition", on_reject)
    assert asked.confirmation_message == ("Execute condition 'c'? (yes=if branch, no=else branch)")
    asked.confirm()
    assert build().continue_run(confirmed.run_id).content == "z(yes(a(x)))"

    rejected = build().run("x")
    rejected.requirements[0].reject()
    final = build().continue_run(rejected)
    assert (final.status, final.content) == (status, content)


def test_router_selection_runs_the_routes_in_the_order_given(store: Store, clock: Clock) -> None:
    """Several routes run one after the other, each seeing the one before; unknown routes and
    too many routes are refused, and nothing is stored for them."""
    workflow = Workflow(name="route", store=store, clock=clock, steps=[
        Router(name="r", choices=[Step(name="x", executor=tag("x")),
                                  Step(name="y", executor=tag("y")),
                                  [Step(name="g1", executor=tag("g1")),
                                   Step(name="g2", executor=tag("g2"))]],
               requires_user_input=True, allow_multiple_selections=True),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    paused = workflow.run("in")
    (asked,) = paused.steps_requiring_route
    assert asked.available_choices == ["x", "y", "steps_group_2"]
    assert asked.user_input_message == "Select a route from: x, y, steps_group_2"
    version = paused.version
    with pytest.raises(InvalidSelection, match="unknown routes"):
        asked.select("x", "nope")
    assert store.get(paused.run_id).version == version
    asked.select_multiple(["steps_group_2", "x"])
    done = workflow.continue_run(paused)
    assert done.content == "z(x(g2(g1(in))))"
    assert [result.step_name for result in done.step_results] == ["g1", "g2", "steps_group_2",
                                                                  "x", "r", "z"]  # fmt: skip

    single = Workflow(name="one", store=store, clock=clock, steps=[
        Router(name="r", choices=[Step(name="x", executor=tag("x")),
                                  Step(name="y", executor=tag("y"))], requires_user_input=True),
    ])  # fmt: skip
    paused = single.run("in")
    with pytest.raises(InvalidSelection, match="one route"):
        paused.requirements[0].select("x", "y")
    paused.requirements[0].select_single("y")
    assert single.continue_run(paused).content == "y(in)"


def test_router_confirmation_runs_what_the_selector_chose(store: Store, clock: Clock) -> None:
    def by_input(step_input: StepInput) -> list[Step]:
        return [fast] if step_input.input == "quick" else [slow]

    fast, slow = Step(name="fast", executor=tag("fast")), Step(name="slow", executor=tag("slow"))
    workflow = Workflow(name="route", store=store, clock=clock, steps=[
        Router(name="r", choices=[fast, slow], selector=by_input, requires_confirmation=True),
    ])  # fmt: skip
    paused = workflow.run("quick")
    assert paused.requirements[0].confirmation_message == (
        "Execute router 'r' with selected steps?"
    )
    paused.requirements[0].confirm()
    assert workflow.continue_run(paused).content == "fast(quick)"


def test_router_review_rejected_asks_for_a_new_route(store: Store, clock: Clock) -> None:
    """With on_reject=retry a rejected route's output asks for a route again, at most
    hitl_max_retries times; the route runs afresh, its inner gates too."""
    workflow = Workflow(name="reroute", store=store, clock=clock, steps=[
        Router(name="r", choices=[Step(name="x", executor=tag("x"), requires_confirmation=True),
                                  Step(name="y", executor=tag("y"))],
               requires_user_input=True, requires_output_review=True,
               on_reject=OnReject.retry, hitl_max_retries=1),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("in")
    run.requirements[0].select("x")
    run = workflow.continue_run(run)
    assert run.paused_step_name == "x"  # the gate inside the route
    run.requirements[0].confirm()
    run = workflow.continue_run(run)
    (review,) = run.steps_requiring_output_review
    assert (review.step_name, review.step_output.content) == ("r", "x(in)")
    review.reject("not that one")
    run = workflow.continue_run(run)
    assert run.steps_requiring_route[0].retry_count == 1
    run.requirements[0].select("x")
    run = workflow.continue_run(run)
    assert run.paused_step_name == "x"  # asked afresh: a new round of the route
    run.requirements[0].confirm()
    run = workflow.continue_run(run)
    run.requirements[0].reject()  # the last retry used: the router is skipped
    run = workflow.continue_run(run)
    assert (run.status, run.content) == (RunStatus.completed, "z(in)")
    assert [d.decision for d in run.decided_requirements] == [
        "select", "confirm", "reject", "select", "confirm", "reject"
    ]  # fmt: skip


def test_steps_confirmation_and_a_gate_inside(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="pipe", store=store, clock=clock, steps=[
        Steps("pipeline", "two steps", [Step(name="p1", executor=tag("p1")),
                                        Step(name="p2", executor=tag("p2"),
                                             requires_confirmation=True, on_reject="skip")],
              requires_confirmation=True),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("in")
    assert (run.paused_step_name, run.paused_step_index) == ("pipeline", 0)
    assert run.requirements[0].confirmation_message == "Execute steps pipeline 'pipeline'?"
    run.requirements[0].confirm()
    run = workflow.continue_run(run)
    assert (run.paused_step_name, run.requirements[0].step_path) == ("p2", "pipeline/p2")
    run.requirements[0].reject()
    run = workflow.continue_run(run)
    assert run.content == "z(p1(in))"
    assert run.states == {"pipeline": State.done, "pipeline/p2": State.skipped}


def test_a_loop_inside_a_condition_keeps_its_own_gate(store: Store, clock: Clock) -> None:
    workflow = Workflow(name="loopin", store=store, clock=clock, steps=[
        Condition(name="c", evaluator=True, steps=[
            Loop(name="l", steps=[Step(name="s", executor=tag("s"))], max_iterations=2,
                 requires_iteration_review=True, on_reject=OnReject.retry),
        ]),
    ])  # fmt: skip
    run = workflow.run("in")
    run.requirements[0].reject("again")
    run = workflow.continue_run(run)
    assert run.requirements[0].iteration == 2
    run.requirements[0].confirm()
    assert workflow.continue_run(run).content == "s(in)"


def test_parallel_runs_every_branch_and_refuses_pauses_inside() -> None:
    def shout(step_input: StepInput) -> StepOutput:
        return StepOutput(content=str(step_input.previous_step_content).upper())

    workflow = Workflow(name="par", steps=[
        Step(name="a", executor=tag("a")),
        Parallel("both", Step(name="up", executor=shout),
                 Steps("chain", steps=[Step(name="c1", executor=tag("c1")),
                                       Step(name="c2", executor=tag("c2"))])),
        Step(name="z", executor=tag("z")),
    ])  # fmt: skip
    run = workflow.run("x")
    assert run.get_step_content("both") == {"up": "A(X)", "chain": "c2(c1(a(x)))"}
    with pytest.raises(DefinitionError, match="cannot pause"):
        Parallel(Step(name="gated", executor=tag("g"), requires_confirmation=True), name="p")
    with pytest.raises(DefinitionError, match="cannot pause"):
        Parallel(Step(name="fails", executor=tag("f"), on_error=OnError.pause), name="p")
    with pytest.raises(DefinitionError):
        Parallel(Loop(name="l", steps=[Step(name="s", executor=tag("s"))]), name="p")


def test_names_are_unique_per_container_not_per_workflow() -> None:
    workflow = Workflow(name="names", steps=[
        Step(name="draft", executor=tag("top")),
        Steps("inner", steps=[Step(name="draft", executor=tag("inner"))]),
    ])  # fmt: skip
    assert workflow.run("x").content == "inner(top(x))"
    with pytest.raises(DefinitionError, match="two of its steps"):
        Steps("s", steps=[Step(name="a", executor=tag("a")), Step(name="a", executor=tag("b"))])


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis"])
def test_a_pause_inside_a_branch_resumes_there_in_another_process(
    kind: str, make_store: object, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A run paused at a gate inside a Router inside a Condition is decided and resumed by
    another process, which carries on inside that branch."""
    if kind == "file":
        url = f"file://{tmp_path}/runs"
    elif kind == "sqlite":
        url = f"sqlite://{tmp_path}/runs.db"
    else:
        server = request.getfixturevalue("redis_server")
        url = f"{server.url}?prefix=nested-{tmp_path.name}"
    first = _flow(url, "start")
    run_id, paused_at = first.split()
    assert paused_at == "review"  # the review inside the route, two containers deep
    assert _flow(url, "resume", run_id) == "completed z(edited)"


def _flow(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.hitl_flows", url, *args],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_nested_flow_in_process(store: Store) -> None:
    """The same nested flow, in one process, on every store."""
    workflow = nested_workflow(store)
    run = workflow.run("in")
    assert run.paused_step_name == "review"
    assert run.requirements[0].step_path == "outer/route/review"
    run.requirements[0].edit("edited")
    assert workflow.continue_run(run).content == "z(edited)"


def test_a_condition_takes_the_failures_inside_it(store: Store, clock: Clock) -> None:
    """A Condition's on_error applies to a failure of a step inside it as its own: `skip`
    stops the Condition, `pause` asks about it and `retry` runs it again from its first step;
    a step's own on_error comes first."""
    calls: list[str] = []

    def boom(step_input: StepInput) -> StepOutput:
        calls.append("boom")
        raise ValueError("boom")

    def build(on_error: str, inner: OnError | None = None) -> Workflow:
        return Workflow(name=f"c-{on_error}-{inner}", store=store, clock=clock, steps=[
            Condition(name="c", steps=[Step(name="first", executor=tag("first")),
                                       Step(name="boom", executor=boom, on_error=inner),
                                       Step(name="after", executor=tag("after"))],
                      on_error=on_error),
            Step(name="z", executor=tag("z")),
        ])  # fmt: skip

    assert build("skip").run("x").content == "z(x)"  # nothing of the Condition flows on
    assert build("skip", OnError.skip).run("x").content == "z(after(first(x)))"
    failed = build("fail").run("x")
    assert (failed.status, failed.error) == (RunStatus.failed, "ValueError: boom")
    workflow = build("pause")
    run = workflow.run("x")
    (error,) = run.steps_with_errors
    assert (error.step_name, error.step_type, error.error_type) == ("c", "Condition", "ValueError")
    calls.clear()
    error.retry()
    run = workflow.continue_run(run)
    assert (calls, run.steps_with_errors[0].retry_count) == (["boom"], 1)
    run.steps_with_errors[0].skip()
    assert workflow.continue_run(run).content == "z(x)"


def test_a_worker_runs_the_nested_flow_one_unit_at_a_time(store: Store) -> None:
    """Workers take a run through containers one unit per claim, pause inside a branch, and
    carry on once a decision (with its value) is recorded from anywhere."""
    workflow = nested_workflow(store)
    run_id = workflow.submit("in")
    worker = Worker([workflow], store)
    units = 0
    while worker.work_once():
        units += 1
        assert units < 10
    paused = store.load(run_id)
    gate = paused.pending_gate
    assert gate is not None
    assert gate.request is not None
    assert (gate.name, gate.request.kind) == ("outer/route/review", RequestKind.review)
    store.decide(run_id, None, "edit", value="edited", by="ops")
    while worker.work_once():
        units += 1
    done = workflow.get_run(run_id)
    assert (done.status, done.content) == (RunStatus.completed, "z(edited)")
    assert done.decided_requirements[0].decided_by == "ops"
