"""A compiled hf: model takes what its backbone's forward takes: model(**tokenizer(...)) works."""
import inspect
import pickle

import pytest
import torch

import adaptgraph
from tiny_hf import perturb, transformers

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def bert(bert_dir):
    spec = adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel encoder.layer.*.attention.self.query {{ rank = 2 }}')
    return perturb(adaptgraph.compile(spec))


def test_optional_inputs_are_those_the_model_treats_as_derived(bert_dir, gpt2_dir):
    from adaptgraph.backbones import load_backbone

    signatures = {ref: str(inspect.signature(load_backbone(f"hf:{d}").module.forward))
                  for ref, d in (("bert", bert_dir), ("gpt2", gpt2_dir))}
    assert signatures["bert"] == ("(input_ids, attention_mask, token_type_ids=<token_type_ids derived from input_ids>, "
                                  "position_ids=<position_ids derived from input_ids>)")
    # GPT-2 adds an embedding for any token types it is given: they are not optional, so not offered
    assert signatures["gpt2"] == "(input_ids, attention_mask, position_ids=<position_ids derived from input_ids>)"


def test_tokenizer_output_goes_in_as_keywords(bert, bert_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    reference = transformers.AutoModel.from_pretrained(bert_dir).eval()
    batch = tokenizer(["the cat sat", "a dog ran fast on the mat"], return_tensors="pt", padding=True)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    backbone_only = adaptgraph.compile(adaptgraph.loads(""), f"hf:{bert_dir}")
    with torch.no_grad():
        assert torch.equal(backbone_only(**batch), reference(**batch).last_hidden_state)
        assert torch.equal(bert(**batch), bert(batch["input_ids"], batch["attention_mask"]))


def test_sentence_pairs_use_token_types(bert, bert_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    reference = transformers.AutoModel.from_pretrained(bert_dir).eval()
    pairs = tokenizer(["the cat", "a dog"], ["sat on the mat", "ran"], return_tensors="pt", padding=True)
    assert pairs["token_type_ids"].max() == 1
    backbone_only = adaptgraph.compile(adaptgraph.loads(""), f"hf:{bert_dir}")
    with torch.no_grad():
        assert torch.equal(backbone_only(**pairs), reference(**pairs).last_hidden_state)
        assert not torch.equal(bert(**pairs), bert(pairs["input_ids"], pairs["attention_mask"]))


def test_compiled_model_pickles(bert, bert_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    batch = tokenizer(["the red cat", "blue"], return_tensors="pt", padding=True)
    again = pickle.loads(pickle.dumps(bert))
    with torch.no_grad():
        assert torch.equal(again(**batch), bert(**batch))
    assert again.adaptgraph.spec == bert.adaptgraph.spec
