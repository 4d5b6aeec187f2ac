"""Jobs run by worker processes on this machine (the standard library only).

Workers are started with ``spawn``: a fresh interpreter each, so no OpenMP thread pool or
model state is inherited from the driver. The driver gives each worker one input at a time
over a pipe, so it always knows which input a worker is running. Each worker loads the
model once and keeps it for its next inputs. A worker that dies (killed, out of memory, a
crash in native code) is replaced and its input tried again, up to ``retries`` more times,
then recorded as failed; the other inputs are not affected. When the driver stops (Ctrl-C,
SIGTERM) the workers get SIGTERM, which ends their input like an error (the temporary
output is removed); when the driver is killed outright, the workers see their pipe close
and exit after the input in hand.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from .inputs import Job
from .worker import Settings, run_job


def _serve(conn, settings: Settings) -> None:
    """A worker process: run the jobs received on ``conn`` until told to stop."""
    import warnings

    from ..cli import _show_warning

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle

    def _on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _on_term)
    warnings.showwarning = _show_warning
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the driver has gone
            return
        if job is None:
            return
        conn.send(run_job(job, settings))


def died_record(job: Job, reason: str) -> dict:
    """The record of an input whose worker died; the driver adds its own fields."""
    return {
        "input": job.input,
        "output": job.output,
        "kind": job.kind,
        "status": "failed",
        "frames": 0,
        "seconds": 0.0,
        "content_hash": None,
        "worker": None,
        "error": reason,
    }


class _Worker:
    def __init__(self, context, settings: Settings) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, settings), daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None

    def give(self, job: Job) -> None:
        self.job = job
        try:
            self.conn.send(job)
        except OSError:  # the worker has died: the driver's loop sees it and retries the job
            pass

    def close(self, terminate: bool) -> None:
        if terminate:
            if self.process.is_alive():
                self.process.terminate()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_local(
    jobs: Sequence[Job],
    settings: Settings,
    workers: int,
    on_record: Callable[[dict], None],
    retries: int = 1,
) -> None:
    """Run ``jobs`` on ``workers`` processes; ``on_record`` gets each record as it comes."""
    context = multiprocessing.get_context("spawn")
    queue = deque(jobs)
    attempts: dict[Job, int] = {}
    pool: list[_Worker] = []
    finished = False
    try:
        for _ in range(min(workers, len(queue))):
            worker = _Worker(context, settings)
            pool.append(worker)
            worker.give(queue.popleft())
        while any(w.job is not None for w in pool):
            busy = [w for w in pool if w.job is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for i, worker in enumerate(pool):
                if worker.job is None:
                    continue
                record = None
                try:
                    if worker.conn.poll():
                        record = worker.conn.recv()
                except (EOFError, OSError):
                    pass
                if record is not None:
                    worker.job = None
                    on_record(record)
                elif not worker.process.is_alive():
                    job = worker.job
                    attempts[job] = attempts.get(job, 0) + 1
                    if attempts[job] > retries:
                        on_record(
                            died_record(
                                job,
                                f"the worker process died {attempts[job]} times on this input "
                                f"(exit code {worker.process.exitcode}: killed, out of "
                                "memory, or a crash)",
                            )
                        )
                    else:
                        queue.appendleft(job)
                    worker.job = None
                    worker.close(terminate=True)
                    worker = pool[i] = _Worker(context, settings)
                else:
                    continue
                if queue:
                    worker.give(queue.popleft())
        finished = True
    finally:
        for worker in pool:
            worker.close(terminate=not finished)
