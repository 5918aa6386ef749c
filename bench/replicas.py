"""What waiting for a replica costs: a Redis commit followed by ``WAIT 1`` against a plain
commit, and a ``PING``, measured in the same run.

    python bench/replicas.py [--batch 200] [--rounds 15]

This script starts a master and one replica on loopback (AOF with ``appendfsync everysec`` on
the master, none on the replica), and times alternating batches of: commits through a store
opened with ``wait_replicas=1`` (the commit and its ``WAIT`` in one round trip; the reply
comes once the replica acknowledged), commits through a plain store, and PINGs. Each commit
is a real change of a realistic run (see `bench/stores.py`). The ratios are the medians of
the per-round ratios, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stores import committer, pinger
from stores import RedisStore
from tests.servers import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        base = Path(scratch)
        master = RedisServer(base / "master", ["repl-diskless-sync-delay 0"]).start()
        replica = RedisServer(
            base / "replica", [f"replicaof 127.0.0.1 {master.port}", "appendonly no"]
        ).start()
        try:
            end = time.monotonic() + 30
            while master.client().info("replication").get("slave0", {}).get("state") != "online":
                assert time.monotonic() < end, "the replica never came online"
                time.sleep(0.02)
            plain = RedisStore(master.url, prefix="plain")
            waited = RedisStore(master.url, prefix="waited", wait_replicas=1)
            subjects = {
                "commit, WAIT 1": committer(waited, "w"),
                "plain commit": committer(plain, "p"),
                "PING": pinger(plain),
            }
            for measure in subjects.values():
                measure(args.batch // 4)  # warm up
            rounds = [
                {name: measure(args.batch) for name, measure in subjects.items()}
                for _ in range(args.rounds)
            ]
        finally:
            replica.stop()
            master.stop()
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds of {args.batch}")
    print("| operation | median | vs plain commit | lowest-highest | vs PING |")
    print("|---|---|---|---|---|")
    for name in subjects:
        median = statistics.median(r[name] for r in rounds)
        to_plain = [r[name] / r["plain commit"] for r in rounds]
        to_ping = statistics.median(r[name] / r["PING"] for r in rounds)
        print(
            f"| {name} | {median:,.1f} µs | {statistics.median(to_plain):.2f}x | "
            f"{min(to_plain):.2f}x-{max(to_plain):.2f}x | {to_ping:.2f}x |"
        )


if __name__ == "__main__":
    main()
