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

METRICS_FILE = "metrics.json"
LOG_FILE = "log.jsonl"


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    """Write ``records`` one JSON object per line, atomically (the whole file each time)."""
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def check_run_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> None:
    """TaskError if ``out_dir`` holds a finished run and ``overwrite`` is not set; changes nothing."""
    out = Path(out_dir)
    if (out / METRICS_FILE).exists() and not overwrite:
        raise TaskError(f"{out} already holds a finished run ({METRICS_FILE} exists)",
                        hint="choose another --out folder or pass --overwrite")


def prepare_run_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Create ``out_dir``; TaskError if it holds a finished run, unless ``overwrite``.

    With ``overwrite`` the old ``metrics.json`` and log are removed first, so
    the folder does not look finished until the new run writes its own.
    """
    check_run_dir(out_dir, overwrite)
    out = Path(out_dir)
    if (out / METRICS_FILE).exists():
        (out / METRICS_FILE).unlink()
        (out / LOG_FILE).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out
