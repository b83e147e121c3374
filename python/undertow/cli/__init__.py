"""The `undertow` command line: one module per subcommand, dispatched by `undertow.cli.main`."""
