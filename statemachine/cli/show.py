"""``statemachine show RUN``: one run, as a person reads it or as JSON.

Text values are printed as text (several lines stay several lines, indented under their
label); other values as indented JSON. A run is named by its id or by a unique prefix of it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from statemachine.cli.commands import find_run, opened, output, summary, table, when
from statemachine.core.codec import converter
from statemachine.core.events import JSON
from statemachine.core.record import RunStatus
from statemachine.tools.asked import decision as _decision
from statemachine.tools.asked import pending as _pending

__all__ = ["cmd_show"]

_CARRIES = {"reject": "feedback", "provide": "values", "select": "routes", "edit": "edited output"}
"""What each decision's value is, by the decision."""


def cmd_show(args: argparse.Namespace) -> int:
    with opened(args.store) as store:
        run = find_run(store, args.run)
    head = summary(run)
    result = run.results[-1].content if run.status is RunStatus.completed and run.results else None
    gate = run.pending_gate
    pending = None if gate is None or gate.request is None else _pending(gate)
    decisions = [_decision(answer) for answer in run.answers]
    data = {
        **head,
        "result": result,
        "pending": pending,
        "decisions": decisions,
        "record": converter().unstructure(run),
    }
    lines = [f"{key}: {value}" for key, value in head.items() if value not in (None, "")]
    lines += _block("input", run.input)
    if run.error:
        lines += _block("error", run.error)
    if pending is not None:
        lines += _asking(pending)
    for each in run.gates:
        lines.append(f"gate {each.name}: {each.state.value}, iteration {each.iteration}/"
                     f"{each.max_iterations}")  # fmt: skip
    if run.status is RunStatus.completed and run.results:
        lines += _block("result", result)
    if decisions:
        lines.append("decisions:")
        for decision in decisions:
            lines += _told(decision)
    history = [
        {"v": e.version, "at": when(e.at), "name": e.name, "event": e.event, "state": e.state,
         "decision": e.decision_id}
        for e in run.history
    ]  # fmt: skip
    lines += ["", table(history, ["v", "at", "name", "event", "state", "decision"])]
    output(args, data, "\n".join(lines))
    return 0


def _block(label: str, value: JSON, indent: str = "") -> list[str]:
    """``label: value`` on one line, or the label and the value's lines indented under it: text
    as it is, anything else as JSON (indented when long)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str) and len(text) > 80:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    lines = text.splitlines() or [""]
    if len(lines) == 1:
        return [f"{indent}{label}: {lines[0]}"]
    return [f"{indent}{label}:", *(f"{indent}  {line}" for line in lines)]


def _asking(pending: dict[str, Any]) -> list[str]:
    """The pending request, as text."""
    lines = [f"pending: {pending['kind']} of {pending['step']!r} (iteration "
             f"{pending['iteration']})"]  # fmt: skip
    if pending["message"] and "error" not in pending:  # an error request's message is the error
        lines[0] += f": {pending['message']}"
    for field in pending.get("fields", ()):
        needed = "required" if field["required"] else "optional"
        line = f"  field {field['name']} ({field['type']}, {needed})"
        if field["description"]:
            line += f": {field['description']}"
        if field["allowed_values"] is not None:
            line += f"; one of {json.dumps(field['allowed_values'], ensure_ascii=False)}"
        lines.append(line)
    if "choices" in pending:
        how = "one or more" if pending["multiple"] else "one"
        lines.append(f"  routes ({how}): {', '.join(pending['choices'])}")
    if "output" in pending:
        lines += _block("under review", pending["output"])
    if "error" in pending:
        lines += _block("failed with", pending["error"])
    return lines


def _told(decision: dict[str, Any]) -> list[str]:
    """An answered request, as text."""
    line = f"  {decision['request_id']}: {decision['decision']}"
    if decision["by"]:
        line += f" by {decision['by']}"
    if decision["at"]:
        line += f" at {decision['at']}"
    carried = _CARRIES.get(decision["decision"])
    if carried is None or decision["value"] is None:
        return [line]
    return [line, *_block(carried, decision["value"], "    ")]
