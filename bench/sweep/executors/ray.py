"""Run jobs as Ray tasks: on an existing cluster (`--address`), or on a Ray instance started here.

Ray places the tasks: each asks for `cpus_per_task` CPUs and, when the cluster has GPUs, one GPU
(Ray then sets CUDA_VISIBLE_DEVICES for it). The sweep keeps at most `jobs` tasks in flight so that
"running" means running, and cancels them on Ctrl-C (each resumes from its last epoch checkpoint
next time). A task returns its record, and the sweep writes it here too, so the records arrive even
when the workers do not share this machine's disk; share `--runs-dir` too if crashed runs should
resume on another node.
"""

from __future__ import annotations

import logging
import time

from bench.core import records
from bench.errors import BenchError
from bench.infra.interrupt import StopFlag
from bench.sweep.executors import one_line, require
from bench.sweep.job import Job, finished, run_job
from bench.sweep.monitor import Monitor


def ray_task(job_json: str) -> dict:
    """What a Ray worker runs: the shared job function, logging to the run's log file."""
    result = run_job(Job.from_json(job_json), capture=True)
    return {"status": result["status"], "content": result["content"], "seconds": result.get("seconds")}


class RayExecutor:
    def __init__(self, address: str | None, jobs: int | None, cpus_per_task: int, local_cpus: int):
        self.address = address
        self.jobs = jobs
        self.cpus_per_task = max(1, cpus_per_task)
        self.local_cpus = local_cpus

    def run(self, jobs: list[Job], monitor: Monitor, stop: StopFlag) -> None:
        ray = require("ray")
        try:
            if self.address:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:  # ConnectionError, RuntimeError, ...: Ray's own message says why
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise BenchError(f"cannot start or reach {where}: {one_line(str(exc))}") from None
        try:
            self._run(ray, jobs, monitor, stop)
        finally:
            ray.shutdown()  # stops the instance started here; only disconnects from an existing cluster

    def _run(self, ray, jobs: list[Job], monitor: Monitor, stop: StopFlag) -> None:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        capacity = gpus if gpus else max(1, int(resources.get("CPU", 1)) // self.cpus_per_task)
        in_flight_cap = min(self.jobs or capacity, capacity) if not self.address else (self.jobs or capacity)
        task = ray.remote(ray_task).options(num_cpus=self.cpus_per_task, num_gpus=1 if gpus else 0, max_retries=0)
        todo = list(jobs)
        in_flight: dict = {}
        starts: dict = {}
        while todo or in_flight:
            while todo and len(in_flight) < in_flight_cap and not stop.requested:
                job = todo.pop(0)
                ref = task.remote(job.to_json())
                in_flight[ref], starts[ref] = job, time.perf_counter()
                monitor.started(job)
            if stop.requested:
                for ref, job in in_flight.items():
                    ray.cancel(ref)
                    monitor.interrupted(job)
                for job in todo:
                    monitor.interrupted(job)
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                job = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    monitor.finished(job, error=one_line(f"{type(exc.cause).__name__}: {exc.cause}"))
                    continue
                except ray.exceptions.RayError as exc:  # the worker died (out of memory, node lost)
                    monitor.finished(job, error=one_line(str(exc)))
                    continue
                if finished(job.record) is None:  # the worker wrote it on a disk this machine does not see
                    records.write(result["content"], job.record)
                monitor.finished(job, seconds=time.perf_counter() - starts.pop(ref))
            monitor.tick()
