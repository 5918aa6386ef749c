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


def mermaid(policy: HumanReview | None = None, max_iterations: int = 3) -> str:
    """A Mermaid ``stateDiagram-v2`` of the gate.

    Args:
        policy: without one, every transition of the table, labelled by trigger. With one,
            only what that policy can reach, labelled by the events that cause it.
        max_iterations: the loop's maximum, used with a policy.
    """
    labels: dict[tuple[State, State], set[str]] = {}
    if policy is None:
        for source, row in TRANSITIONS.items():
            for trigger, target in row.items():
                labels.setdefault((source, target), set()).add(trigger.value)
    else:
        for edge in explore(policy, max_iterations).edges:
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
    return "\n".join(rows) + "\n"


EXAMPLES: dict[str, tuple[HumanReview, int]] = {
    "confirmation": (HumanReview(requires_confirmation=True), 3),
    "review-retry-timeout": (
        HumanReview(
            requires_iteration_review=True, on_reject="retry", timeout=120, on_timeout="approve"
        ),
        3,
    ),
    "step-output-review": (HumanReview(requires_output_review=True), 1),
}
"""The policies whose diagrams `docs/state-machine.md` shows."""

_REGION = re.compile(
    r"(<!-- generated: (?P<name>[\w:-]+) -->\n)(.*?)(<!-- end generated -->)", re.S
)


def _generated(name: str) -> str:
    if name == "table":
        return transition_table()
    if name == "diagram":
        return f"```mermaid\n{mermaid()}```\n"
    policy, max_iterations = EXAMPLES[name.removeprefix("diagram:")]
    return f"```mermaid\n{mermaid(policy, max_iterations)}```\n"


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
