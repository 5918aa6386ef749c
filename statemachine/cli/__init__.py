"""The ``statemachine`` command line for operating runs and workers.

`app` parses the arguments and turns every failure into one line and an exit code;
`commands` holds the commands themselves.
"""

from statemachine.cli.app import main

__all__ = ["main"]
