"""What OpenTelemetry costs a pause-and-resume cycle on the memory store: not instrumented
(the default), against instrumented with the SDK recording every metric and span (an
in-memory reader and a span processor that drops them), in alternating rounds of one run.

    .venv/bin/python bench/telemetry.py [--runs 200] [--rounds 7]

Needs the `otel` extra and the SDK (both in the `test` extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from bench.cycle import cycle_us
from statemachine import instrument, uninstrument
from stores import MemoryStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tracers = TracerProvider()
    tracers.add_span_processor(SpanProcessor())  # spans are made and ended, then dropped
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    off: list[float] = []
    on: list[float] = []
    for _ in range(args.rounds):
        uninstrument()
        off.append(cycle_us(MemoryStore, args.runs, False))
        instrument(meters, tracers)
        on.append(cycle_us(MemoryStore, args.runs, False))
    uninstrument()
    ratios = sorted(b / a for a, b in zip(off, on, strict=True))
    print(f"{args.rounds} rounds x {args.runs} runs x 3 cycles, memory store, warm")
    print(
        f"not instrumented: median {statistics.median(off):.0f} µs ({min(off):.0f}-{max(off):.0f})"
    )
    print(f"instrumented: median {statistics.median(on):.0f} µs ({min(on):.0f}-{max(on):.0f})")
    print(f"ratio: median {statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
