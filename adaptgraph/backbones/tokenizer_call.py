"""The call shape every text backbone's tokenizer shares, and the two helpers behind it.

``tokenizer(texts, max_length)`` -> ``{"input_ids", "attention_mask"}``: LongTensors of
shape (B, T), right-padded to the longest text of the batch (not to a fixed length),
the mask 1 on real tokens. The zoo's ``HashTokenizer`` and the Hugging Face tokenizers
(``hf_tokenizers``) check their arguments and pad with these.
"""
from __future__ import annotations

import torch

from adaptgraph.errors import BackboneError


def pad_batch(ids: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token id lists to the longest one; the mask is 1 on real tokens."""
    longest = max((len(seq) for seq in ids), default=0)
    input_ids = torch.full((len(ids), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), longest), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def checked_texts(texts, max_length: int) -> list[str]:
    """The texts as a list, after checking the arguments a caller can get wrong."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise BackboneError("a tokenizer takes a list of strings",
                            hint='call tokenizer(["first text", "second text"], max_length=64)')
    if max_length < 2:
        raise BackboneError(f"max_length must be at least 2 (room for [CLS] and [SEP]), not {max_length}",
                            hint="use max_length=64 or more for sentences")
    return list(texts)
