"""Output files written so that an interrupted run never leaves one that looks complete.

Every file is written to a temporary name in the same folder and then moved
over its final name with ``os.replace`` (atomic on POSIX). ``metrics.json`` is
written last and marks a finished run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import TaskError
from ..fileio import write_text_atomic
from ..out_folder import FolderClaim, check_folder, claim_folder

METRICS_FILE = "metrics.json"
LOG_FILE = "log.jsonl"


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")  # NaN is no JSON


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    """Write ``records`` one JSON object per line, atomically (the whole file each time)."""
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records))


def check_run_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> None:
    """Error unless ``out_dir`` may take a training run; changes nothing.

    RunFolderError when it holds files adaptgraph did not write or another kind of run
    (``adaptgraph.out_folder``); TaskError when it holds a finished run and ``overwrite`` is not set.
    """
    check_folder(out_dir, "train")
    out = Path(out_dir)
    if (out / METRICS_FILE).exists() and not overwrite:
        raise TaskError(f"{out} already holds a finished run ({METRICS_FILE} exists)",
                        hint="choose another --out folder or pass --overwrite")


def prepare_run_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> FolderClaim:
    """Create and lock ``out_dir`` for this process (see ``check_run_dir`` for what is refused).

    With ``overwrite`` the old ``metrics.json`` and log are removed first, so the folder does
    not look finished until the new run writes its own. Release the returned claim when done.
    """
    claim = claim_folder(out_dir, "train")
    try:
        check_run_dir(out_dir, overwrite)  # again under the lock: a run may have finished meanwhile
        out = claim.path
        if (out / METRICS_FILE).exists():
            (out / METRICS_FILE).unlink()
            (out / LOG_FILE).unlink(missing_ok=True)
    except BaseException:
        claim.release()
        raise
    return claim
