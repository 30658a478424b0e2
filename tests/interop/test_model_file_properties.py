"""Property tests on the model-folder formats: random values in adapter_config.json and config.json, and
mutated bytes of both, end in adaptgraph's own error (never an internal one), within a time bound, without a
write outside the output folder (issue 21; the other formats are in tests/security/test_file_properties.py)."""
import itertools
import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptgraph.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from file_properties import FEW, json_values, mutated, run_bounded  # noqa: E402

peft = pytest.importorskip("peft", reason="PEFT checkpoints are made with peft (the dev extra)")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

CASES = itertools.count()
PEFT_FIELDS = ["lora_alpha", "r", "lora_dropout", "use_rslora", "alpha_pattern", "rank_pattern", "target_modules",
               "peft_type", "base_model_name_or_path", "bias", "use_dora", "modules_to_save"]
CONFIG_FIELDS = ["hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "max_position_embeddings", "type_vocab_size", "architectures", "model_type", "hidden_act",
                 "layer_norm_eps", "auto_map", "torch_dtype"]


@pytest.fixture(scope="module")
def peft_source(tmp_path_factory, bert_dir):
    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    folder = tmp_path_factory.mktemp("peft") / "peft"
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"])).save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(bert_dir)}))
    return folder


@FEW
@given(data=st.data())
def test_adapter_config_with_random_values_or_bytes(tmp_path, peft_source, data):
    place = tmp_path / f"case{next(CASES)}"
    shutil.copytree(peft_source, place / "peft")
    path = place / "peft" / "adapter_config.json"
    config = json.loads(path.read_text())
    if data.draw(st.booleans()):
        config[data.draw(st.sampled_from(PEFT_FIELDS))] = data.draw(
            st.one_of(json_values(), st.dictionaries(st.sampled_from(["query", "(.*)*Z", "((", "q.*"]),
                                                     json_values(1), max_size=2)))
        path.write_text(json.dumps(config))
    else:
        path.write_bytes(data.draw(mutated(path.read_bytes())))
    out = place / "out"
    run_bounded(lambda: main(["import", str(place / "peft"), "--out", str(out)]), place, out)


@FEW
@given(data=st.data())
def test_config_json_with_random_values_or_bytes(tmp_path, bert_dir, data):
    place = tmp_path / f"case{next(CASES)}"  # a new reference each time: loaded backbones are cached by reference
    shutil.copytree(bert_dir, place / "model")
    path = place / "model" / "config.json"
    config = json.loads(path.read_text())
    if data.draw(st.booleans()):
        config[data.draw(st.sampled_from(CONFIG_FIELDS))] = data.draw(json_values())
        path.write_text(json.dumps(config))
    else:
        path.write_bytes(data.draw(mutated(path.read_bytes())))
    run_bounded(lambda: main(["points", f"hf:{place / 'model'}"]), place)
