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
    DecisionConflict,
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
    RunTooLarge,
    SchemaVersionError,
    StaleRequest,
    StateMachineError,
    StoreError,
    StoreNotFound,
    StoreReset,
    StoreUnavailable,
    TimeoutNotDue,
    TransitionRefused,
    UnsafeStoreConfiguration,
)
from .events import Cancel, Confirm, Event, IterationCompleted, Reject, Start, Timeout
from .machine import step
from .memory import MemoryStore
from .policy import HumanReview, OnReject, OnTimeout
from .record import (
    Answer,
    Gate,
    Request,
    RequestKind,
    RunRecord,
    RunStatus,
    StepResult,
    Transition,
)
from .runs import DecisionResult, Outcome, Verdict
from .states import TERMINAL_STATES, State
from .store import STATES, Lease, RetryPolicy, RunList, Store, check_run_id, run_state
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
    "Answer",
    "Cancel",
    "CodecError",
    "Confirm",
    "ConflictError",
    "CorruptRun",
    "DeadlinePassed",
    "DecisionConflict",
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
    "RunList",
    "RunNotFound",
    "RunOutput",
    "RunRecord",
    "RunStatus",
    "RunTooLarge",
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
    "StoreNotFound",
    "StoreReset",
    "StoreUnavailable",
    "Timeout",
    "TimeoutNotDue",
    "Transition",
    "TransitionRefused",
    "Trigger",
    "UnsafeStoreConfiguration",
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
