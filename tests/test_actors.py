"""Who may decide: a request's assignees and candidate groups, `forbid_self_approval`, the
workflow's `authorize` hook; a refused actor writes nothing. How a decision came (`via`) is
kept with it, and a timeout is never a person's decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from statemachine import (
    ActorRefused,
    DefinitionError,
    HumanReview,
    InvalidArgument,
    OnReject,
    Step,
    Store,
    Workflow,
    dumps,
    loads,
)
from statemachine.core.record import RunRecord


def write(step_input: Any) -> str:
    return "draft"


def reviewed(store: Store, **who: Any) -> Workflow:
    review = HumanReview(requires_output_review=True, on_reject=OnReject.retry, timeout=60, **who)
    return Workflow("memo", [Step(name="write", executor=write, human_review=review)], store,
                    user_id="ana")  # fmt: skip


def test_only_assignees_and_candidate_groups_decide(store: Store) -> None:
    workflow = reviewed(store, assignees=["bob"], candidate_groups=["editors"])
    run_id = workflow.run("notes").run_id
    before = store.load(run_id)
    with pytest.raises(ActorRefused) as refused:
        store.decide(run_id, None, "confirm", by="eve", groups=["sales"])
    assert refused.value.actor == "eve"
    assert refused.value.reason == "not an assignee, nor in a candidate group"
    assert store.load(run_id) == before  # nothing written
    assert store.decide(run_id, None, "reject", "again", by="bob").outcome.value == "applied"
    workflow.continue_run(run_id)
    store.decide(run_id, None, "confirm", by="eve", groups=["editors"])
    assert [(a.how, a.by) for a in store.load(run_id).answers] == [
        ("reject", "bob"), ("confirm", "eve"),
    ]  # fmt: skip


def test_a_decision_naming_no_actor_is_trusted_code(store: Store) -> None:
    workflow = reviewed(store, assignees=["bob"])
    run_id = workflow.run("notes").run_id
    assert store.decide(run_id, None, "confirm").outcome.value == "applied"


def test_the_runs_starter_may_not_approve_under_forbid_self_approval(store: Store) -> None:
    workflow = reviewed(store, forbid_self_approval=True)
    run_id = workflow.run("notes").run_id  # started for user "ana"
    with pytest.raises(ActorRefused, match="forbid_self_approval"):
        store.decide(run_id, None, "confirm", by="ana")
    with pytest.raises(ActorRefused):
        store.decide(run_id, None, "edit", by="ana", value="mine")
    store.decide(run_id, None, "reject", "not yet", by="ana")  # rejecting is no approval
    workflow.continue_run(run_id)
    assert store.decide(run_id, None, "confirm", by="bob").outcome.value == "applied"


def test_the_authorize_hook_refuses_before_anything_is_written(store: Store) -> None:
    asked: list[tuple[str | None, str]] = []

    def authorize(actor: str | None, requirement: Any) -> bool:
        asked.append((actor, requirement.step_name))
        return actor == "boss"

    workflow = Workflow(
        "hooked", [Step(name="write", executor=write, requires_output_review=True)], store,
        user_id="ana", authorize=authorize,
    )  # fmt: skip
    paused = workflow.run("notes")
    before = store.load(paused.run_id)
    with pytest.raises(ActorRefused, match="authorize hook"):
        paused.requirements[0].confirm()
    assert asked == [("ana", "write")]
    assert store.load(paused.run_id) == before

    def broken(actor: str | None, requirement: Any) -> bool:
        raise KeyError("no such user")

    requirement = (
        Workflow("hooked", workflow.steps, store, authorize=broken)
        .get_run(paused.run_id)
        .requirements[0]
    )
    with pytest.raises(ActorRefused, match="raised KeyError"):
        requirement.confirm()


def test_how_a_decision_came_is_kept_and_a_timeout_is_nobodys(store: Store) -> None:
    workflow = reviewed(store)
    run_id = workflow.run("notes").run_id
    store.decide(run_id, None, "reject", "again", by="bob", via="web")
    workflow.continue_run(run_id)
    store.expire_due(now=store.now() + timedelta(seconds=61))
    done = workflow.get_run(run_id)
    assert [(d.decision, d.decided_by, d.decided_via) for d in done.decided_requirements] == [
        ("reject", "bob", "web"), ("timeout", None, "timeout"),
    ]  # fmt: skip


def test_who_may_decide_round_trips_and_leaves_old_documents_alone(store: Store) -> None:
    workflow = reviewed(store, assignees=["bob"], candidate_groups=["editors"],
                        forbid_self_approval=True)  # fmt: skip
    run_id = workflow.run("notes").run_id
    store.decide(run_id, None, "reject", "again", by="bob", via="api")
    record = store.load(run_id)
    assert loads(dumps(record), RunRecord) == record
    text = dumps(record)
    assert '"assignees":["bob"]' in text
    assert '"via"' not in text  # answers are rows: via is their ninth cell
    assert record.answers[0].via == "api"
    plain = reviewed(store)
    assert "assignees" not in dumps(store.load(plain.run("x").run_id))
    assert plain.fingerprint == reviewed(store, assignees=["bob"]).fingerprint


@pytest.mark.parametrize(
    "who", [{"assignees": "bob"}, {"assignees": ["bob", ""]}, {"candidate_groups": [3]}]
)
def test_names_of_who_may_decide_are_checked(who: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError, match="names"):
        HumanReview(requires_confirmation=True, **who)


@pytest.mark.parametrize("groups", ["editors", ["editors", ""], [1]])
def test_the_groups_of_a_decision_are_checked(store: Store, groups: Any) -> None:
    run_id = reviewed(store, candidate_groups=["editors"]).run("x").run_id
    with pytest.raises(InvalidArgument, match="groups"):
        store.decide(run_id, None, "confirm", by="bob", groups=groups)
    assert store.load(run_id).answers == ()


def test_an_assignee_approving_a_run_another_started_is_not_self_approval(store: Store) -> None:
    workflow = reviewed(store, assignees=["bob"], forbid_self_approval=True)
    run_id = workflow.run("notes").run_id
    assert store.decide(run_id, None, "confirm", by="bob").outcome.value == "applied"
