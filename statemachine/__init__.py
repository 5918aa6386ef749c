"""An explicit state machine for human-in-the-loop loop runs.

The core (states, events, policy, table, records, `step`, codec) does no I/O: you bring the
clock, the storage and the humans. The runtime (`Workflow`, `Step`, `Loop`) runs steps and
loops with human gates on top of it, persisting runs in a `Store`.
"""

from typing import TYPE_CHECKING

from statemachine.core.actions import (
    Action,
    Finish,
    Pause,
    RequestConfirmation,
    RequestErrorReview,
    RequestInput,
    RequestReview,
    RequestRoute,
    RunIteration,
)
from statemachine.core.codec import SCHEMA_VERSION, dumps, loads
from statemachine.core.decisions import DecisionResult, Outcome, Verdict
from statemachine.core.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    DefinitionChanged,
    DefinitionError,
    ExplorationFailed,
    HistoryInvalid,
    InvalidArgument,
    InvalidRunId,
    LeaseLost,
    MalformedRecord,
    PathDiverged,
    ReplicationUncertain,
    RunBusy,
    RunExists,
    RunNotFound,
    RunTooLarge,
    SchemaVersionError,
    StateMachineError,
    StoreError,
    StoreNotFound,
    StoreReset,
    StoreUnavailable,
    UnsafeStoreConfiguration,
    VersionConflict,
)
from statemachine.core.events import (
    Advance,
    Cancel,
    Confirm,
    Decision,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    Start,
    Timeout,
)
from statemachine.core.machine import step
from statemachine.core.policy import HumanReview, OnError, OnReject, OnTimeout, UserInputField
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
from statemachine.core.refusals import (
    ActorRefused,
    DeadlinePassed,
    DecisionConflict,
    DecisionRefused,
    InvalidInput,
    InvalidSelection,
    Refused,
    StaleRequest,
    TimeoutNotDue,
    TransitionRefused,
    WrongDecision,
)
from statemachine.core.states import TERMINAL_STATES, State
from statemachine.core.table import TRANSITIONS, Trigger
from statemachine.runtime.containers import Condition, Parallel, Router, Steps
from statemachine.runtime.decorators import pause
from statemachine.runtime.definitions import Loop, Step, StepInput, StepOutput
from statemachine.runtime.failures import ErrorRequirement
from statemachine.runtime.handles import RunOutput, Session, WorkflowRunOutput
from statemachine.runtime.history import DecidedRequirement
from statemachine.runtime.requirements import StepRequirement
from statemachine.runtime.workflow import Workflow
from statemachine.store import STATES, Lease, RetryPolicy, RunList, Store, check_run_id, run_state
from statemachine.store.memory import MemoryStore
from statemachine.store.telemetry import instrument, observe, uninstrument

if TYPE_CHECKING:
    from statemachine.runtime.aworker import AsyncWorker
    from statemachine.runtime.stream import (
        ConditionExecutionCompletedEvent,
        ConditionExecutionStartedEvent,
        LoopIterationCompletedEvent,
        LoopIterationStartedEvent,
        ParallelExecutionCompletedEvent,
        ParallelExecutionStartedEvent,
        RouterExecutionCompletedEvent,
        RouterExecutionStartedEvent,
        RouterPausedEvent,
        StepCompletedEvent,
        StepContinuedEvent,
        StepErrorEvent,
        StepOutputReviewEvent,
        StepPausedEvent,
        StepsExecutionCompletedEvent,
        StepsExecutionStartedEvent,
        StepStartedEvent,
        WorkflowCancelledEvent,
        WorkflowCompletedEvent,
        WorkflowEvent,
        WorkflowFailedEvent,
        WorkflowStartedEvent,
    )
    from statemachine.runtime.worker import Worker

__all__ = [
    "SCHEMA_VERSION",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "ActorRefused",
    "Advance",
    "Answer",
    "AsyncWorker",
    "Cancel",
    "CodecError",
    "Condition",
    "ConditionExecutionCompletedEvent",
    "ConditionExecutionStartedEvent",
    "Confirm",
    "ConflictError",
    "CorruptRun",
    "DeadlinePassed",
    "DecidedRequirement",
    "Decision",
    "DecisionConflict",
    "DecisionRefused",
    "DecisionResult",
    "DefinitionChanged",
    "DefinitionError",
    "Edit",
    "ErrorRequirement",
    "Event",
    "ExplorationFailed",
    "Finish",
    "Gate",
    "HistoryInvalid",
    "HumanReview",
    "InvalidArgument",
    "InvalidInput",
    "InvalidRunId",
    "InvalidSelection",
    "IterationCompleted",
    "IterationFailed",
    "Lease",
    "LeaseLost",
    "Loop",
    "LoopIterationCompletedEvent",
    "LoopIterationStartedEvent",
    "MalformedRecord",
    "MemoryStore",
    "OnError",
    "OnReject",
    "OnTimeout",
    "Outcome",
    "Parallel",
    "ParallelExecutionCompletedEvent",
    "ParallelExecutionStartedEvent",
    "PathDiverged",
    "Pause",
    "Provide",
    "Refused",
    "Reject",
    "ReplicationUncertain",
    "Request",
    "RequestConfirmation",
    "RequestErrorReview",
    "RequestInput",
    "RequestKind",
    "RequestReview",
    "RequestRoute",
    "Retry",
    "RetryPolicy",
    "Router",
    "RouterExecutionCompletedEvent",
    "RouterExecutionStartedEvent",
    "RouterPausedEvent",
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
    "Select",
    "Session",
    "Skip",
    "StaleRequest",
    "Start",
    "State",
    "StateMachineError",
    "Step",
    "StepCompletedEvent",
    "StepContinuedEvent",
    "StepErrorEvent",
    "StepInput",
    "StepOutput",
    "StepOutputReviewEvent",
    "StepPausedEvent",
    "StepRequirement",
    "StepResult",
    "StepStartedEvent",
    "Steps",
    "StepsExecutionCompletedEvent",
    "StepsExecutionStartedEvent",
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
    "UserInputField",
    "Verdict",
    "VersionConflict",
    "Worker",
    "Workflow",
    "WorkflowCancelledEvent",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowRunOutput",
    "WorkflowStartedEvent",
    "WrongDecision",
    "check_run_id",
    "dumps",
    "instrument",
    "loads",
    "observe",
    "pause",
    "run_state",
    "step",
    "uninstrument",
]


if TYPE_CHECKING:
    __version__: str
    """The installed distribution's version; ``0+unknown`` when the package is used from a
    source tree that was never installed."""


def __getattr__(name: str) -> object:
    # The version is read from the installed distribution on first use: importlib.metadata
    # costs a third of the package's own import time, and most importers never ask.
    if name == "__version__":
        from statemachine.tools.version import installed_version

        return installed_version()
    # The stream's events load with the runtime's executing half, on first use.
    if name.endswith("Event"):
        from statemachine.runtime import stream

        if name in stream.__all__:
            return getattr(stream, name)
    # Workers (threads, logging) load on first use: most importers never start one.
    if name == "Worker":
        from statemachine.runtime.worker import Worker

        return Worker
    if name == "AsyncWorker":
        from statemachine.runtime.aworker import AsyncWorker

        return AsyncWorker
    raise AttributeError(f"module 'statemachine' has no attribute {name!r}")
