"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc-per-node N ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`start` then joins the process group (gloo on CPU, nccl
on CUDA). Without those variables everything runs in one process and no
group is created. Only rank 0 writes files; metrics are summed across ranks.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place in the group; ``owns_group`` when :func:`start` created it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
_MAX_PROCESSES = 1 << 20


def launch() -> tuple[int, int, int]:
    """``(RANK, WORLD_SIZE, LOCAL_RANK)`` from the environment; ``(0, 1, 0)`` for a lone process.

    torchrun sets whole numbers with ``RANK < WORLD_SIZE``; anything else (a stale ``RANK=1`` left in a
    shell, ``RANK=abc``) is a UsageError here, once for every reader: it was an internal error
    (``int('abc')``), or a lone process that believed it was rank 1 trained and skipped writing some of
    its run folder."""
    from ..errors import UsageError

    values = []
    for name, default in zip(LAUNCH_VARIABLES, (0, 1, 0)):
        raw = os.environ.get(name)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) < _MAX_PROCESSES):
            raise UsageError(f"{name}={raw[:40]!r} is not a whole number (torchrun sets RANK, WORLD_SIZE and "
                             "LOCAL_RANK to whole numbers)", hint=_LAUNCH_HINT)
        values.append(default if raw is None else int(raw))
    rank, world, local = values
    if world < 1 or rank >= world or local >= world:
        shown = ", ".join(f"{n}={os.environ.get(n, '(unset)')}" for n in LAUNCH_VARIABLES)
        raise UsageError(f"{shown} do not describe a process group: torchrun sets RANK and LOCAL_RANK below "
                         "WORLD_SIZE", hint=_LAUNCH_HINT)
    return rank, world, local


_LAUNCH_HINT = ("start the command with torchrun, or unset the variables to run in one process "
                "(env -u RANK -u WORLD_SIZE -u LOCAL_RANK adaptgraph ...)")


def launched_by_torchrun() -> bool:
    """Whether the environment describes a group of more than one process (torchrun sets RANK too)."""
    return launch()[1] > 1 and "RANK" in os.environ


def is_main_process() -> bool:
    """Whether this process should write files: rank 0 of a torchrun group, or a lone process.

    Reads the environment, so it works before :func:`start` (e.g. in a command
    that writes files before training starts).
    """
    return launch()[0] == 0


def start(device_type: str) -> Dist:
    """Join (or reuse) the process group described by the environment; a one-process Dist otherwise."""
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), launch()[2])
    if not launched_by_torchrun():
        return Dist()
    backend = "nccl" if device_type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend=backend)
    except (ValueError, RuntimeError) as e:  # MASTER_ADDR unset, a port in use, a peer that never came
        from ..errors import TrainingError

        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TrainingError(f"cannot join the torchrun process group: {reason}", hint=_LAUNCH_HINT) from None
    return Dist(dist.get_rank(), dist.get_world_size(), launch()[2], owns_group=True)


def current() -> Dist:
    """The group this process is in now, without creating one."""
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), launch()[2])
    return Dist()


def place(device: torch.device, group: Dist) -> torch.device:
    """One GPU per process: CUDA ranks use ``cuda:LOCAL_RANK`` unless a device index was given."""
    if device.type == "cuda" and group.active and device.index is None:
        device = torch.device("cuda", group.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


# Tensors this process gave to collectives, kept until the collectives have let go of them. A gloo
# worker thread may drop its last reference to a finished collective (or to a barrier that still
# holds one) after Python dropped its own; the tensor's Python object then dies on that thread, which
# must take the GIL. Once the interpreter is finalizing, taking the GIL ends the thread from inside a
# noexcept destructor and the process aborts ("terminate called without an active exception", about
# 1 in 100 torchrun runs on a loaded machine; core dump: ProcessGroupGloo::runLoop ->
# ~AsyncBarrierWork -> ~AsyncAllreduceWork -> decref_pyobject -> take_gil). While Python still holds
# the tensor, the worker thread's release needs no GIL, so the exit stays clean.
_given: list[torch.Tensor] = []
RELEASE_WAIT_SECONDS = 5.0


def _release_given() -> None:
    """Drop ``_given`` once no collective holds any of them (use count 1: Python's own); if they are
    still held after ``RELEASE_WAIT_SECONDS``, keep them: a few small tensors against an abort."""
    if not _given or not hasattr(_given[0], "_use_count"):  # a torch that cannot tell: keep them
        return
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if all(t._use_count() == 1 for t in _given):
            _given.clear()
            return
        time.sleep(0.001)  # lets the gloo threads take the CPU, and the GIL if they still need it


def sum_across(values: list[float], group: Dist, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (in float64; the values themselves when alone)."""
    if not group.active:
        return list(values)
    where = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=where)
    _given.append(tensor)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def barrier(group: Dist) -> None:
    """Wait for every rank (no-op alone)."""
    if group.active:
        dist.barrier()


def stop(group: Dist) -> None:
    """Leave the group if :func:`start` created it."""
    if group.owns_group and dist.is_initialized():
        dist.destroy_process_group()
        _release_given()
