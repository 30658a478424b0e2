"""Sentence-pair tasks: csv/jsonl with two text columns reach the model as one sequence with token types."""
import json

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import get_backbone, load_backbone
from adaptgraph.tasks import load_task
from adaptgraph.tasks.data import make_loader
from tiny_hf import transformers

pytestmark = pytest.mark.hf

PAIRS = [("the cat sat", "a cat sat on the mat", "yes"), ("the dog ran", "the dog sat", "no"),
         ("red mat", "a red mat", "yes"), ("blue dog", "a cat ran fast", "no")] * 5


def test_jsonl_pairs_become_tuples(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"premise": a + f" {i}", "hypothesis": b, "label": y}) + "\n"
                            for i, (a, b, y) in enumerate(PAIRS)))
    task = load_task(f"jsonl:{path}?text=premise&text2=hypothesis")
    text, label = task.examples("train")[0]
    assert isinstance(text, tuple) and len(text) == 2 and task.class_names == ("no", "yes")


def test_pairs_reach_a_bert_backbone_with_token_types(tmp_path, bert_dir):
    path = tmp_path / "pairs.csv"
    path.write_text("premise,hypothesis,label\n" + "".join(f"{a} {i},{b},{y}\n" for i, (a, b, y) in enumerate(PAIRS)))
    task = load_task(f"csv:{path}?text=premise&text2=hypothesis")
    bb = get_backbone(f"hf:{bert_dir}")
    assert bb.input_names == ("input_ids", "attention_mask", "token_type_ids")
    batch = next(iter(make_loader(task.examples("train"), bb, batch_size=4, max_length=32, shuffle=False)))
    ids, mask, types = batch.inputs
    assert types.max() == 1 and bool((types * (1 - mask)).eq(0).all())  # second texts typed 1, padding 0
    model = adaptgraph.compile(adaptgraph.loads(""), bb)
    reference = transformers.AutoModel.from_pretrained(bert_dir).eval()
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        assert torch.equal(model(*batch.inputs), want)


def test_zoo_hash_tokenizer_joins_a_pair():
    tokenizer = load_backbone("zoo:bert-tiny").tokenizer
    batch = tokenizer([("one two three", "four"), ("a", "b")], max_length=5)
    first = batch["input_ids"][0].tolist()
    assert len(first) == 5 and first[0] == 1 and first.count(2) == 2  # [CLS] one two [SEP] four [SEP] cut to 5
