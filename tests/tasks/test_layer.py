"""``adaptgraph.tasks`` sits below ``score`` and ``train``: scoring needs tasks, data and heads, not training."""
import subprocess
import sys


def loaded_after(module: str) -> set[str]:
    # a fresh interpreter, so that modules other tests imported do not count
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('adaptgraph.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_scoring_does_not_load_training():
    loaded = loaded_after("adaptgraph.score.scoring")  # the package itself loads its torch parts lazily
    assert "adaptgraph.tasks" in loaded and not {m for m in loaded if m == "adaptgraph.train" or m.startswith("adaptgraph.train.")}


def test_tasks_load_neither_scoring_nor_training():
    loaded = loaded_after("adaptgraph.tasks")
    assert not {m for m in loaded if m.startswith(("adaptgraph.train", "adaptgraph.score"))}
