"""Helpers: tiny random-weight Hugging Face models built from a config and saved to a temporary folder (no network)."""
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="interop needs transformers")

WORDS = ["the", "cat", "dog", "sat", "on", "mat", "a", "ran", "fast", "slow", "red", "blue"]


def save_bert(folder):
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)


def save_gpt2(folder):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    transformers.GPT2Model(config).save_pretrained(folder)


def perturb(model, std=0.1, seed=0):
    """Random trained-looking adapter weights (a zero-initialised adapter would hide mistakes)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=generator) * std)
    return model
