"""An explicit state machine for human-in-the-loop loop runs.

The core (states, events, policy, table, records, `step`, codec) does no I/O: you bring the
clock, the storage and the humans.
"""

from .actions import Action, Finish, RequestConfirmation, RequestReview, RunIteration
from .codec import SCHEMA_VERSION, dumps, loads
from .errors import (
    CodecError,
    DeadlinePassed,
    DecisionRefused,
    DefinitionError,
    InvalidArgument,
    MalformedRecord,
    SchemaVersionError,
    StaleRequest,
    StateMachineError,
    TimeoutNotDue,
    TransitionRefused,
)
from .events import Cancel, Confirm, Event, IterationCompleted, Reject, Start, Timeout
from .machine import step
from .policy import HumanReview, OnReject, OnTimeout
from .record import Gate, Request, RequestKind
from .states import TERMINAL_STATES, State
from .table import TRANSITIONS, Trigger

__all__ = [
    "SCHEMA_VERSION",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "Cancel",
    "CodecError",
    "Confirm",
    "DeadlinePassed",
    "DecisionRefused",
    "DefinitionError",
    "Event",
    "Finish",
    "Gate",
    "HumanReview",
    "InvalidArgument",
    "IterationCompleted",
    "MalformedRecord",
    "OnReject",
    "OnTimeout",
    "Reject",
    "Request",
    "RequestConfirmation",
    "RequestKind",
    "RequestReview",
    "RunIteration",
    "SchemaVersionError",
    "StaleRequest",
    "Start",
    "State",
    "StateMachineError",
    "Timeout",
    "TimeoutNotDue",
    "TransitionRefused",
    "Trigger",
    "dumps",
    "loads",
    "step",
]
