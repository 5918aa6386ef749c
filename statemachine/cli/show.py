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
from statemachine.core.outbox import Notice
from statemachine.core.record import RunRecord, RunStatus
from statemachine.tools.asked import decision as _decision
from statemachine.tools.asked import notice as _notice
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
    note = _executor(run)
    data = {
        **head,
        "note": note,
        "traceback": run.traceback,
        "result": result,
        "pending": pending,
        "decisions": decisions,
        "notices": [_notice(each) for each in run.outbox],
        "record": converter().unstructure(run),
    }
    lines = [f"{key}: {value}" for key, value in head.items() if value not in (None, "")]
    lines += _block("input", run.input)
    if note is not None:
        lines.append(f"note: {note}")
    if run.error:
        lines += _block("error", run.error)
    if run.traceback:
        lines += _block("traceback", run.traceback)
    if pending is not None:
        lines += _asking(pending)
    for each in run.gates:
        lines.append(f"gate {each.name}: {each.state.value}, iteration {each.iteration}/"
                     f"{each.max_iterations}")  # fmt: skip
    if run.status is RunStatus.completed and run.results:
        lines += _block("result", result)
    if run.outbox:
        lines.append("notices:")
        lines += [f"  {n.hook} ({n.event}, {n.request_id}): {_sent(n)}" for n in run.outbox]
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


def _sent(notice: Notice) -> str:
    """How a notice stands, in words."""
    if notice.delivered_at is not None:
        return f"delivered at {when(notice.delivered_at)}"
    tries = f"{notice.attempts} attempt{'s' * (notice.attempts != 1)}"
    if notice.due is None:
        return f"given up after {tries}: {notice.error}"
    failed = f"; last: {notice.error}" if notice.error else ""
    return f"pending, next at {when(notice.due)} ({tries}{failed})"


def _executor(run: RunRecord) -> str | None:
    """What befell the run's executors, when it is not plain from its status: one lost
    mid-unit (its process died, or it stalled past its lease), or all of them."""
    last = run.history[-1] if run.history else None
    lost = sum(1 for entry in run.history if entry.event == "abandoned")
    if run.status is RunStatus.running:
        return (
            "a worker is executing it; if that worker died, the run goes on from its last "
            "commit once its hold ends (a lease expires; a file or SQLite lock ends with its "
            "process) and a worker takes it"
        )
    if run.status is RunStatus.pending and last is not None and last.event == "abandoned":
        again = "" if run.retry_at is None else f", runnable again at {when(run.retry_at)}"
        return (
            f"its executor was lost mid-unit (the process died or stalled past its lease): "
            f"attempt {run.attempts}{again}; it goes on from its last commit"
        )
    if run.status is RunStatus.failed and lost and last is not None and last.name == "":
        return f"dead-lettered: {run.attempts} executors in a row were lost mid-unit"
    return None


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
    if decision["via"] and decision["via"] != "timeout":
        line += f" via {decision['via']}"
    if decision["at"]:
        line += f" at {decision['at']}"
    carried = _CARRIES.get(decision["decision"])
    if carried is None or decision["value"] is None:
        return [line]
    return [line, *_block(carried, decision["value"], "    ")]
