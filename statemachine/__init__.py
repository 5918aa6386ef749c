"""An explicit state machine for human-in-the-loop loop runs.

The core (states, events, policy, table, records, `step`, codec) does no I/O: you bring the
clock, the storage and the humans. The runtime (`Workflow`, `Step`, `Loop`) runs steps and
loops with human gates on top of it, persisting runs in a `Store`.
"""

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
    MalformedRecord,
    RunBusy,
    RunExists,
    RunNotFound,
    SchemaVersionError,
    StaleRequest,
    StateMachineError,
    StoreError,
    TimeoutNotDue,
    TransitionRefused,
)
from .events import Cancel, Confirm, Event, IterationCompleted, Reject, Start, Timeout
from .machine import step
from .policy import HumanReview, OnReject, OnTimeout
from .record import Gate, Request, RequestKind, RunRecord, RunStatus, StepResult, Transition
from .runs import DecisionResult, Outcome, Verdict
from .states import TERMINAL_STATES, State
from .store import MemoryStore, Store, check_run_id
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
    "Timeout",
    "TimeoutNotDue",
    "Transition",
    "TransitionRefused",
    "Trigger",
    "Verdict",
    "Workflow",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowStartedEvent",
    "check_run_id",
    "dumps",
    "loads",
    "step",
]
