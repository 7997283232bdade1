"""Command line: subcommands, REPL, script runner, rich rendering."""
