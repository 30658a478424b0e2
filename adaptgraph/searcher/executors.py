"""Executors run a round of trials and report each one as it finishes.

* ``local``: one after the other, in this process (the default; needs nothing more).
* ``process``: ``workers`` long-lived worker processes on this machine (from a fork
  server, or spawned, so CUDA and threads are safe). Each worker keeps its backbone and task loaded
  between trials. A worker that dies (a crash, the kernel's OOM killer) is
  replaced, and its trial is retried once, then recorded as failed.
* ``ray``: Ray tasks on a cluster (``adaptgraph.searcher.ray_executor``).

All of them call the same pure trial function, so they give the same results.
``on_done`` may return more tasks (a multi-fidelity search promotes a spec as soon as
its trial finishes): they join the queue at once, so workers never wait for a round.
"""
from __future__ import annotations

import collections
import multiprocessing
import signal
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from typing import Callable, Optional, Protocol, Sequence

from ..errors import SearchError
from ..registry import Registry
from .records import TrialOutcome
from .trial import TrainedTrial, TrialTask, run_trial

MAX_ATTEMPTS = 2  # a crashed worker's trial is retried once
WORKERS = 2  # worker processes of the process executor by default

Done = Callable[[TrainedTrial], Optional[Sequence[TrialTask]]]


class Executor(Protocol):
    """Runs trials; ``on_done`` is called in this process once per trial, in the order they finish, and the
    tasks it returns (if any) are run too."""

    name: str

    def run(self, tasks: Sequence[TrialTask], on_done: Done) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Trials one after the other, in this process."""

    name = "local"

    def __init__(self, fn: Callable[[TrialTask], TrainedTrial] = run_trial):
        self.fn = fn

    def run(self, tasks: Sequence[TrialTask], on_done: Done) -> None:
        queue = collections.deque(tasks)
        while queue:
            queue.extend(on_done(self.fn(queue.popleft())) or ())

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: object  # the parent's end of the pipe
    job: Optional[tuple[TrialTask, int]] = None  # (task, attempt) while busy


class ProcessExecutor:
    """``workers`` spawned processes; see the module docstring for crashes."""

    name = "process"

    def __init__(self, workers: int = WORKERS, fn: Callable[[TrialTask], TrainedTrial] = run_trial):
        if workers < 1:
            raise SearchError(f"the process executor needs at least 1 worker, got {workers}")
        self.workers, self.fn = workers, fn
        self._context = worker_context()
        self._pool: list[_Worker] = []

    def run(self, tasks: Sequence[TrialTask], on_done: Done) -> None:
        queue = collections.deque((t, 1) for t in tasks)
        while queue or any(w.job for w in self._pool):
            self._assign(queue)
            busy = [w for w in self._pool if w.job]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                self._collect(worker, queue, on_done)

    def _assign(self, queue) -> None:
        while queue:
            idle = next((w for w in self._pool if w.job is None), None)
            if idle is None and len(self._pool) < self.workers:
                idle = self._start()
            if idle is None:
                return
            job = queue.popleft()
            idle.conn.send(job[0])
            idle.job = job

    def _collect(self, worker: _Worker, queue, on_done: Done) -> None:
        task, attempt = worker.job
        if worker.conn.poll():
            try:
                result = worker.conn.recv()
            except (EOFError, OSError):
                result = None
            if result is not None:
                worker.job = None
                more = on_done(TrainedTrial(replace(result.outcome, attempts=attempt), result.weights))
                queue.extend((t, 1) for t in more or ())
                return
        if worker.process.is_alive():
            return
        code = worker.process.exitcode
        self._pool.remove(worker)
        worker.conn.close()
        if attempt < MAX_ATTEMPTS:
            queue.appendleft((task, attempt + 1))
        else:
            more = on_done(TrainedTrial(crashed(task, f"the worker process died (exit code {code}) on each of "
                                                      f"{attempt} attempts", attempt)))
            queue.extend((t, 1) for t in more or ())

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.fn), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._pool.append(worker)
        return worker

    def close(self) -> None:
        for worker in self._pool:
            try:
                worker.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for worker in self._pool:
            worker.process.join(timeout=5 if worker.job is None else 0.1)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._pool = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def worker_context():
    """``forkserver`` where the platform has it, else ``spawn``: never a plain fork of a process that may
    hold CUDA state or threads. The fork server imports torch and adaptgraph once, so a new worker (also
    one that replaces a crashed worker) starts in milliseconds rather than seconds."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["adaptgraph.searcher.trial", "adaptgraph.compiler", "adaptgraph.train"])
        return context
    return multiprocessing.get_context("spawn")


def _serve(conn, fn) -> None:
    """A worker's loop: run each task it is sent until told to stop (``None``) or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers itself
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(fn(task))


def crashed(task: TrialTask, why: str, attempts: int) -> TrialOutcome:
    """The failed outcome of a trial whose worker died."""
    return TrialOutcome(task.trial, task.stage, "failed", error=f"WorkerCrashed: {why}", attempts=attempts)


def _ray(address: Optional[str] = None, cpus_per_trial: Optional[float] = None,
         gpus_per_trial: Optional[float] = None) -> Executor:
    from .ray_executor import RayExecutor  # ray is an optional extra: imported only when asked for

    return RayExecutor(address=address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)


# executor kind -> factory called with its options (``config.RayExecution`` etc. say which a kind has)
EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor", SearchError)
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("process", ProcessExecutor)
EXECUTORS.register("ray", _ray)


def make_executor(name: str, **options) -> Executor:
    """An executor by name, made with ``options`` (a ``SearchConfig``'s executor checks which it has)."""
    return EXECUTORS.lookup(name)(**options)
