"""Every python block of docs/api.md runs, and prints what its comments say."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_api_example_runs(index):
    code = BLOCKS[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"docs/api.md[block {index}]", "exec"), {"__name__": "docs_example"})
    printed = out.getvalue().splitlines()
    claimed = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s+# (.*)$", code, re.M)]
    prints = [line for line in code.splitlines() if line.lstrip().startswith("print(")]
    for line, text in zip(printed, [_claim(p) for p in prints]):
        if text is not None:
            assert line == text.split(":")[0].strip() if text.startswith(("True", "False")) else line == text
    assert len(printed) >= len(claimed)


def _claim(print_line: str):
    m = re.search(r"#\s*(.*)$", print_line)
    return m.group(1).strip() if m else None
