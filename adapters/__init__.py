"""Built-in pruning adapters, one module per method (installed as `bench.adapters`).

Each module has the same order: a docstring citing the paper, a frozen hyperparameter dataclass with
the paper's defaults, the adapter class, and its registration. Adapters import only `bench.pruning`.
"""
