"""One module per CLI subcommand; see rnnlab.cli."""
