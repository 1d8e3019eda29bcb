"""synthaug: does synthetic training data help your audio classifier? Measure it."""

__version__ = "0.1.0"
