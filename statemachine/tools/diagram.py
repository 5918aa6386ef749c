"""Mermaid diagrams and the Markdown transition table, generated from `table.TRANSITIONS`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from statemachine.core.policy import HumanReview
from statemachine.core.states import State
from statemachine.core.table import TRANSITIONS, WHEN
from statemachine.testing.explore import explore

__all__ = ["EXAMPLES", "mermaid", "render", "transition_table"]


def mermaid(
    policy: HumanReview | None = None, max_iterations: int = 3, routes: bool = False
) -> str:
    """A Mermaid ``stateDiagram-v2`` of the gate.

    Args:
        policy: without one, every transition of the table, labelled by trigger. With one,
            only what that policy can reach, labelled by the events that cause it.
        max_iterations: the loop's maximum, used with a policy.
        routes: with a policy, draw a Router's gate (routes to select, steps inside).
    """
    labels: dict[tuple[State, State], set[str]] = {}
    if policy is None:
        for source, row in TRANSITIONS.items():
            for trigger, target in row.items():
                labels.setdefault((source, target), set()).add(trigger.value)
    else:
        for edge in explore(policy, max_iterations, routes).edges:
            key = (edge.source.state, edge.target.state)
            labels.setdefault(key, set()).add(edge.event)
    order = list(State)
    reached = {state for pair in labels for state in pair} | {State.pending}
    lines = ["stateDiagram-v2", "    [*] --> pending"]
    for source, target in sorted(
        labels, key=lambda pair: (order.index(pair[0]), order.index(pair[1]))
    ):
        text = ", ".join(sorted(labels[source, target]))
        lines.append(f"    {source.value} --> {target.value}: {text}")
    lines.extend(
        f"    {state.value} --> [*]" for state in order if state.is_terminal and state in reached
    )
    return "\n".join(lines) + "\n"


def transition_table() -> str:
    """The transition table as Markdown, one row per (state, trigger), in table order."""
    rows = ["| from | event | when | trigger | to |", "|---|---|---|---|---|"]
    for source, row in TRANSITIONS.items():
        for trigger, target in row.items():
            event, when = WHEN[trigger]
            rows.append(
                f"| {source.value} | {event} | {when} | `{trigger.value}` | {target.value} |"
            )
    rows.append("| done, skipped, cancelled | anything | | | refused: `TransitionRefused` |")
    rows.append(
        "| awaiting_confirmation, awaiting_review | a decision the pending request does not ask "
        "for (see `ANSWERS`) | | | refused: `WrongDecision` |"
    )
    return "\n".join(rows) + "\n"


EXAMPLES: dict[str, tuple[HumanReview, int, bool]] = {
    "confirmation": (HumanReview(requires_confirmation=True), 3, False),
    "review-retry-timeout": (
        HumanReview(
            requires_iteration_review=True, on_reject="retry", timeout=120, on_timeout="approve"
        ),
        3,
        False,
    ),
    "step-output-review": (HumanReview(requires_output_review=True), 1, False),
    "user-input": (
        HumanReview(
            requires_confirmation=True,
            requires_user_input=True,
            user_input_schema=[{"name": "tone"}],
            on_reject="cancel",
        ),
        1,
        False,
    ),
    "error-pause": (HumanReview(on_error="pause"), 1, False),
    "router-reroute": (
        HumanReview(
            requires_user_input=True,
            requires_output_review=True,
            on_reject="retry",
            max_retries=1,
        ),
        2,
        True,
    ),
}
"""The policies whose diagrams `docs/state-machine.md` shows: (policy, max_iterations,
whether it is a Router's gate)."""

_REGION = re.compile(
    r"(<!-- generated: (?P<name>[\w:-]+) -->\n)(.*?)(<!-- end generated -->)", re.S
)


def _generated(name: str) -> str:
    if name == "table":
        return transition_table()
    if name == "diagram":
        return f"```mermaid\n{mermaid()}```\n"
    policy, max_iterations, routes = EXAMPLES[name.removeprefix("diagram:")]
    return f"```mermaid\n{mermaid(policy, max_iterations, routes)}```\n"


def render(text: str) -> str:
    """`text` with every ``<!-- generated: NAME -->`` region regenerated from the table."""
    return _REGION.sub(lambda m: m.group(1) + _generated(m.group("name")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    """``python -m statemachine.tools.diagram [--write FILE ...]``: print, or refresh docs."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(mermaid())
        return 0
    if args[0] != "--write" or len(args) < 2:
        sys.stderr.write("usage: python -m statemachine.tools.diagram [--write FILE ...]\n")
        return 2
    for name in args[1:]:
        path = Path(name)
        path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
