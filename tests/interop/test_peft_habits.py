"""PEFT habits in the language: `**` names targets by suffix at any depth; bare names get that pattern as a hint."""
import pytest

import adaptgraph
from adaptgraph.errors import PlanError
from adaptgraph.spec.edge_facts import natural_key

pytestmark = pytest.mark.hf


def _edges(spec_text, backbone):
    plan = adaptgraph.compile(adaptgraph.loads(spec_text), backbone).adaptgraph.plan
    return [(e.name, e.src.name, e.dst.name) for e in plan.edges]


def test_double_star_matches_a_suffix_at_any_depth(bert_dir):
    ref = f"hf:{bert_dir}"
    assert _edges("parallel **.query", ref) == _edges("parallel encoder.layer.*.attention.self.query", ref)
    assert [name for name, _, _ in _edges("parallel **.dense { rank = 2 }", ref)] == [
        "encoder_layer_0_attention_output_dense", "encoder_layer_0_intermediate_dense",
        "encoder_layer_0_output_dense", "encoder_layer_1_attention_output_dense",
        "encoder_layer_1_intermediate_dense", "encoder_layer_1_output_dense"]  # the pooler never runs: no port


def test_a_bare_name_suggests_the_suffix_pattern(bert_dir):
    with pytest.raises(PlanError) as e:
        adaptgraph.compile(adaptgraph.loads("parallel query"), f"hf:{bert_dir}")
    assert e.value.problems[0].hint == ("did you mean '**.query'? It names every module whose path ends in "
                                        "'.query' (2 here, e.g. 'encoder.layer.0.attention.self.query')")


def test_a_misspelled_suffix_pattern_gets_a_close_one(bert_dir):
    with pytest.raises(PlanError) as e:
        adaptgraph.compile(adaptgraph.loads("parallel **.qeury"), f"hf:{bert_dir}")
    assert e.value.problems[0].hint == "did you mean '**.query.in'?"


def test_bindings_sort_naturally_inside_dotted_values():
    values = ["layer.10.attn", "layer.9.attn", "layer.2.mlp", "layer.2.attn"]
    assert sorted(values, key=natural_key) == ["layer.2.attn", "layer.2.mlp", "layer.9.attn", "layer.10.attn"]
