"""An explicit state machine for human-in-the-loop loop runs.

The core (states, events, policy, table, records, `step`, codec) does no I/O: you bring the
clock, the storage and the humans. The runtime (`Workflow`, `Step`, `Loop`) runs steps and
loops with human gates on top of it, persisting runs in a `Store`.
"""

from typing import TYPE_CHECKING

from statemachine.core.actions import (
    Action,
    Finish,
    RequestConfirmation,
    RequestReview,
    RunIteration,
)
from statemachine.core.codec import SCHEMA_VERSION, dumps, loads
from statemachine.core.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    DeadlinePassed,
    DecisionConflict,
    DecisionRefused,
    DefinitionChanged,
    DefinitionError,
    ExplorationFailed,
    InvalidArgument,
    InvalidRunId,
    LeaseLost,
    MalformedRecord,
    Refused,
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
    VersionConflict,
)
from statemachine.core.events import (
    Cancel,
    Confirm,
    Event,
    IterationCompleted,
    Reject,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.policy import HumanReview, OnReject, OnTimeout
from statemachine.core.record import (
    Answer,
    Gate,
    Request,
    RequestKind,
    RunRecord,
    RunStatus,
    StepResult,
    Transition,
)
from statemachine.core.runs import DecisionResult, Outcome, Verdict
from statemachine.core.states import TERMINAL_STATES, State
from statemachine.core.table import TRANSITIONS, Trigger
from statemachine.runtime.definitions import Loop, Step, StepInput, StepOutput
from statemachine.runtime.handles import RunOutput, Session, StepRequirement
from statemachine.runtime.stream import (
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
from statemachine.runtime.workflow import Workflow
from statemachine.store import STATES, Lease, RetryPolicy, RunList, Store, check_run_id, run_state
from statemachine.store.memory import MemoryStore

if TYPE_CHECKING:
    from statemachine.runtime.aworker import AsyncWorker
    from statemachine.runtime.worker import Worker

__all__ = [
    "SCHEMA_VERSION",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "Answer",
    "AsyncWorker",
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
    "ExplorationFailed",
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
    "Refused",
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
    "VersionConflict",
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
        from statemachine.runtime.worker import Worker

        return Worker
    if name == "AsyncWorker":
        from statemachine.runtime.aworker import AsyncWorker

        return AsyncWorker
    raise AttributeError(f"module 'statemachine' has no attribute {name!r}")
