"""`check_history`: replay a stored run's history through the transition table and the
workflow's definition, and report the first entry the machine could not have produced, as
Temporal's replayer catches a workflow whose code no longer matches its history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from statemachine.core.errors import HistoryInvalid
from statemachine.core.record import RunRecord, RunStatus
from statemachine.core.states import State
from statemachine.core.table import TRANSITIONS, Trigger

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["check_history"]

_REJECTIONS = frozenset(trigger for trigger in Trigger if trigger.value.startswith("reject_"))
# The triggers each recorded event name can have resolved to (the policy picks one).
_TRIGGERS: dict[str, frozenset[Trigger]] = {
    "start": frozenset({Trigger.start, Trigger.start_confirmation}),
    "confirm": frozenset({Trigger.confirm, Trigger.confirm_more}),
    "reject": _REJECTIONS,
    "provide": frozenset({Trigger.provide}),
    "select": frozenset({Trigger.select}),
    "edit": frozenset({Trigger.edit}),
    "retry": frozenset({Trigger.retry}),
    "skip": frozenset({Trigger.skip}),
    "timeout": frozenset(
        {Trigger.timeout_skip, Trigger.timeout_cancel, Trigger.confirm, Trigger.confirm_more}
    )
    | _REJECTIONS,
    "cancel": frozenset({Trigger.cancel}),
    "iteration_completed": frozenset(
        {Trigger.iteration_reviewed, Trigger.iteration_next, Trigger.iteration_last}
    ),
    "iteration_failed": frozenset({Trigger.iteration_failed_pause, Trigger.iteration_failed_skip}),
    "advance": frozenset({Trigger.advance}),
}
_RUN_EVENTS = frozenset({
    "cancel", "abandoned", "requeue", "failed", "notified", "notice-failed", "escalated",
    "escalation-moot",
})  # fmt: skip
_STEP_ENDS = frozenset({State.done.value, State.skipped.value, State.cancelled.value})


def check_history(run: RunRecord, workflow: Workflow) -> None:
    """Replay `run`'s history against `workflow`: each gate event must be a transition of
    the table from the state the gate was in, to the state recorded; each step named must be
    one of the workflow's; versions must follow one another; and the gates must end where the
    run says they are.

    Raises:
        HistoryInvalid: the first entry the machine could not have produced, and why.
    """
    definition = workflow.definition
    states: dict[str, State] = {}
    trimmed = bool(run.history) and run.history[0].version > 1
    previous = None
    for entry in run.history:

        def invalid(reason: str, version: int = entry.version) -> HistoryInvalid:
            return HistoryInvalid(run.run_id, version, reason)

        if previous is not None and entry.version != previous + 1:
            raise invalid(f"follows version {previous}: versions must follow one another")
        previous = entry.version
        if entry.name == "":
            if entry.event not in _RUN_EVENTS:
                raise invalid(f"{entry.event!r} is not something that happens to a run")
            continue
        if entry.event == "failed":
            continue  # names the code that failed: a step by its name, inside a loop's too
        if entry.name not in definition.nodes:
            raise invalid(f"names {entry.name!r}, a step this workflow does not have")
        if entry.event == "completed":
            if entry.state not in _STEP_ENDS and entry.state != RunStatus.failed.value:
                raise invalid(f"a step cannot complete as {entry.state!r}")
            known = states.get(entry.name)
            if known is not None and known.value != entry.state:
                raise invalid(
                    f"completes {entry.name!r} as {entry.state}, its gate is {known.value}"
                )
            continue
        triggers = _TRIGGERS.get(entry.event)
        if triggers is None:
            raise invalid(f"{entry.event!r} is not an event of the machine")
        try:
            target = State(entry.state)
        except ValueError:
            raise invalid(f"{entry.state!r} is not a gate state") from None
        source = states.get(entry.name)
        if source is None or (entry.event == "start" and source.is_terminal):
            # its first entry (or, inside a container, a pass that starts it afresh)
            source = None if trimmed and entry.event != "start" else State.pending
        if source is not None and not any(
            TRANSITIONS[source].get(trigger) is target for trigger in triggers
        ):
            raise invalid(
                f"{entry.event} takes {entry.name!r} from {source.value} to {target.value}: "
                "the transition table has no such row"
            )
        states[entry.name] = target
    for gate in run.gates:
        replayed = states.get(gate.name)
        if replayed is not None and replayed is not gate.state and not trimmed:
            said = f"the history leaves {gate.name!r} {replayed.value}"
            raise HistoryInvalid(
                run.run_id, run.version, f"{said}, the run has it {gate.state.value}"
            )
