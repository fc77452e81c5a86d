"""One module per subcommand: `add_arguments(parser)` and `run(args) -> exit code`. No heavy imports here."""
