"""merge folds adapters into a plain Hugging Face folder; SequenceClassifier trains under HF Trainer."""
import pytest
import torch
from safetensors.torch import load_file

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.errors import InteropError
from adaptgraph.interop import SequenceClassifier, merge
from adaptgraph.compiler.adapter_files import load_adapters, save_adapters
from tiny_hf import perturb, transformers

pytestmark = pytest.mark.hf

# Folding changes only float32 rounding: W' = W + sUD is rounded once (|dW| <= 2^-24 |W'|) and
# W'x sums in another order than Wx + sU(Dx): each differs by at most ~n 2^-24 |W||x| with n = 64
# inputs here (4e-6 relative). Two such layers and LayerNorm (outputs of order 1) keep the
# difference of the O(1) hidden states below 1e-5.
MERGE_ATOL = 1e-5

MIXED = ("defaults { rank = 4, scale = learn, init = normal }\n"
         "parallel encoder.layer.*.attention.self.query\n"
         "sequential encoder.layer.1.output.dense { rank = 2, dropout = 0.1 }\n"
         "train encoder.layer.0.output.LayerNorm\n")


def _saved(tmp_path, folder, body):
    model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{folder}"\n' + body)))
    save_adapters(model, tmp_path / "adapters.safetensors")
    return model, tmp_path / "adapters.safetensors"


def _hidden(folder, inputs):
    plain = transformers.AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        return plain(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state


def test_merge_writes_a_plain_folder_with_the_compiled_outputs(tmp_path, bert_dir):
    model, path = _saved(tmp_path, bert_dir, MIXED)
    done = merge(path, tmp_path / "merged")
    assert len(done.merged) == 3 and done.kept == () and done.max_difference <= MERGE_ATOL
    assert (tmp_path / "merged" / "vocab.txt").is_file()  # the tokenizer travels with the weights
    inputs = get_backbone(f"hf:{bert_dir}").example_inputs
    with torch.no_grad():
        ours = model(inputs[0], inputs[1])
    assert (_hidden(tmp_path / "merged", inputs) - ours).abs().max() <= MERGE_ATOL
    assert (ours - _hidden(bert_dir, inputs)).abs().max() > 100 * MERGE_ATOL  # the adapters did change it


def test_merge_refuses_unmergeable_edges_unless_kept(tmp_path, gpt2_dir):
    body = "defaults { rank = 2, init = normal }\nparallel h.*.attn.c_attn\nedge @1 -> @3\nparallel h.0.mlp { act = gelu }\n"
    model, path = _saved(tmp_path, gpt2_dir, body)
    with pytest.raises(InteropError) as caught:
        merge(path, tmp_path / "merged")
    assert str(caught.value).splitlines()[1:3] == [
        "  s1__s3: it is a longrange edge @1 -> @3: it adds a path the backbone's layers do not have",
        "  h_0_mlp: h.0.mlp is a GPT2MLP, not a linear layer (nn.Linear or Conv1D)",
    ]
    assert not (tmp_path / "merged").exists()
    done = merge(path, tmp_path / "merged", keep_unmerged=True)
    assert sorted(done.kept) == ["h_0_mlp", "s1__s3"] and len(done.merged) == 2
    kept = load_adapters(tmp_path / "merged" / "adapters.safetensors")  # on the merged folder
    inputs = get_backbone(f"hf:{gpt2_dir}").example_inputs
    with torch.no_grad():
        assert (kept(inputs[0], inputs[1]) - model(inputs[0], inputs[1])).abs().max() <= MERGE_ATOL
    # merged again into the same folder without unmergeable edges: the kept adapters of the first
    # merge (made for the weights now replaced) are gone, not left beside the new weights
    _, plain = _saved(tmp_path / "plain", gpt2_dir, "defaults { rank = 2, init = normal }\nparallel h.*.attn.c_attn\n")
    assert merge(plain, tmp_path / "merged").kept == ()
    assert not (tmp_path / "merged" / "adapters.safetensors").exists()
    assert not (tmp_path / "merged" / "spec.adapt").exists()


def test_trainer_trains_the_classifier_and_checkpoints_only_what_it_trains(tmp_path, bert_dir):
    from transformers import Trainer, TrainingArguments

    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    texts = ["the cat sat", "a dog ran fast", "red mat", "the blue dog sat on a mat"] * 4
    rows = [{**{k: v[0] for k, v in tokenizer([t], return_tensors="pt").items()}, "labels": i % 2}
            for i, t in enumerate(texts)]
    model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel encoder.layer.*.attention.self.query'))
    classifier = SequenceClassifier(model, num_labels=2)
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=4,
                             learning_rate=1e-2, save_steps=3, report_to=[], use_cpu=True, disable_tqdm=True)
    collator = transformers.DataCollatorWithPadding(tokenizer)
    Trainer(model=classifier, args=args, train_dataset=rows, data_collator=collator).train()
    saved = load_file(tmp_path / "out" / "checkpoint-3" / "model.safetensors")
    assert sorted(saved) == sorted(before)  # adapters + head, no backbone weight
    assert all(k.startswith(("head.", "model.adapters.")) for k in saved)
    assert any(not torch.equal(before[k], v) for k, v in classifier.state_dict().items())
    classifier.save(tmp_path / "clf.safetensors")
    again = SequenceClassifier.load(tmp_path / "clf.safetensors").eval()
    batch = collator(rows[:4])
    classifier.eval()
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, classifier(**batch).logits)
