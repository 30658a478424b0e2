"""ScoreConfig and SelectConfig: strict, frozen, the one home of their defaults, documented field by field."""
import ast
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from adaptgraph.errors import UsageError
from adaptgraph.score import ScoreConfig, SelectConfig
from adaptgraph.score.config import user_config
from adaptgraph.spec.models import BUILTIN_OPTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


@pytest.mark.parametrize("cls", [ScoreConfig, SelectConfig])
def test_the_docs_table_lists_every_field_with_its_default(cls):
    rows = re.findall(rf"^\| `(\w+)` \| `([^`]*)` \|", DOC.read_text().split(f"| `{cls.__name__}` field |")[1]
                      .split("\n\n")[0], re.M)
    documented = {name: ast.literal_eval(default) for name, default in rows}
    assert documented == {name: f.default for name, f in cls.model_fields.items()}
    assert all(f.description for f in cls.model_fields.values())


def test_strict_and_frozen():
    with pytest.raises(ValidationError, match="batches"):
        ScoreConfig(batches=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        ScoreConfig(batchs=2)
    with pytest.raises(ValidationError, match="frozen"):
        SelectConfig().k = 3
    assert SelectConfig().rank == BUILTIN_OPTIONS.rank  # the spec language's default rank, not a copy of it
    assert ScoreConfig(points=["@0", "@1"]).points == ("@0", "@1")


def test_user_values_give_one_usage_error_naming_each_field():
    with pytest.raises(UsageError) as e:
        user_config(ScoreConfig, {"batches": 0, "tokens_per_batch": -1})
    text = str(e.value)
    assert "batches" in text and "tokens_per_batch" in text
