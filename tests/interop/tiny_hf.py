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


def word_tokenizer():
    """A word-level fast tokenizer over WORDS with <unk>, <s> and </s> (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                                eos_token="</s>")


def save_causal_llama(folder):
    """A LlamaForCausalLM folder with an untied head (its own lm_head.weight) and a tokenizer."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                      tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    word_tokenizer().save_pretrained(folder)


def save_causal_gpt2(folder):
    """A GPT2LMHeadModel folder whose head is tied to wte, and a tokenizer."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                     bos_token_id=1, eos_token_id=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    word_tokenizer().save_pretrained(folder)


def save_word_level_lms(root, text) -> None:
    """A GPT-2 (head tied to wte) and a Llama (untied head) causal-LM folder under ``root``, named ``gpt2`` and
    ``llama``, sharing a word-level tokenizer trained on the file ``text`` (<unk> = 0, <eos> = 1, the models' bos
    and eos)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([text.read_text()], trainers.WordLevelTrainer(special_tokens=["<unk>", "<eos>"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    vocab = fast.vocab_size
    configs = {"gpt2": transformers.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                               bos_token_id=1, eos_token_id=1),
               "llama": transformers.LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                 max_position_embeddings=64, tie_word_embeddings=False,
                                                 bos_token_id=1, eos_token_id=1)}
    for name, config in configs.items():
        torch.manual_seed(0)
        transformers.AutoModelForCausalLM.from_config(config).save_pretrained(root / name)
        fast.save_pretrained(root / name)
