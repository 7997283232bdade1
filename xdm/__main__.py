"""``python -m xdm`` runs the command line."""

try:
    from xdm.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the entry point loads: as in main()
    import os
    import sys

    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    os._exit(130)

raise SystemExit(main())
