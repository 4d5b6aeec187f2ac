"""Jobs run as Ray tasks, on a cluster or on a local Ray instance (``pip install
"deblurcore[ray]"``).

One task per input, each asking Ray for ``threads`` CPUs (or one GPU with ``--device
cuda``), so Ray places as many tasks on a node as its cores (GPUs) allow. A task whose
worker process or node dies is run again by Ray (``max_retries``); an error in the input
itself is not retried: the task returns a ``failed`` record. Ray reuses its worker
processes, so each keeps the model it loaded for the following tasks. Paths (inputs,
weights, OUT_DIR) are passed as they are: they must name the same files on every node
(a shared file system). The driver collects the records as tasks finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .inputs import Job
from .local import died_record
from .worker import Settings, run_job


def import_ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            'running on Ray needs the ray package: pip install "deblurcore[ray]"'
        ) from None
    return ray


def _task(job: Job, settings: Settings) -> dict:
    return run_job(job, settings)


def run_on_ray(
    jobs: Sequence[Job],
    settings: Settings,
    address: str | None,
    on_record: Callable[[dict], None],
    max_in_flight: int | None = None,
    retries: int = 3,
) -> None:
    """Run ``jobs`` as Ray tasks; ``address`` as for ``ray.init`` (None: ``RAY_ADDRESS`` or
    a new local instance). An already initialised Ray (``ray.init`` called by the caller)
    is used as it is. ``max_in_flight`` caps the tasks submitted at once (None: all)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True, configure_logging=False)
        started = True
    resources = {"num_cpus": settings.threads or 1}
    if settings.device == "cuda":
        resources = {"num_cpus": 1, "num_gpus": 1}
    remote = ray.remote(_task).options(max_retries=retries, **resources)
    queue = list(reversed(jobs))
    running: dict = {}
    limit = max_in_flight or len(queue)
    try:
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop()
                running[remote.remote(job, settings)] = job
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job = running.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = " ".join(str(exc).split())[:300]
                    record = died_record(
                        job, f"the Ray task failed after {retries} retries: {reason}"
                    )
                on_record(record)
    except BaseException:
        for ref in running:
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
        raise
    finally:
        if started:
            ray.shutdown()
