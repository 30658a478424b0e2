"""Output files written so that an interrupted run never leaves one that looks complete.

Every file is written to a temporary name in the same folder and then moved
over its final name with ``os.replace`` (atomic on POSIX). ``metrics.json`` is
written last and marks a finished run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..errors import TaskError
from ..fileio import parse_json, read_bytes, validate_model, write_text_atomic
from ..fileio.set_aside import drop_aside, give_back, set_aside
from ..fileio.folder_claims import FolderClaim, check_folder, claim_folder

METRICS_FILE = "metrics.json"
ADAPTERS_FILE = "adapters.safetensors"
SPEC_FILE = "spec.adapt"
LOG_FILE = "log.jsonl"


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")  # NaN is no JSON


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    """Write ``records`` one JSON object per line, atomically (the whole file each time)."""
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records))


METRICS_KEYS = {"task": str, "task_fingerprint": str, "num_classes": int, "config": dict}  # what evaluating reads


class MetricsFile(BaseModel):
    """What evaluating a run reads of its ``metrics.json``, with bounds; the rest passes through."""

    model_config = ConfigDict(extra="allow")

    task: Annotated[StrictStr, Field(max_length=10_000)]
    task_fingerprint: Annotated[StrictStr, Field(max_length=1000)]
    num_classes: Annotated[StrictInt, Field(ge=0, le=1 << 24)]
    config: dict


def read_metrics(path: str | os.PathLike) -> dict:
    """A finished run's ``metrics.json``, checked for what evaluating the run again reads; TaskError otherwise."""
    from .config import TrainConfig  # pydantic, only needed here

    hint = "the run folder was changed after training; train the run again (adaptgraph train ... --overwrite)"
    raw = read_bytes(path, "json", error=TaskError, what="the metrics file")  # bounded, regular files only
    data = parse_json(raw, path, error=TaskError, hint=hint)  # the door's strict parser: no NaN, no key twice
    bad = [k for k, kind in METRICS_KEYS.items() if not isinstance(data, dict) or type(data.get(k)) is not kind]
    if bad:
        raise TaskError(f"{path}: metrics.json lacks a well-formed {', '.join(bad)}", hint=hint)
    validate_model(MetricsFile, data, path, error=TaskError, hint=hint)
    try:
        TrainConfig(**data["config"])
    except (TypeError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        raise TaskError(f"{path}: its training config is not valid ({str(e).splitlines()[0][:200]})",
                        hint=hint) from None
    return data


def check_run_dir(out_dir: str | os.PathLike, overwrite: bool = False, inputs: dict = {}) -> None:
    """Error unless ``out_dir`` may take a training run; changes nothing.

    RunFolderError when it holds files adaptgraph did not write or another kind of run
    (``adaptgraph.fileio.folder_claims``); TaskError when it holds a finished run and ``overwrite`` is not set.
    """
    check_folder(out_dir, "train", inputs)
    out = Path(out_dir)
    if (out / METRICS_FILE).exists() and not overwrite:
        raise TaskError(f"{out} already holds a finished run ({METRICS_FILE} exists)",
                        hint="choose another --out folder or pass --overwrite")


def prepare_run_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> FolderClaim:
    """Create and lock ``out_dir`` for this process (see ``check_run_dir`` for what is refused).

    With ``overwrite`` the finished run's files are set aside first (``PREVIOUS_RUN``), so the folder does
    not look finished until the new run writes its own, and a new run that fails gives them back
    (``restore_previous_run``); one that finishes drops them (``drop_previous_run``). A run killed meanwhile
    leaves them aside: the next claim of the folder gives them back. Release the returned claim when done.
    """
    claim = claim_folder(out_dir, "train")
    try:
        restore_previous_run(claim.path)  # a run killed while overwriting: the finished one it replaced is back
        check_run_dir(out_dir, overwrite)  # again under the lock: a run may have finished meanwhile
        if (claim.path / METRICS_FILE).exists():
            set_aside_previous_run(claim.path)
    except BaseException:
        claim.release(failed=True)
        raise
    return claim


PREVIOUS_RUN = ".previous-run-adaptgraph"
"""Where ``--overwrite`` keeps the finished run's files until the new run has finished."""
RUN_FILES = (ADAPTERS_FILE, SPEC_FILE, LOG_FILE, METRICS_FILE)  # metrics.json last: it marks a whole run


def set_aside_previous_run(out: Path) -> None:
    """Move the finished run's files into ``out/PREVIOUS_RUN``, ``metrics.json`` first."""
    set_aside(out, PREVIOUS_RUN, RUN_FILES[::-1], TaskError, "cannot set the finished run aside for --overwrite")


def restore_previous_run(out: Path) -> None:
    """Give back the files ``set_aside_previous_run`` kept, over what the failed new run wrote, ``metrics.json``
    last; nothing to do when none were kept."""
    give_back(out, PREVIOUS_RUN, RUN_FILES, TaskError, "cannot give the finished run back after the new one failed")


def drop_previous_run(out: Path) -> None:
    """The new run has finished: the one it replaced is removed."""
    drop_aside(out, PREVIOUS_RUN)
