"""What a run's caller sees of the requests that were answered: `DecidedRequirement`, built
from the run's answers (kept for the run's life), as the peer framework's resolved
`step_requirements`, with who decided and when."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from statemachine.core.events import JSON, json_copy
from statemachine.core.machine import Asked, where_asked
from statemachine.core.record import Answer, RequestKind, RunRecord
from statemachine.runtime.definitions import StepOutput

if TYPE_CHECKING:
    from statemachine.runtime.workflow import Workflow

__all__ = ["DecidedRequirement"]


@attrs.frozen
class DecidedRequirement:
    """A request of the run that was answered: what was asked, what was decided, by whom
    (as the caller said) and when; as the peer framework's resolved `step_requirements`.

    Attributes:
        decision: ``confirm``, ``reject``, ``provide``, ``select``, ``edit``, ``retry``,
            ``skip``, ``timeout`` or ``cancel``.
        step_output: the output that was under review, while the run still holds it.
    """

    step_name: str
    step_path: str
    step_type: str
    request_id: str
    kind: RequestKind | None
    decision: str
    decided_by: str | None
    decided_at: datetime | None
    rejection_feedback: str | None = None
    user_input: JSON = None
    selected_choices: list[str] | None = None
    edited_output: JSON = None
    step_output: StepOutput | None = None
    decided_via: str | None = None
    """How the decision came (``web``, ``api``, ``link``, ``cli``...); ``timeout`` for a
    timeout, which no person made; None when code decided without saying."""

    @property
    def confirmed(self) -> bool | None:
        """True when accepted (or edited), False when rejected, None otherwise."""
        if self.decision in ("confirm", "edit"):
            return True
        return False if self.decision == "reject" else None

    @classmethod
    def of(cls, answer: Answer, run: RunRecord, workflow: Workflow) -> DecidedRequirement:
        definition = workflow.definition
        asked = where_asked(answer.request_id)
        key = answer.request_id if asked is None else asked.gate
        value = json_copy(answer.value)
        how = answer.how
        return cls(
            step_name=definition.name_of(key), step_path=key, step_type=definition.kind_name(key),
            request_id=answer.request_id, kind=None if asked is None else asked.kind,
            decision=how, decided_by=answer.by, decided_at=answer.at or answer.deadline,
            rejection_feedback=value if how == "reject" and isinstance(value, str) else None,
            user_input=value if how == "provide" else None,
            selected_choices=value if how == "select" and isinstance(value, list) else None,
            edited_output=value if how == "edit" else None,
            step_output=_reviewed(run, asked, definition.name_of(key)),
            decided_via="timeout" if how == "timeout" else answer.via,
        )  # fmt: skip


def _reviewed(run: RunRecord, asked: Asked | None, name: str) -> StepOutput | None:
    """The output a review asked about, while the gate still holds it (a Router's new
    route starts the steps in it afresh)."""
    if asked is None or asked.kind is not RequestKind.review:
        return None
    gate = run.gate(asked.gate)
    if gate is None or gate.round != asked.round or not 0 < asked.iteration <= len(gate.outputs):
        return None
    return StepOutput(content=json_copy(gate.outputs[asked.iteration - 1]), step_name=name)
