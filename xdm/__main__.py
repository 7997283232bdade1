"""``python -m xdm`` runs the command line."""

from xdm.cli.main import main

raise SystemExit(main())
