"""One module per `synthaug` command that is a tool rather than a pipeline stage (those are in
synthaug.stages): each has a docstring (its help), `add_arguments` and `run`, as the stages do."""
