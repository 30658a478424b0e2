"""Options live in configuration objects (ScoreConfig, SelectConfig, SearchConfig, TrainConfig,
GenerationConfig), not in long parameter lists: no function of adaptgraph takes more than 8 parameters,
and the three stage entry points at most 5."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "adaptgraph"
MOST, STAGE_MOST = 8, 5
STAGES = {"search", "score_edges", "select"}


def _signatures():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len(names) + bool(a.vararg) + bool(a.kwarg) - (names[:1] in (["self"], ["cls"]))
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", node.name, count


def test_no_function_takes_more_than_eight_parameters():
    assert [f"{where} ({n})" for where, _, n in _signatures() if n > MOST] == []


def test_the_stage_entry_points_take_at_most_five():
    found = {name: n for _, name, n in _signatures() if name in STAGES}
    assert set(found) == STAGES and all(n <= STAGE_MOST for n in found.values()), found
