"""Orchestration: one `bench evaluate`, from its specification to its record.

    spec.py      RunSpec: every input that determines the numbers; the identity hash and record path
    loading.py   data, models and user checkpoints
    dense.py     the dense baseline, trained once per identity and cached (or the user's weights)
    runs.py      one retraining run (method or control, one seed), cached by what determines it
    arms.py      an arm's runs and their statistics
    record.py    the record assembled from all of the above
    evaluate.py  the sequence: dense → prune → retrain each arm and seed → count → record
    verify.py    `bench verify`: a record's seeds re-run from its own spec, and how close they came
"""
