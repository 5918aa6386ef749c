"""What is stored for a gate: one frozen record, replaced (never mutated) on every transition."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON
from statemachine.core.outbox import Notice
from statemachine.core.policy import HumanReview
from statemachine.core.states import State

__all__ = [
    "MAX_HISTORY",
    "Answer",
    "Asking",
    "Gate",
    "Request",
    "RequestKind",
    "RunRecord",
    "RunStatus",
    "StepResult",
    "Transition",
]


class RequestKind(enum.StrEnum):
    """What a pause asks the human for."""

    confirmation = "confirmation"
    """May the loop (or step) start?"""
    input = "input"
    """The values the step needs (`HumanReview.user_input_schema`)."""
    route = "route"
    """Which of a Router's routes to take."""
    review = "review"
    """Is this iteration's output acceptable?"""
    error = "error"
    """The step failed: run it again, or skip it?"""

    __hash__ = object.__hash__


class Asking:
    """What a pause asks, by the kind of its request, as the peer framework's flags."""

    __slots__ = ()
    kind: RequestKind

    @property
    def requires_confirmation(self) -> bool:
        """Whether it asks to start the step (or loop, or container)."""
        return self.kind is RequestKind.confirmation

    @property
    def requires_user_input(self) -> bool:
        """Whether it asks for values (see `user_input_schema`)."""
        return self.kind is RequestKind.input

    @property
    def requires_route_selection(self) -> bool:
        """Whether it asks which of a Router's routes to take."""
        return self.kind is RequestKind.route

    @property
    def requires_output_review(self) -> bool:
        """Whether it asks to accept an output (a step's, or a loop iteration's)."""
        return self.kind is RequestKind.review


@attrs.frozen
class Request:
    """The pending question of a paused gate.

    The output under review is not copied here: it is the gate's last entry in ``outputs``.
    """

    request_id: str
    kind: RequestKind
    message: str | None
    deadline: datetime | None
    """When `on_timeout` applies (UTC); None when the policy has no timeout."""
    created_at: datetime | None = None
    """When the gate paused with this request (None in runs stored before it was recorded)."""


# What a record in each state looks like, by the kind of its pending request: the lowest and
# highest iteration (None: up to max_iterations), and how many outputs it holds relative to the
# iteration (iteration k has an output once it finished: k - 1 while it runs or after it
# failed). A pause before an iteration is at 0 before the first; a route asked again after a
# rejected one is at the iteration that was rejected.
_SHAPES: dict[tuple[State, RequestKind | None], tuple[int, int | None, int, int]] = {
    (State.pending, None):                                (0, 0,    0,  0),
    (State.awaiting_confirmation, RequestKind.confirmation): (0, 0,  0,  0),
    (State.awaiting_confirmation, RequestKind.input):     (0, 0,    0,  0),
    (State.awaiting_confirmation, RequestKind.route):     (0, None, 0,  0),
    (State.iterating, None):                              (1, None, -1, -1),
    (State.awaiting_review, RequestKind.review):          (1, None, 0,  0),
    (State.awaiting_review, RequestKind.error):           (1, None, -1, -1),
    (State.done, None):                                   (1, None, 0,  0),
    (State.skipped, None):                                (0, None, -1, 0),
    (State.cancelled, None):                              (0, None, -1, 0),
}  # fmt: skip


