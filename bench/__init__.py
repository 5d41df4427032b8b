"""prunebench: fair, reproducible benchmarking of neural-network pruning methods."""

__version__ = "0.1.0"
