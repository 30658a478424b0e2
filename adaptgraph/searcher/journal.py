"""The run folder's manifest and append-only journal.

``manifest.json`` (written once, atomically) holds every setting that decides
what the search proposes and how trials train: the task and its data
fingerprint, the backbone, the strategy and its settings, the budget, the
training and fidelity settings, the seed. ``--resume`` refuses a folder whose
manifest differs, naming each difference; a folder whose search was stopped before it wrote its manifest
(no trial ran) is resumed by starting that search.

``journal.jsonl`` gets one JSON line per event, flushed and fsynced before the
search goes on: ``trial_started`` when a trial is handed to an executor, and
``trial_finished`` (the proposal, status, metrics, parameters, seconds, error)
when it ends. A kill can at worst cut the last line short; reading drops such a
line. On resume, trials with a ``trial_finished`` line are not run again.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional

from ..errors import SearchError
from ..fileio import (append_line, open_appender, parse_json, read_bytes, read_json, remove_file,
                      truncate_file, write_text_atomic)
from ..fileio.folder_claims import FolderClaim, claim_folder, made_for

FORMAT = "adaptgraph-search/2"  # /2: the manifest is a SearchConfig dump
MANIFEST, JOURNAL = "manifest.json", "journal.jsonl"
STARTED, FINISHED = "trial_started", "trial_finished"


class Journal:
    """Appends events to ``run_dir/journal.jsonl``; without a folder it only remembers them in memory."""

    def __init__(self, run_dir: Optional[Path], records: list[dict] = ()):
        self.run_dir = run_dir
        self.records = list(records)
        self._finished = {(r["stage"], r["trial"]): r for r in self.records if r.get("event") == FINISHED}
        self._file = None
        self._claim: Optional[FolderClaim] = None

    @classmethod
    def open(cls, run_dir, manifest: dict, resume: bool = False, inputs: dict = {}) -> "Journal":
        """Start a new run folder, or (``resume``) reopen one made with the same ``manifest``; the folder
        must be apart from ``inputs`` (see ``adaptgraph.fileio.input_paths``)."""
        if run_dir is None:
            if resume:
                raise SearchError("nothing to resume: no run folder was given", hint="pass --out DIR")
            return cls(None)
        run_dir = Path(run_dir)
        manifest = {"format": FORMAT, **manifest}
        if resume and not (run_dir / MANIFEST).exists():
            if made_for(run_dir) == "search" and not read_journal(run_dir / JOURNAL):
                resume = False  # a search stopped before its manifest ran nothing: resuming it is running it
            else:
                check_same_search(run_dir, manifest)  # says there is nothing to resume, before creating anything
        claim = claim_folder(run_dir, "search", inputs)  # held until close(): one search at a time per folder
        try:
            return cls._start(run_dir, manifest, resume, claim)
        except BaseException:
            claim.release(failed=True)
            raise

    @classmethod
    def _start(cls, run_dir: Path, manifest: dict, resume: bool, claim: FolderClaim) -> "Journal":
        if resume:
            check_same_search(run_dir, manifest)
            journal = cls(run_dir, read_journal(run_dir / JOURNAL, repair=True))
        elif read_journal(run_dir / JOURNAL, repair=True):  # a folder whose search never got to a trial is reused
            _refuse_second_search(run_dir, manifest)
        else:
            remove_file(run_dir / JOURNAL, SearchError)
            write_text_atomic(run_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            journal = cls(run_dir)
        journal._claim = claim
        return journal

    def finished(self, stage: str, trial: int) -> Optional[dict]:
        """The ``trial_finished`` record of a trial, if the journal has one."""
        return self._finished.get((stage, trial))

    def append(self, event: str, record: dict) -> None:
        """Add one event; on disk it is flushed and fsynced before this returns."""
        record = finite({"event": event, **record, "time": round(time.time(), 3)})
        self.records.append(record)
        if event == FINISHED:
            self._finished[(record["stage"], record["trial"])] = record
        if self.run_dir is None:
            return
        if self._file is None:  # never through a link planted as the journal
            self._file = open_appender(self.run_dir / JOURNAL, SearchError)
        append_line(self._file, json.dumps(record, sort_keys=True, allow_nan=False) + "\n", self.run_dir / JOURNAL,
                    SearchError)

    def close(self) -> None:
        """Close the journal file and unlock the run folder."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None


