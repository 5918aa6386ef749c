"""Tools to test your own workflows formally: the exhaustive explorer, a harness with
scripted humans and virtual time, Hypothesis strategies, and the store contract.

Needs Hypothesis (``pip install hitl-statemachine[testing]``) for the strategies and the
contract; the explorer alone does not::

    from hypothesis import given
    from statemachine import Gate, step
    from statemachine.testing import event_sequences, explore, policies

    def test_my_loop_policy_is_sound():
        explore(my_loop.human_review, my_loop.max_iterations).check()

    @given(policies(), event_sequences())
    def test_never_past_max(policy, sequence): ...
"""

from typing import TYPE_CHECKING

from statemachine.core.errors import ExplorationFailed, PathDiverged
from statemachine.testing.explore import Edge, Exploration, Node, explore, fitting
from statemachine.testing.harness import Harness, VirtualClock
from statemachine.testing.history import check_history
from statemachine.testing.paths import ScriptedFailure, run_path
from statemachine.testing.places import GateAt, Move, Path, Place, place_of
from statemachine.testing.workflow_graph import WorkflowEdge, WorkflowExploration, explore_workflow

if TYPE_CHECKING:
    from statemachine.testing.contract import check_store, store_agreement
    from statemachine.testing.generated import decisions, workflows
    from statemachine.testing.stateful import WorkflowMachine
    from statemachine.testing.strategies import (
        EPOCH,
        FIELDS,
        ROUTES,
        event_sequences,
        events,
        gates,
        json_values,
        policies,
    )

__all__ = [
    "EPOCH",
    "FIELDS",
    "ROUTES",
    "Edge",
    "Exploration",
    "ExplorationFailed",
    "GateAt",
    "Harness",
    "Move",
    "Node",
    "Path",
    "PathDiverged",
    "Place",
    "ScriptedFailure",
    "VirtualClock",
    "WorkflowEdge",
    "WorkflowExploration",
    "WorkflowMachine",
    "check_history",
    "check_store",
    "decisions",
    "event_sequences",
    "events",
    "explore",
    "explore_workflow",
    "fitting",
    "gates",
    "json_values",
    "place_of",
    "policies",
    "run_path",
    "store_agreement",
    "workflows",
]

_LAZY = {
    "check_store": "contract",
    "store_agreement": "contract",
    "decisions": "generated",
    "workflows": "generated",
    "WorkflowMachine": "stateful",
}
_LAZY.update(
    dict.fromkeys(
        (
            "EPOCH",
            "FIELDS",
            "ROUTES",
            "event_sequences",
            "events",
            "gates",
            "json_values",
            "policies",
        ),
        "strategies",
    )
)


def __getattr__(name: str) -> object:
    # Hypothesis loads only when a strategy or the contract is asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"statemachine.testing.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'statemachine.testing' has no attribute {name!r}")
