"""What it costs to hand executors and callers copies of stored values instead of the values.

    python bench/copies.py [--rounds 15]

Executors get their input, the previous content and the rejected output as copies, and run
outputs hand callers copies, so that changing them cannot change what is stored
(`statemachine.events.json_copy`: lists and dicts are copied, text and numbers shared). The
figure is the time of one copy of payloads of three sizes, against `copy.deepcopy` and a JSON
round trip measured in the same run (median of alternating batches), and the copying one
iteration of the cycle benchmark's workload does, against that cycle's time.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachine.core.events import json_copy

PAYLOADS: dict[str, Any] = {
    "a draft (text)": "A paragraph of a draft, about two hundred characters long. " * 3,
    "a 2 KB record": {
        "title": "Quarterly report",
        "sections": [
            {"heading": f"part {n}", "text": "x" * 120, "score": n / 7} for n in range(10)
        ],
        "tags": ["finance", "q3", "draft"],
    },
    "a 200 KB document": {
        "rows": [{"id": n, "name": f"item {n}", "values": [n, n * 2, n * 3]} for n in range(2000)]
    },
}


def per_call_us(function: Callable[[Any], Any], value: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        function(value)
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    ways: dict[str, Callable[[Any], Any]] = {
        "json_copy": json_copy,
        "copy.deepcopy": copy.deepcopy,
        "JSON round trip": lambda value: json.loads(json.dumps(value)),
    }
    print(f"python {sys.version.split()[0]}, {args.rounds} alternating rounds")
    print("| payload | json_copy | copy.deepcopy | JSON round trip |\n|---|---|---|---|")
    for name, value in PAYLOADS.items():
        count = max(10, int(20_000 / (len(json.dumps(value)) / 100 + 1)))
        samples: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.rounds):
            for way, function in ways.items():
                samples[way].append(per_call_us(function, value, count))
        cells = [f"{statistics.median(samples[way]):,.2f} µs" for way in ways]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
