"""``python -m statemachine``: the command line (see `statemachine.cli`)."""

from statemachine.cli import main

raise SystemExit(main())
