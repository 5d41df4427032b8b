"""`bench sweep`: a declarative TOML grid of evaluations, run idempotently on an executor.

A *run* is one `bench evaluate`: one adapter with one target and one hyperparameter setting, one
model, one dataset, one protocol, **all the grid's seeds** and the random control, giving one
record. Seeds stay inside a run (not one run each) because a record reports the mean over seeds
next to a control pruned to the same per-seed structure; split per seed, the leaderboard would see
several incomplete entries.

Modules: `grid` (parse, validate, expand, hash), `plan` (the dry-run table and cost estimate),
`job` (the one function every executor runs for a run), `monitor` (progress and the summary),
`driver` (what is done, what to run, exit code) and `executors/` (local processes, Ray, submitit).
"""

from bench.sweep.grid import Grid, Run, load_grid

__all__ = ["Grid", "Run", "load_grid"]
