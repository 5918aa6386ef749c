"""How the command's long-running processes (`worker`, `serve`) log: `--log-level` and
`--log-format text|json`, on stderr.

The library configures no logging at import; the command line is an application, so it
configures the ``statemachine`` loggers (and only those) for the process it runs. A JSON line
holds the time, level, logger and message, the context fields a record carries (`run_id`,
`request_id`, `step`, `attempt`) and, for a failure, its traceback: what a log shipper reads
without parsing text.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["CONTEXT", "JsonFormatter", "TextFormatter", "add_log_options", "configure_logging"]

CONTEXT = ("run_id", "request_id", "step", "attempt")
"""The `extra` fields the library's records carry about a run."""

LEVELS = ("debug", "info", "warning", "error")


def _context(record: logging.LogRecord) -> dict[str, object]:
    return {
        name: getattr(record, name) for name in CONTEXT if getattr(record, name, None) is not None
    }


class TextFormatter(logging.Formatter):
    """``time level logger: message [run_id=... step=...]``, and the traceback below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context(record)
        if not context:
            return line
        head, newline, rest = line.partition("\n")  # the context stays on the first line
        fields = " ".join(f"{name}={value}" for name, value in context.items())
        return f"{head} [{fields}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """`--log-level` and `--log-format` on a command that runs until stopped."""
    parser.add_argument(
        "--log-level", choices=LEVELS, default="info", help="the least severe level logged"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line (time, level, logger, message, run_id, "
        "request_id, step, attempt, traceback)",
    )


def configure_logging(level: str, form: str) -> logging.Handler:
    """Log the ``statemachine`` loggers at `level` and above on stderr, as `form`; returns
    the handler (a test removes it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    logger = logging.getLogger("statemachine")
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False  # an embedding application's root handlers do not log it twice
    return handler
