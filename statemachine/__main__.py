"""``python -m statemachine``: the command line (see `statemachine.cli`)."""

from .cli import main

raise SystemExit(main())
