"""The version of the installed distribution: `statemachine.__version__` and
``statemachine --version`` both read it here."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "UNKNOWN", "installed_version"]

DISTRIBUTION = "hitl-statemachine"
"""The name the package is installed under (``pip install hitl-statemachine``)."""

UNKNOWN = "0+unknown"
"""The version of a source tree that no installation knows of."""


def installed_version(distribution: str = DISTRIBUTION) -> str:
    """The version `distribution` is installed at, or `UNKNOWN` if it is not installed."""
    from importlib.metadata import PackageNotFoundError, version  # a third of our import time

    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN
