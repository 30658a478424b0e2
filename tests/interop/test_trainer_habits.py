"""Hugging Face habits: Trainer's resume_from_checkpoint and load_best_model_at_end on a SequenceClassifier,
and PEFT's suffix targets that match modules the traced forward never calls."""
import json

import pytest
import torch
from safetensors.torch import load_file

import adaptgraph
from adaptgraph.backbones.hf_source import hf_folder, known_ref
from adaptgraph.interop import SequenceClassifier, import_peft
from adaptgraph.compiler.adapter_files import load_adapters
from tiny_hf import perturb, transformers

pytestmark = pytest.mark.hf

TEXTS = ["the cat sat", "a dog ran fast", "red mat", "the blue dog sat on a mat"] * 4


def _rows(tokenizer):
    return [{**{k: v[0] for k, v in tokenizer([t], return_tensors="pt").items()}, "labels": i % 2}
            for i, t in enumerate(TEXTS)]


def _classifier(bert_dir):
    model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel encoder.layer.*.attention.self.query'))
    return SequenceClassifier(model, num_labels=2)


def _trainer(classifier, tokenizer, out, **kw):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=str(out), max_steps=4, per_device_train_batch_size=4, learning_rate=1e-2,
                             save_steps=2, report_to=[], use_cpu=True, disable_tqdm=True, seed=0, **kw)
    rows = _rows(tokenizer)
    return Trainer(model=classifier, args=args, train_dataset=rows, eval_dataset=rows[:8],
                   data_collator=transformers.DataCollatorWithPadding(tokenizer))


def _state(classifier):
    return {k: v.detach().clone() for k, v in classifier.state_dict().items()}


def test_resume_from_checkpoint_ends_where_the_uninterrupted_run_ends(tmp_path, bert_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    whole = _classifier(bert_dir)
    _trainer(whole, tokenizer, tmp_path / "out").train()
    resumed = _classifier(bert_dir)
    _trainer(resumed, tokenizer, tmp_path / "again").train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-2"))
    expected, got = _state(whole), _state(resumed)
    assert sorted(got) == sorted(expected)
    # the same float32 steps in the same order from the same saved state and RNG: equal up to rounding
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)


def test_load_best_model_at_end_restores_the_best_checkpoint(tmp_path, bert_dir, caplog):
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    classifier = _classifier(bert_dir)
    trainer = _trainer(classifier, tokenizer, tmp_path / "out", eval_strategy="steps", eval_steps=2,
                       load_best_model_at_end=True, save_total_limit=None)
    trainer.train()
    best = load_file(f"{trainer.state.best_model_checkpoint}/model.safetensors")
    state = classifier.state_dict()
    assert sorted(best) == sorted(state)
    assert all(torch.equal(state[k], best[k]) for k in best)
    assert "missing keys" not in caplog.text


def test_a_trained_only_state_loads_strictly_and_a_whole_one_too(bert_dir):
    source, target = perturb(_classifier(bert_dir)), _classifier(bert_dir)
    trained = source.state_dict()
    result = target.load_state_dict(trained)  # strict: the frozen backbone is not missing
    assert result.missing_keys == [] and result.unexpected_keys == []
    whole = {**dict(source.model.named_parameters(prefix="model")), **trained}
    assert target.load_state_dict(whole).missing_keys == []
    with pytest.raises(RuntimeError, match="head.linear"):  # a trained tensor missing is still missing
        target.load_state_dict({k: v for k, v in trained.items() if not k.startswith("head.")})


def test_import_leaves_out_targets_the_forward_never_calls_and_says_which(tmp_path, bert_dir, capsys):
    import peft

    from adaptgraph.cli import main

    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    lora = perturb(peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["query", "value", "dense"]))).eval()
    lora.save_pretrained(tmp_path / "peft")
    capsys.readouterr()  # transformers' own loading bar
    assert main(["import", str(tmp_path / "peft"), "--out", str(tmp_path / "imported")]) == 0
    out, err = capsys.readouterr()
    assert "(10 LoRA modules)" in out
    assert err == ("warning: left out 1 LoRA target that the traced forward never calls (their LoRA changes no "
                   "output): pooler.dense\n")
    ours = load_adapters(tmp_path / "imported" / "adapters.safetensors")
    ids = torch.tensor([[2, 5, 9, 3]])
    with torch.no_grad():
        theirs = lora(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        assert torch.equal(ours(ids, torch.ones_like(ids)), theirs)


def test_a_minilm_folder_is_written_as_hf_minilm(tmp_path):
    folder = hf_folder("hf:minilm")
    assert known_ref(str(folder)) == "hf:minilm"
    assert known_ref(str(tmp_path)) == f"hf:{tmp_path}"
    import peft

    base = transformers.AutoModel.from_pretrained(folder)
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["encoder.layer.0.attention.self.query"])) \
        .save_pretrained(tmp_path / "peft")
    assert json.loads((tmp_path / "peft" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(folder)
    done = import_peft(tmp_path / "peft", tmp_path / "imported")
    assert 'backbone "hf:minilm"' in done.spec_path.read_text()
