"""The call shape every text backbone's tokenizer shares, and the two helpers behind it.

``tokenizer(texts, max_length)`` -> ``{"input_ids", "attention_mask"}``: LongTensors of
shape (B, T), right-padded to the longest text of the batch (not to a fixed length),
the mask 1 on real tokens. ``texts`` may also be sentence pairs ``[(first, second), ...]``:
both texts of a pair go into one sequence (``[CLS] first [SEP] second [SEP]``), and
tokenizers of models with token types add ``token_type_ids`` (0 for the first text, 1 for
the second). The zoo's ``HashTokenizer`` and the Hugging Face tokenizers
(``hf_tokenizers``) check their arguments and pad with these.
"""
from __future__ import annotations

import torch

from adaptgraph.errors import BackboneError


def pad_batch(ids: list[list[int]], pad_id: int, type_ids: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
    """Right-pad token id lists to the longest one; the mask is 1 on real tokens.

    With ``type_ids`` (one list per sequence), ``token_type_ids`` are padded with 0 alongside.
    """
    longest = max((len(seq) for seq in ids), default=0)
    input_ids = torch.full((len(ids), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), longest), dtype=torch.long)
    types = torch.zeros((len(ids), longest), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
        if type_ids is not None:
            types[row, : len(seq)] = torch.tensor(type_ids[row], dtype=torch.long)
    batch = {"input_ids": input_ids, "attention_mask": mask}
    return batch if type_ids is None else {**batch, "token_type_ids": types}


def is_pair(text: object) -> bool:
    """A sentence pair: a tuple or list of two strings."""
    return isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(t, str) for t in text)


def cut_pair(first: int, second: int, budget: int) -> tuple[int, int]:
    """Lengths of two texts cut to ``budget`` tokens together, the longer one first and the second on a
    tie (Hugging Face's ``longest_first``)."""
    while first + second > max(budget, 0):
        if first > second:
            first -= 1
        else:
            second -= 1
    return first, second


def checked_texts(texts, max_length: int) -> list:
    """The texts (strings, or all sentence pairs) as a list, after checking what a caller can get wrong."""
    if isinstance(texts, str) or not (all(isinstance(t, str) for t in texts) or all(is_pair(t) for t in texts)):
        raise BackboneError("a tokenizer takes a list of strings, or a list of sentence pairs (two strings each)",
                            hint='call tokenizer(["first text", "second text"], max_length=64) or '
                                 'tokenizer([("premise", "hypothesis")], max_length=64)')
    if max_length < 2:
        raise BackboneError(f"max_length must be at least 2 (room for [CLS] and [SEP]), not {max_length}",
                            hint="use max_length=64 or more for sentences")
    return list(texts)
