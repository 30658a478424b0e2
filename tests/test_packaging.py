"""The wheel ships the grammar (its one copy lives in grammar/, linked as adaptgraph/grammar)
and the spec layer finds it when imported from the unpacked wheel, not from the checkout."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR_IN_WHEEL = "adaptgraph/grammar/adapt.lark"


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so that the checkout gets no build/ or egg-info."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "adaptgraph", src / "adaptgraph", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "grammar", src / "grammar", ignore=ignore)
    # --skip-dependency-check: setuptools builds wheels itself; the `wheel` package is not needed
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check",
                           "--outdir", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list((tmp_path / "dist").glob("adaptgraph-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_grammar_is_one_file_linked_into_the_package():
    link = ROOT / "adaptgraph" / "grammar"
    assert link.is_symlink() and link.resolve() == (ROOT / "grammar").resolve()
    assert (ROOT / "grammar" / "adapt.lark").is_file()


def test_wheel_holds_the_grammar_and_loads_it_from_the_wheel(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert GRAMMAR_IN_WHEEL in names
        shipped = zf.read(GRAMMAR_IN_WHEEL).decode("utf-8")
        assert "adaptgraph/spec/api.py" in names
        zf.extractall(tmp_path / "unpacked")
    assert shipped == (ROOT / "grammar" / "adapt.lark").read_text(encoding="utf-8")
    code = (
        "import adaptgraph, adaptgraph.spec as S\n"
        "from adaptgraph.spec.syntax import grammar_text\n"
        "print(adaptgraph.__file__)\n"
        "assert 'start:' in grammar_text()\n"
        "spec = S.loads('parallel blocks.0.attn\\nfor i in 0..1 {\\n  edge @{i} -> @{i+2}\\n}\\n')\n"
        "print(len(spec.expanded()))\n"
    )
    # cwd is the unpacked wheel, so that neither the checkout nor an editable install is found first
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path / "unpacked", env={"PYTHONPATH": str(tmp_path / "unpacked"), "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, edges = proc.stdout.split()
    assert Path(where).resolve().is_relative_to((tmp_path / "unpacked").resolve())
    assert edges == "3"
