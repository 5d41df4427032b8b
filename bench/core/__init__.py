"""The core: what a training, a protocol, a count and a record *are* (recipes and hashes, protocols and their LRs,
the training loop and its hooks, checkpoints, fvcore counting, latency, the record schema). It never imports an
adapter, the orchestration or the user interface."""
