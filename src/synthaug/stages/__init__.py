"""One module per `synthaug` command that runs a pipeline stage or acts on its outputs; each has a
docstring (its help), `add_arguments(parser)` and `run(args)`. synthaug.cli.COMMANDS lists them."""
