"""An explicit state machine for human-in-the-loop loop runs.

The core (states, events, policy, table, records, `step`, codec) does no I/O: you bring the
clock, the storage and the humans. The runtime (`Workflow`, `Step`, `Loop`) runs steps and
loops with human gates on top of it, persisting runs in a `Store`.
"""

from typing import TYPE_CHECKING

from .actions import Action, Finish, RequestConfirmation, RequestReview, RunIteration
from .codec import SCHEMA_VERSION, dumps, loads
from .errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    DeadlinePassed,
    DecisionRefused,
    DefinitionChanged,
    DefinitionError,
    InvalidArgument,
    InvalidRunId,
    LeaseLost,
    MalformedRecord,
    RunBusy,
    RunExists,
    RunNotFound,
    SchemaVersionError,
    StaleRequest,
    StateMachineError,
    StoreError,
    StoreUnavailable,
    TimeoutNotDue,
    TransitionRefused,
)
from .events import Cancel, Confirm, Event, IterationCompleted, Reject, Start, Timeout
from .machine import step
from .policy import HumanReview, OnReject, OnTimeout
from .record import Gate, Request, RequestKind, RunRecord, RunStatus, StepResult, Transition
from .runs import DecisionResult, Outcome, Verdict
from .states import TERMINAL_STATES, State
from .store import STATES, Lease, MemoryStore, RetryPolicy, Store, check_run_id, run_state
from .stream import (
    LoopIterationCompletedEvent,
    LoopIterationStartedEvent,
    StepCompletedEvent,
    StepPausedEvent,
    StepStartedEvent,
    WorkflowCompletedEvent,
    WorkflowEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
)
from .table import TRANSITIONS, Trigger

if TYPE_CHECKING:
    from .worker import Worker
from .workflow import (
    Loop,
    RunOutput,
    Session,
    Step,
    StepInput,
    StepOutput,
    StepRequirement,
    Workflow,
)

__all__ = [
    "SCHEMA_VERSION",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "Cancel",
    "CodecError",
    "Confirm",
    "ConflictError",
    "CorruptRun",
    "DeadlinePassed",
    "DecisionRefused",
    "DecisionResult",
    "DefinitionChanged",
    "DefinitionError",
    "Event",
    "Finish",
    "Gate",
    "HumanReview",
    "InvalidArgument",
    "InvalidRunId",
    "IterationCompleted",
    "Lease",
    "LeaseLost",
    "Loop",
    "LoopIterationCompletedEvent",
    "LoopIterationStartedEvent",
    "MalformedRecord",
    "MemoryStore",
    "OnReject",
    "OnTimeout",
    "Outcome",
    "Reject",
    "Request",
    "RequestConfirmation",
    "RequestKind",
    "RequestReview",
    "RetryPolicy",
    "RunBusy",
    "RunExists",
    "RunIteration",
    "RunNotFound",
    "RunOutput",
    "RunRecord",
    "RunStatus",
    "SchemaVersionError",
    "Session",
    "StaleRequest",
    "Start",
    "State",
    "StateMachineError",
    "Step",
    "StepCompletedEvent",
    "StepInput",
    "StepOutput",
    "StepPausedEvent",
    "StepRequirement",
    "StepResult",
    "StepStartedEvent",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Timeout",
    "TimeoutNotDue",
    "Transition",
    "TransitionRefused",
    "Trigger",
    "Verdict",
    "Worker",
    "Workflow",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowStartedEvent",
    "check_run_id",
    "dumps",
    "loads",
    "run_state",
    "step",
]


def __getattr__(name: str) -> object:
    # Workers (threads, logging) load on first use: most importers never start one.
    if name == "Worker":
        from .worker import Worker

        return Worker
    raise AttributeError(f"module 'statemachine' has no attribute {name!r}")
