"""The spec layer and `adaptgraph check` stay light: neither imports torch (nor transformers).

Each check runs in a fresh interpreter, so that nothing imported by other tests counts.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("module", ["adaptgraph.spec", "adaptgraph"])
def test_importing_does_not_import_torch(module: str):
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = _run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"`import {module}` imported {proc.stdout.strip()}"


def _imported_modules(importtime_log: str) -> set[str]:
    """Module names from `python -X importtime` output (`import time: self | cumulative | name`)."""
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_log.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_check_command_does_not_import_torch():
    specs = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("specs/*.adapt"))
    assert specs
    proc = _run("-X", "importtime", "-m", "adaptgraph", "check", *specs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = _imported_modules(proc.stderr)
    assert "adaptgraph.spec" in imported  # the log is what we think it is
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, f"`adaptgraph check` imported {heavy[:5]}"
