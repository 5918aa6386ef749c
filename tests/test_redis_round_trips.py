"""How many times a run talks to Redis: counted by the server itself.

A run paused for review once and then completed is started, paused, decided and continued
against a redis-server of its own, and the server's ``INFO commandstats`` (reset with
``CONFIG RESETSTAT``) counts what it was asked. Commands that the store's Lua scripts run
inside one ``EVALSHA`` are counted there too, so the slow log (every command logged, each
script's own commands under the client address ``?:0``) tells them apart: what is left is
what clients sent, one command each, and each a round trip at most (pipelined reads share
one, so the figure is an upper bound).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import redis

from statemachine import Step, Workflow
from stores import RedisStore

from .servers import RedisServer

MOST = 12


def sent_by_clients(client: redis.Redis) -> Counter[str]:
    """Commands clients sent since the stats were reset: ``INFO commandstats`` less the
    commands that scripts ran (and less the counting's own, sent by `client`)."""
    stats = client.info("commandstats")
    counted = Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})
    inside = Counter(
        str(entry["command"].split()[0], "utf-8", "replace").lower()
        if isinstance(entry["command"], bytes)
        else str(entry["command"]).split()[0].lower()
        for entry in client.slowlog_get(100_000)
        if str(entry.get("client_address", b""), "utf-8", "replace").startswith("?")
    )
    own = Counter({"info": 1, "slowlog|get": 1, "config|resetstat": 1, "slowlog|reset": 1})
    return counted - inside - own


def reviewed(store: RedisStore) -> Workflow:
    return Workflow(
        name="counted",
        store=store,
        steps=[
            Step(
                name="draft",
                executor=lambda si: f"draft of {si.input}",
                requires_output_review=True,
            ),
            Step(name="publish", executor=lambda si: f"published {si.previous_step_content}"),
        ],
    )


def test_a_run_paused_for_review_once_then_completed_takes_at_most_12_round_trips(
    tmp_path: Path,
) -> None:
    server = RedisServer(
        tmp_path / "redis", ["slowlog-log-slower-than 0", "slowlog-max-len 100000"]
    ).start()
    try:
        store = RedisStore(server.url, prefix="counted")
        workflow = reviewed(store)
        workflow.run("warm-up")  # connections, scripts loaded, the prefix's settings read
        admin = server.client()
        admin.config_resetstat()
        admin.slowlog_reset()

        paused = workflow.run("a paragraph")
        assert paused.is_paused
        paused.steps_requiring_output_review[0].confirm()
        done = workflow.continue_run(paused)
        assert done.status.value == "completed"
        assert done.content == "published draft of a paragraph"

        sent = sent_by_clients(admin)
        total = sum(sent.values())
        assert sent["evalsha"] >= 3, sent  # create, the pause's commit, the decision at least
        assert total <= MOST, f"{total} round trips: {dict(sent)}"
        # The lease went back with the last commit: nothing is left held.
        key = store._keys(done.run_id).run
        assert admin.hget(key, "owner") == b""
        assert admin.zcard("counted:{p0}:leases") == 0
        store.close()
    finally:
        server.stop()