@attrs.frozen(kw_only=True)
class Gate:
    """One human-gated loop or step: its state and everything that decides its future.

    The iteration counter, the feedback given, the pending request and its deadline are stored,
    never re-derived from the number of outputs.

    Raises:
        InvalidArgument: the fields contradict each other or are out of range (no record that
            the machine could not have produced can be built).
    """

    name: str
    policy: HumanReview
    max_iterations: int = 3
    state: State = State.pending
    iteration: int = 0
    """The current iteration, 1-based; 0 before the first one."""
    request: Request | None = None
    feedback: tuple[str | None, ...] = ()
    """One entry per rejection, in order; None where no feedback was given (or on timeout)."""
    outputs: tuple[JSON, ...] = ()
    """The output of every finished iteration, in order."""
    version: int = 0
    """How many transitions the gate has been through."""
    choices: tuple[str, ...] = ()
    """A Router's routes, which a human may select from; empty for other gates."""
    multiple: bool = False
    """Whether several of `choices` may be selected at once."""
    members: tuple[str, ...] = ()
    """The names of the steps inside a container (`Steps`, `Condition`, `Router`): a Router's
    new route starts them afresh."""
    round: int = 0
    """How many times the gate was started afresh by the container it is in."""
    choice: tuple[str, ...] = ()
    """The branch (``"if"``, ``"else"``) or routes the current iteration takes."""
    position: int = 0
    """How many of the current iteration's inner steps have finished (containers)."""
    values: JSON = None
    """The user input given for the current iteration (a dict), if it asked for some."""
    edited: bool = False
    """Whether the accepted output is `edited_output`, a human's edit of the last output."""
    edited_output: JSON = None

    def __attrs_post_init__(self) -> None:
        # One consistency check instead of per-field validators: it runs on every transition.
        problem = _inconsistency(self)
        if problem is not None:
            raise InvalidArgument(f"gate {self.name!r}: {problem}")

    @property
    def deadline(self) -> datetime | None:
        """When the pending request times out, if there is one and it has a timeout."""
        return None if self.request is None else self.request.deadline

    @property
    def is_terminal(self) -> bool:
        """Whether the gate has finished."""
        return self.state.is_terminal

    @property
    def accepted(self) -> JSON:
        """The output the gate ends with: the last one, or the human's edit of it."""
        return self.edited_output if self.edited else self.outputs[-1]


def _inconsistency(gate: Gate) -> str | None:
    state, k, top = gate.state, gate.iteration, gate.max_iterations
    if type(state) is not State:
        return f"state must be a State, not {state!r}"
    if type(k) is not int or type(top) is not int or type(gate.version) is not int:
        return "iteration, max_iterations and version must be integers"
    if top < 1 or gate.version < 0:
        return "max_iterations must be at least 1 and version at least 0"
    request = gate.request
    kind = None if request is None else request.kind
    shape = _SHAPES.get((state, kind))
    if shape is None:
        asked = "no pending request" if kind is None else f"a {kind.value} request"
        return f"state {state.value} cannot have {asked}"
    low_k, high_k, low_out, high_out = shape
    if not low_k <= k <= (top if high_k is None else high_k):
        return f"iteration {k} is impossible in state {state.value} (max_iterations {top})"
    outputs = gate.outputs
    if type(outputs) is not tuple or type(gate.feedback) is not tuple:
        return "feedback and outputs must be tuples"
    if not k + low_out <= len(outputs) <= k + high_out:
        return f"{len(outputs)} outputs in state {state.value} at iteration {k}"
    if type(gate.name) is not str or not gate.name:
        return "name must be a non-empty string"
    if type(gate.policy) is not HumanReview:
        return f"policy must be a HumanReview, not {gate.policy!r}"
    return _containment(gate)


def _containment(gate: Gate) -> str | None:
    choices, members, choice = gate.choices, gate.members, gate.choice
    if choices or members or choice or not type(choices) is type(members) is type(choice) is tuple:
        for field, names in (("choices", choices), ("members", members), ("choice", choice)):
            if type(names) is not tuple or not all(type(name) is str for name in names):
                return f"{field} must be a tuple of names"
    position, round_ = gate.position, gate.round
    if type(position) is not int or type(round_) is not int or position < 0 or round_ < 0:
        return "position and round must be integers of at least 0"
    if gate.edited and gate.state is not State.done:
        return "only a done gate holds an edited output"
    return None


class RunStatus(enum.Enum):
    """Where a whole workflow run stands."""

    pending = "pending"
    """Created, or made runnable again by a decision or a timeout; nobody is executing it."""
    running = "running"
    """Being executed (or was, by a process that stopped: `continue_run` picks it up)."""
    paused = "paused"
    """Waiting for a human decision on its pending request."""
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"
    """A step raised; the error is recorded and `continue_run` retries the failed work."""

    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        """Whether the run can change no more."""
        return self is RunStatus.completed or self is RunStatus.cancelled


@attrs.frozen
class StepResult:
    """The content a finished step (or loop) produced, by step name."""

    name: str
    content: JSON


