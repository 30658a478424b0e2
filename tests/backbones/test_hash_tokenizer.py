"""The zoo's deterministic tokenizer: golden ids, dynamic padding, truncation, errors."""
import pytest
import torch

from adaptgraph.backbones.hash_tokenizer import CLS_ID, PAD_ID, SEP_ID, HashTokenizer
from adaptgraph.errors import BackboneError


def test_golden_ids_and_dynamic_padding():
    batch = HashTokenizer()(["Hello, world!", "the cat sat on the mat"], max_length=16)
    assert batch["input_ids"].tolist() == [
        [1, 686, 150, 19, 183, 2, 0, 0],
        [1, 58, 428, 964, 544, 58, 850, 2],
    ]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 0, 0], [1] * 8]
    assert batch["input_ids"].dtype == batch["attention_mask"].dtype == torch.long


def test_pads_to_longest_text_not_to_max_length():
    batch = HashTokenizer()(["a b", "c"], max_length=128)
    assert batch["input_ids"].shape == (2, 4)
    assert batch["input_ids"][1].tolist() == [CLS_ID, HashTokenizer().word_id("c"), SEP_ID, PAD_ID]


def test_truncates_to_max_length_keeping_sep():
    ids = HashTokenizer()(["one two three four five"], max_length=4)["input_ids"]
    assert ids.tolist() == [[1, 513, 118, 2]]


def test_lower_cases_and_stays_in_vocab():
    tok = HashTokenizer(vocab_size=50)
    assert tok.encode("Cat CAT cat") == [CLS_ID] + [tok.word_id("cat")] * 3 + [SEP_ID]
    ids = tok([" ".join(f"w{i}" for i in range(300))], max_length=512)["input_ids"]
    assert int(ids.max()) < 50 and int(ids[0, 1:-1].min()) >= 4


def test_empty_text_is_cls_sep():
    assert HashTokenizer()([""], max_length=8)["input_ids"].tolist() == [[CLS_ID, SEP_ID]]


def test_refuses_a_bare_string():
    with pytest.raises(BackboneError) as err:
        HashTokenizer()("just one text", max_length=8)
    assert str(err.value) == ('error: a tokenizer takes a list of strings, or a list of sentence pairs '
                              '(two strings each)\n    hint: call tokenizer(["first text", "second text"], '
                              'max_length=64) or tokenizer([("premise", "hypothesis")], max_length=64)')


def test_refuses_max_length_below_two():
    with pytest.raises(BackboneError) as err:
        HashTokenizer()(["x"], max_length=1)
    assert str(err.value) == ("error: max_length must be at least 2 (room for [CLS] and [SEP]), not 1\n"
                              "    hint: use max_length=64 or more for sentences")
