"""PEFT round trips: export -> PeftModel and PEFT -> import -> compile give exactly the same outputs."""
import json
import re

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.errors import InteropError
from adaptgraph.interop import export_peft, import_peft
from adaptgraph.compiler.adapter_files import load_adapters, save_adapters
from tiny_hf import perturb, transformers

peft = pytest.importorskip("peft", reason="the PEFT round trips need peft (the dev extra)")
pytestmark = pytest.mark.hf

LORA = "defaults {{ act = none, norm = none, bias = false, init = lora, rank = 4, scale = {scale} }}\n"


def _saved(tmp_path, folder, body, scale="0.5"):
    spec = adaptgraph.loads(f'backbone "hf:{folder}"\n' + LORA.format(scale=scale) + body)
    model = perturb(adaptgraph.compile(spec))
    save_adapters(model, tmp_path / "adapters.safetensors")
    return model, tmp_path / "adapters.safetensors"


def _peft_output(folder, peft_dir, inputs):
    base = transformers.AutoModel.from_pretrained(folder).eval()
    model = peft.PeftModel.from_pretrained(base, peft_dir).eval()
    with torch.no_grad():
        return model(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state


@pytest.mark.parametrize("scale", ["0.5", "learn"])
def test_export_bert_loads_in_peft_with_identical_outputs(tmp_path, bert_dir, scale):
    body = "parallel encoder.layer.*.attention.self.query\nparallel encoder.layer.1.output.dense { rank = 2 }\n"
    model, path = _saved(tmp_path, bert_dir, body, scale)
    done = export_peft(path, tmp_path / "peft")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["rank_pattern"] == {"encoder.layer.1.output.dense": 2}
    assert config["base_model_name_or_path"] == str(bert_dir.resolve()) and not config["fan_in_fan_out"]
    assert len(done.targets) == 3
    inputs = get_backbone(f"hf:{bert_dir}").example_inputs
    with torch.no_grad():
        ours = model(inputs[0], inputs[1])
    assert torch.equal(_peft_output(bert_dir, tmp_path / "peft", inputs), ours)  # same ops, same order: exact


def test_export_gpt2_conv1d(tmp_path, gpt2_dir):
    model, path = _saved(tmp_path, gpt2_dir, "parallel h.*.attn.c_attn\nparallel h.0.mlp.c_fc\n")
    export_peft(path, tmp_path / "peft")
    assert json.loads((tmp_path / "peft" / "adapter_config.json").read_text())["fan_in_fan_out"] is True
    inputs = get_backbone(f"hf:{gpt2_dir}").example_inputs
    with torch.no_grad():
        ours = model(inputs[0], inputs[1])
    assert torch.equal(_peft_output(gpt2_dir, tmp_path / "peft", inputs), ours)


def test_export_refuses_every_edge_peft_cannot_express(tmp_path, bert_dir):
    body = ("parallel encoder.layer.0.attention.self.query\n"
            "parallel encoder.layer.0.attention.self.key { act = gelu }\n"
            "parallel encoder.layer.0.attention.self.value { bias = true }\n"
            "parallel encoder.layer.1.attention\n"
            "edge @1 -> @2\n"  # parallel by kind, but around a block: not one module
            "edge @1 -> @3\n")
    _, path = _saved(tmp_path, bert_dir, body)
    with pytest.raises(InteropError) as caught:
        export_peft(path, tmp_path / "peft")
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("PEFT cannot express these edges, so nothing was exported:")
    assert lines[1:6] == [
        "  encoder_layer_0_attention_self_key: it has the activation act = gelu",
        "  encoder_layer_0_attention_self_value: it has biases (bias = true); LoRA's matrices have none: "
        "train it with `bias = false`",
        "  encoder_layer_1_attention: encoder.layer.1.attention is a BertAttention, not a linear layer "
        "(nn.Linear or Conv1D)",
        "  s1__s2: it is a parallel edge @1 -> @2; PEFT's LoRA is only `parallel M` on a linear module M",
        "  s1__s3: it is a longrange edge @1 -> @3; PEFT's LoRA is only `parallel M` on a linear module M",
    ]
    # what to do instead, which is true of these edges: merge cannot fold a stream edge, --keep-unmerged keeps it
    assert "--keep-unmerged" in caught.value.problems[0].hint
    assert not (tmp_path / "peft").exists()


@pytest.mark.parametrize("rslora", [False, True])
def test_import_peft_lora_compiles_to_identical_outputs(tmp_path, gpt2_dir, rslora):
    base = transformers.AutoModel.from_pretrained(gpt2_dir).eval()
    config = peft.LoraConfig(r=4, lora_alpha=7, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                             rank_pattern={"h.1.attn.c_attn": 2}, use_rslora=rslora)
    lora = perturb(peft.get_peft_model(base, config)).eval()
    lora.save_pretrained(tmp_path / "peft")
    done = import_peft(tmp_path / "peft", tmp_path / "imported")
    text = done.spec_path.read_text()
    assert "parallel h.1.attn.c_attn { rank = 2, scale = " in text and len(done.targets) == 6
    ours = load_adapters(done.adapters_path)
    inputs = get_backbone(f"hf:{gpt2_dir}").example_inputs
    with torch.no_grad():
        theirs = lora(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state
        assert torch.equal(ours(inputs[0], inputs[1]), theirs)


def test_import_then_export_gives_back_the_same_checkpoint(tmp_path, bert_dir):
    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    lora = perturb(peft.get_peft_model(base, peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"])))
    lora.save_pretrained(tmp_path / "peft")
    import_peft(tmp_path / "peft", tmp_path / "imported")
    export_peft(tmp_path / "imported", tmp_path / "again")
    from safetensors.torch import load_file

    first, second = load_file(tmp_path / "peft" / "adapter_model.safetensors"), load_file(
        tmp_path / "again" / "adapter_model.safetensors")
    assert sorted(first) == sorted(second) and all(torch.equal(first[k], second[k]) for k in first)


def test_import_refuses_dora(tmp_path, bert_dir):
    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"], use_dora=True)).save_pretrained(
        tmp_path / "peft")
    with pytest.raises(InteropError, match="use_dora = True: DoRA rescales the weight's columns"):
        import_peft(tmp_path / "peft", tmp_path / "imported")


@pytest.mark.parametrize("change, message", [
    ({"lora_alpha": "16"}, "lora_alpha is '16', not a number"),
    ({"lora_dropout": None}, "lora_dropout is None, not a number"),
    ({"alpha_pattern": ["query"]}, "alpha_pattern is ['query'], not an object of module -> alpha"),
    ({"alpha_pattern": {"query": True}}, "alpha_pattern['query'] is True, not a number"),
    ({"use_rslora": "false"}, "use_rslora is 'false', not true or false"),  # bool('false') is True
])
def test_import_refuses_config_values_of_the_wrong_type(tmp_path, bert_dir, change, message):
    """Each was an internal error (a str alpha divided by r) or, for use_rslora, a silently wrong scale."""
    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"])).save_pretrained(tmp_path / "peft")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    (tmp_path / "peft" / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(InteropError, match=re.escape(message)):
        import_peft(tmp_path / "peft", tmp_path / "imported")
    assert not (tmp_path / "imported").exists()


def test_import_refuses_lora_weights_of_the_wrong_shape(tmp_path, bert_dir):
    from safetensors.torch import load_file, save_file

    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"])).save_pretrained(tmp_path / "peft")
    path = tmp_path / "peft" / "adapter_model.safetensors"
    weights = load_file(path)
    key = sorted(k for k in weights if "lora_B" in k)[0]
    weights[key] = torch.zeros(weights[key].shape[0], 3)  # rank 3 against lora_A's 2
    save_file(weights, path)
    with pytest.raises(InteropError, match=r"has lora_A \(2, \d+\) and lora_B \(\d+, 3\); the module needs"):
        import_peft(tmp_path / "peft", tmp_path / "imported")


def test_import_from_a_task_model_drops_its_prefix(tmp_path, bert_dir):
    task_model = transformers.BertForSequenceClassification.from_pretrained(bert_dir, num_labels=2).eval()
    lora = perturb(peft.get_peft_model(task_model, peft.LoraConfig(r=2, lora_alpha=2, target_modules=["query"])))
    lora.save_pretrained(tmp_path / "peft")  # keys: base_model.model.bert.encoder...
    done = import_peft(tmp_path / "peft", tmp_path / "imported", backbone=f"hf:{bert_dir}")
    assert done.targets == ("encoder.layer.0.attention.self.query", "encoder.layer.1.attention.self.query")
    inputs = get_backbone(f"hf:{bert_dir}").example_inputs
    with torch.no_grad():
        theirs = lora.eval().base_model.model.bert(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state
        assert torch.equal(load_adapters(done.adapters_path)(inputs[0], inputs[1]), theirs)
