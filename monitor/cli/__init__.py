"""The `monitor` command line: one module per group of commands."""
