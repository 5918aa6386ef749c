"""The same work on LangGraph, for `bench/peer.py`: a graph that prepares, drafts, pauses for
review with `interrupt()`, drafts again with the feedback (up to 5 drafts) or finalizes,
resumed with `Command(resume=...)`; checkpoints in SQLite (`SqliteSaver`, WAL,
synchronous=FULL) written before `invoke` returns (``durability="sync"``), the durability
this library's stores give.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["LangGraph"]


class _State(TypedDict, total=False):
    text: str
    draft: str
    feedback: str | None
    iteration: int
    final: str


class _Out:
    """A thread of the graph, and what its last invoke returned."""

    def __init__(self, thread_id: str, result: dict[str, Any]) -> None:
        self.thread_id, self.result = thread_id, result
        self.run_id = thread_id


class LangGraph:
    name = "LangGraph (SqliteSaver)"

    def __init__(self, directory: Path, max_iterations: int = 5) -> None:
        self.path = directory / f"langgraph-{uuid.uuid4().hex[:8]}.db"
        self.max_iterations = max_iterations

    def _saver(self) -> Any:
        from langgraph.checkpoint.sqlite import SqliteSaver

        connection = sqlite3.connect(self.path, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return SqliteSaver(connection)

    def build(self) -> Any:
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import Command, interrupt

        top = self.max_iterations

        def prepare(state: _State) -> _State:
            return {"draft": f"prepared {state['text']}", "iteration": 0, "feedback": None}

        def improve(state: _State) -> _State:
            return {"draft": f"draft of {state['draft']}", "iteration": state["iteration"] + 1}

        def review(state: _State) -> Command[Any]:
            answer = interrupt({"draft": state["draft"], "iteration": state["iteration"]})
            if answer.get("approved") or state["iteration"] >= top:
                return Command(goto="finalize")
            return Command(goto="improve", update={"feedback": answer.get("feedback")})

        def finalize(state: _State) -> _State:
            return {"final": f"final {state['draft']}"}

        graph = StateGraph(_State)
        graph.add_node("prepare", prepare)
        graph.add_node("improve", improve)
        graph.add_node("review", review, destinations=("improve", "finalize"))
        graph.add_node("finalize", finalize)
        graph.add_edge(START, "prepare")
        graph.add_edge("prepare", "improve")
        graph.add_edge("improve", "review")
        graph.add_edge("finalize", END)
        return graph.compile(checkpointer=self._saver())

    def start(self, workflow: Any, text: str) -> _Out:
        thread = uuid.uuid4().hex
        config = {"configurable": {"thread_id": thread}}
        return _Out(thread, workflow.invoke({"text": text}, config, durability="sync"))

    def decide(self, out: _Out, feedback: str | None) -> None:
        out.answer = {"approved": feedback is None, "feedback": feedback}  # type: ignore[attr-defined]

    def resume(self, workflow: Any, out: _Out) -> _Out:
        from langgraph.types import Command

        config = {"configurable": {"thread_id": out.thread_id}}
        answer = out.answer  # type: ignore[attr-defined]
        return _Out(
            out.thread_id, workflow.invoke(Command(resume=answer), config, durability="sync")
        )

    def cold(self, out: _Out) -> tuple[Any, _Out]:
        workflow = self.build()  # a new graph and connection, the thread read by its id
        config = {"configurable": {"thread_id": out.thread_id}}
        state = workflow.get_state(config)
        return workflow, _Out(out.thread_id, dict(state.values))

    def done(self, out: _Out) -> bool:
        return "final" in out.result and "__interrupt__" not in out.result

    def stored_bytes(self, out: _Out) -> int:
        with sqlite3.connect(self.path) as db:
            row = db.execute(
                "select coalesce(sum(length(checkpoint)) + sum(length(metadata)), 0) "
                "from checkpoints where thread_id = ?",
                (out.thread_id,),
            ).fetchone()
            writes = db.execute(
                "select coalesce(sum(length(value)), 0) from writes where thread_id = ?",
                (out.thread_id,),
            ).fetchone()
            return int(row[0]) + int(writes[0])