def read_journal(path: Path, repair: bool = False) -> list[dict]:
    """Every complete record of a journal; a cut-off last line is dropped. ``repair`` (only for the holder of
    the run folder's claim, ``Journal``): it is also cut from the file, so that the next record starts on a
    line of its own. A reader never writes: the line may be the one a running search is writing."""
    if not path.exists() and not path.is_symlink():
        return []
    raw = read_bytes(path, "journal", error=SearchError, what="the search journal")
    lines = raw.split(b"\n")
    records, good_bytes = [], 0
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        if not line.strip():
            good_bytes += len(line) + (0 if last else 1)
            continue
        try:
            record = parse_json(line, path, error=SearchError)
            if not isinstance(record, dict) or "event" not in record or last:
                raise ValueError("incomplete")
        except (ValueError, SearchError):
            if number >= len(lines) - 1 and (last or not lines[-1].strip()) and line.startswith(b"{"):
                break  # the line being written when the search was killed (a record starts with "{")
            raise SearchError(f"{path}:{number}: the journal is damaged (not a JSON record)",
                              hint="restore the file, or start a new search in another folder") from None
        records.append(record)
        good_bytes += len(line) + 1
    if repair and good_bytes < len(raw):
        truncate_file(path, good_bytes, SearchError)
    return records


def check_same_search(run_dir: Path, manifest: dict) -> None:
    """SearchError unless ``run_dir`` holds a search made with ``manifest``, naming every difference."""
    path = run_dir / MANIFEST
    if not path.exists():
        raise SearchError(f"nothing to resume: {run_dir} has no {MANIFEST}",
                          hint="start the search without --resume, or give the folder of an earlier search")
    before = read_json(path, error=SearchError, what="the manifest")
    if not isinstance(before, dict):
        raise SearchError(f"{path}: the manifest is not a JSON object", hint="start a new search in another folder")
    if before.get("format") != manifest.get("format"):
        raise SearchError(f"{run_dir} holds a search of format {before.get('format')!r}, written by an earlier "
                          f"version of adaptgraph; this version resumes only {manifest.get('format')!r}",
                          hint="start a new search in another --out folder")
    diffs = differences(before, manifest)
    if diffs:
        raise SearchError(f"{run_dir} holds a different search, so it cannot be resumed:\n  " + "\n  ".join(diffs),
                          hint="resume with the same settings, or start a new search in another --out folder")


def _refuse_second_search(run_dir: Path, manifest: dict) -> None:
    """SearchError for a new search in a folder whose search has trials: that one must stay resumable."""
    try:
        diffs = differences(read_json(run_dir / MANIFEST, error=SearchError), manifest)
    except (SearchError, AttributeError):
        diffs = []
    if not diffs:
        raise SearchError(f"{run_dir} already holds a search",
                          hint="add --resume to continue it, or choose another --out folder")
    raise SearchError(f"{run_dir} already holds a different search:\n  " + "\n  ".join(diffs),
                      hint="choose another --out folder (this one stays resumable with its own settings)")


def differences(before: dict, now: dict, prefix: str = "") -> list[str]:
    """One line per setting that differs, nested settings named by their path (``budget.adapters``)."""
    lines = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            lines += differences(old, new, f"{prefix}{key}.")
        else:
            lines.append(f"{prefix}{key}: {_show(old)} in the run folder, {_show(new)} now")
    return lines


def finite(value):
    """``value`` with NaN and infinities replaced by None (a diverged loss must not break the journal)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _show(value) -> str:
    return json.dumps(value, sort_keys=True) if value is not None else "(not set)"
