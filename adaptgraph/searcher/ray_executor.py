"""The ``ray`` executor: each trial is a Ray task, on a local instance or a cluster.

``address`` is passed to ``ray.init`` (``auto`` joins a running cluster,
``HOST:PORT`` a given one). ``None`` always starts a new local instance owned by
this executor, even when a cluster is already running on the machine (plain
``ray.init()`` would silently join that cluster); to use a running cluster say
``auto``. If Ray is already initialised in this process, that instance is used.
Each trial asks for ``cpus_per_trial`` CPUs and ``gpus_per_trial`` GPUs; by default one GPU when the cluster has any.
Ray retries a task once when its worker dies; after that the trial is recorded
as failed. Workers need adaptgraph (and the backbone's packages) installed,
and any data file a task reference names at the same path.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence

from ..errors import SearchError
from ..fileio.oserrors import describe_os_error, disk_nearly_full, library_os_error
from .executors import MAX_ATTEMPTS, Done, crashed
from .trial import TrainedTrial, TrialTask, run_trial


class RayExecutor:
    """Trials as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(self, address: Optional[str] = None, cpus_per_trial: Optional[float] = None,
                 gpus_per_trial: Optional[float] = None, fn: Callable[[TrialTask], TrainedTrial] = run_trial):
        self.address, self.fn = address, fn
        self.cpus_per_trial = 1.0 if cpus_per_trial is None else cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self._owns = False
        self._remote = None

    def run(self, tasks: Sequence[TrialTask], on_done: Done) -> None:
        ray = _ray()
        remote = self._remote_fn(ray)
        running = {remote.remote(task): task for task in tasks}
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                task = running.pop(ref)
                try:
                    trained = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died on both attempts, or Ray failed
                    trained = TrainedTrial(crashed(task, f"the Ray task failed: {type(e).__name__}: "
                                                         f"{str(e).splitlines()[0] if str(e) else ''}", MAX_ATTEMPTS))
                running.update({remote.remote(t): t for t in on_done(trained) or ()})

    def _remote_fn(self, ray):
        if self._remote is None:
            if not ray.is_initialized():
                # "local" and not None: None makes Ray join a cluster it finds on the machine
                try:
                    ray.init(address=self.address or "local", include_dashboard=False, log_to_driver=False)
                except Exception as e:  # noqa: BLE001 - Ray could not start or connect: the environment's, not a bug
                    raise start_error(e, local=self.address in (None, "local")) from None
                self._owns = True
            gpus = self.gpus_per_trial
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
            self._remote = ray.remote(self.fn).options(num_cpus=self.cpus_per_trial, num_gpus=gpus,
                                                       max_retries=MAX_ATTEMPTS - 1, retry_exceptions=False)
        return self._remote

    def close(self) -> None:
        if self._owns:
            _ray().shutdown()
            self._owns = False
        self._remote = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_error(e: Exception, local: bool) -> SearchError:
    """``ray.init``'s failure as one line. A local instance on a full disk is named as such: Ray's server
    cannot write into its session folder, and after 30 s Ray raised only "RuntimeError: Timed out waiting
    for file ...", which the command line reported as an internal error (exit 3)."""
    folder = ray_temp_dir()
    refused = library_os_error(e) or (disk_nearly_full(folder) if local else None)
    said = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"
    if refused is not None:
        reason, hint = describe_os_error(refused)
        return SearchError(f"{folder}: cannot start Ray ({reason}; Ray said {said})",
                           hint=f"{hint}: Ray keeps its session files in $RAY_TMPDIR/ray, else $TMPDIR/ray")
    return SearchError(f"cannot start Ray ({said})",
                       hint="check the Ray address and installation, or use --executor process")


def ray_temp_dir() -> str:
    """The folder a local Ray instance writes its sessions into (Ray's own rule)."""
    try:
        from ray._common.utils import get_default_ray_temp_dir
        return get_default_ray_temp_dir()
    except (ImportError, AttributeError):  # another Ray version: the same rule, written out
        base = os.environ.get("RAY_TMPDIR") or (os.environ.get("TMPDIR") if sys.platform.startswith("linux") else None)
        return os.path.join(base or "/tmp", "ray")


def _ray():
    try:
        import ray
    except ImportError:
        raise SearchError("the ray executor needs Ray, which is not installed",
                          hint="pip install 'adaptgraph[ray]', or use --executor process") from None
    return ray