@attrs.frozen
class Transition:
    """One entry of a run's history.

    Attributes:
        version: the run's version once this transition was applied (1 for the first).
        at: when it was applied; for a decision, when the decision was made.
        name: the gate or step it happened to, or "" for the run itself.
        event: what happened: a gate event (``start``, ``confirm``, ``reject``, ``timeout``,
            ``cancel``, ``iteration_completed``), or ``completed`` / ``failed`` for a step.
        state: the state it led to (a gate `State` value, or ``done`` / ``failed``).
        decision_id: the id of the human decision that caused it, if any.
    """

    version: int
    at: datetime
    name: str
    event: str
    state: str
    decision_id: str | None = None


@attrs.frozen
class Answer:
    """How a request of the run ended: kept for the life of the run, so that a decision sent
    again is recognised (and one that differs is refused) however far the run has moved on.

    Attributes:
        request_id: the request answered.
        how: a human decision (``confirm``, ``reject``, ``provide``, ``select``, ``edit``,
            ``retry``, ``skip``), ``timeout`` or ``cancel``.
        decision_id: the id of the decision, for a human decision.
        digest: in answers stored before they kept `value`, a digest of a rejection's
            feedback (a retry must carry the same); None since.
        deadline: for a timeout, the deadline that passed.
        by: who decided, as the caller said.
        at: when the decision was recorded.
        value: what the decision carried: the feedback, the values, the routes or the edit.
        via: how a human decision came: ``web``, ``api``, ``link``, ``cli``, or another word
            the caller chose; None when the caller said nothing (code). A timeout is never a
            human's decision: its `how` is ``timeout`` and it has no `by`.
    """

    request_id: str
    how: str
    decision_id: str | None = None
    digest: str | None = None
    deadline: datetime | None = None
    by: str | None = None
    at: datetime | None = None
    value: JSON = None
    via: str | None = None


@attrs.frozen(kw_only=True)
class RunRecord:
    """A workflow run as stored: one versioned snapshot, written with compare-and-set.

    `version` counts the transitions applied so far, so it equals the length of the history
    (unless the history was trimmed to its bound, `MAX_HISTORY`).
    """

    run_id: str
    workflow: str
    fingerprint: str
    """A digest of the workflow definition the run was started with (names, kinds, policies)."""
    session_id: str | None = None
    """The session the run belongs to (a workflow's runs are grouped by it)."""
    user_id: str | None = None
    """Who the run is for, as its starter said."""
    status: RunStatus
    input: JSON
    cursor: str | None
    """The name of the top-level step the run is at (inside it, each container's gate says
    which of its steps is due); None once it has gone past the last."""
    outline: tuple[tuple[str, str], ...] = ()
    """(name, kind) of each top-level step of the definition the run started with, so that a
    resume against a changed definition can tell whether the current step still fits."""
    gates: tuple[Gate, ...] = ()
    results: tuple[StepResult, ...] = ()
    error: str | None = None
    attempts: int = 0
    """Failed attempts at the current unit of work since the last one that succeeded."""
    retry_at: datetime | None = None
    """For a failed run: when a worker may try again. None: no automatic retry (dead-lettered,
    or failed under `continue_run`, which the caller retries)."""
    history: tuple[Transition, ...] = ()
    answers: tuple[Answer, ...] = ()
    """Every request that ended, in order, never trimmed (see `Answer`)."""
    created_at: datetime
    updated_at: datetime
    version: int = 0
    traceback: str | None = None
    """The failed step's traceback (its end), while the run is failed; last, because it is
    written only when there is one."""
    outbox: tuple[Notice, ...] = ()
    """Notifications about its pauses, to send or sent (see `outbox`); written only when
    there are some."""

    def gate(self, name: str) -> Gate | None:
        """The record of the gate called `name`, if the run has reached it."""
        for gate in self.gates:
            if gate.name == name:
                return gate
        return None

    def answer(
        self, *, request_id: str | None = None, decision_id: str | None = None
    ) -> Answer | None:
        """The answer recorded for `request_id`, or the one made by `decision_id`."""
        for answer in self.answers:
            if answer.request_id == request_id or (
                decision_id is not None and answer.decision_id == decision_id
            ):
                return answer
        return None

    @property
    def pending_gate(self) -> Gate | None:
        """The gate waiting for a human, if the run is paused."""
        for gate in self.gates:
            if gate.request is not None:
                return gate
        return None


MAX_HISTORY = 1000
"""A run keeps its last this-many transitions; older ones are dropped (never the state)."""
