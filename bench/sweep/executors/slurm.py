"""Run jobs on SLURM through submitit: one job-array task per run (`--partition`, `--time`,
`--gpus-per-task`, `--cpus-per-task`; `--jobs` caps how many run at once).

Jobs are `Checkpointable`: when a job reaches its time limit, submitit requeues it and the rerun
resumes from the run's epoch checkpoints. The jobs outlive this process; if it is stopped with
Ctrl-C it cancels the unfinished ones, and rerunning the sweep skips the finished ones. The output
folder and `--runs-dir` must be on a filesystem the nodes share.

`--cluster local` uses submitit's local executor instead (jobs as local processes): a way to try a
sweep file end to end before queueing it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.errors import BenchError
from bench.infra.interrupt import Interrupted, StopFlag, stop_on_signals
from bench.sweep.executors import one_line, require
from bench.sweep.job import Job, finished, run_job
from bench.sweep.monitor import Monitor

submitit = require("slurm")


class SweepJob(submitit.helpers.Checkpointable):
    """What a SLURM job runs; checkpoint() (inherited) resubmits it unchanged on timeout."""

    def __init__(self, job_json: str):
        self.job_json = job_json

    def __call__(self) -> dict:
        job = Job.from_json(self.job_json)
        with stop_on_signals(StopFlag()) as stop:
            result = run_job(job, stop, capture=True)
        return {"status": result["status"], "seconds": result.get("seconds")}


def parse_time(text: str) -> int:
    """SLURM-style `MINUTES`, `H:MM:SS`, `MM:SS` or `D-HH:MM:SS` → minutes (rounded up)."""
    try:
        days, _, rest = text.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if len(parts) == 1:
            minutes = parts[0]
        elif len(parts) == 2:
            minutes = parts[0] + (parts[1] > 0)
        elif len(parts) == 3:
            minutes = parts[0] * 60 + parts[1] + (parts[2] > 0)
        else:
            raise ValueError
        minutes += int(days) * 24 * 60 if days else 0
    except ValueError:
        raise BenchError(f"--time {text!r}: expected minutes, H:MM:SS or D-HH:MM:SS") from None
    if minutes < 1:
        raise BenchError(f"--time {text!r}: must be at least one minute")
    return minutes


class SlurmExecutor:
    def __init__(self, folder: Path, cluster: str, jobs: int | None, partition: str | None, time: str,
                 gpus_per_task: int, cpus_per_task: int):
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise BenchError("executor slurm needs SLURM's sbatch on PATH (try the sweep with --cluster local first)")
        self.folder = folder
        self.cluster = cluster
        self.jobs = jobs
        self.parameters = {
            "timeout_min": parse_time(time),
            "cpus_per_task": max(1, cpus_per_task),
            "gpus_per_node": gpus_per_task,
            "tasks_per_node": 1,
            "nodes": 1,
            "name": "bench-sweep",
        }
        if cluster == "slurm":
            self.parameters["slurm_array_parallelism"] = jobs or 64
            if partition:
                self.parameters["slurm_partition"] = partition

    def run(self, jobs: list[Job], monitor: Monitor, stop: StopFlag) -> None:
        executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=self.cluster)
        executor.update_parameters(**self.parameters)
        # SLURM takes the whole array at once and limits parallelism itself; the local executor has no
        # such limit, so there at most `jobs` are submitted at a time.
        cap = len(jobs) if self.cluster == "slurm" else max(1, self.jobs or 1)
        todo = list(jobs)
        in_flight: dict = {}
        while todo or in_flight:
            if todo and len(in_flight) < cap and not stop.requested:
                batch, todo = todo[: cap - len(in_flight)], todo[cap - len(in_flight):]
                try:
                    with executor.batch():
                        submitted = [(executor.submit(SweepJob(job.to_json())), job) for job in batch]
                except Exception as exc:  # sbatch refused the array: bad partition, limits, ...
                    raise BenchError(f"submitting to {self.cluster} failed: {one_line(str(exc))}") from None
                for handle, job in submitted:
                    in_flight[handle] = (job, time.perf_counter())
            if stop.requested:
                self._cancel(in_flight, todo, monitor)
                return
            for handle in [h for h in in_flight if h.done()]:
                job, start = in_flight.pop(handle)
                self._report(handle, job, time.perf_counter() - start, monitor)
            monitor.tick()
            time.sleep(0.5)

    def _report(self, handle, job: Job, seconds: float, monitor: Monitor) -> None:
        try:
            handle.result()
        except Exception as exc:  # submitit re-raises the job's exception as text (FailedJobError)
            text = str(exc)
            if Interrupted.__name__ in text:
                monitor.finished(job, error="stopped by a signal (progress saved; the next sweep resumes it)")
            else:
                monitor.finished(job, error=one_line(text))
            return
        if finished(job.record) is None:
            monitor.finished(job, error=f"the job ended without a valid record at {job.record}")
        else:
            monitor.finished(job, seconds=seconds)

    def _cancel(self, in_flight: dict, todo: list[Job], monitor: Monitor) -> None:
        for handle, (job, _) in in_flight.items():
            handle.cancel(check=False)
            monitor.interrupted(job)
        for job in todo:
            monitor.interrupted(job)
        if self.cluster != "slurm":  # local processes: let them save and exit before we return
            deadline = time.time() + 60
            while time.time() < deadline and not all(h.done() for h in in_flight):
                time.sleep(0.2)
