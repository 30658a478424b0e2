"""Whisper through hf:PATH: the encoder's states from log-mel features (a WhisperModel folder or an encoder alone)."""
import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.cli import main

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytestmark = pytest.mark.hf

CONFIG = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
              decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16,
              max_source_positions=24, max_target_positions=32, pad_token_id=1, bos_token_id=2, eos_token_id=3,
              decoder_start_token_id=2)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A random-weight WhisperModel folder and a folder of its encoder alone (architectures: WhisperEncoder)."""
    root = tmp_path_factory.mktemp("whisper")
    torch.manual_seed(0)
    model = transformers.WhisperModel(transformers.WhisperConfig(**CONFIG)).eval()
    model.save_pretrained(root / "model")
    model.get_encoder().save_pretrained(root / "encoder")
    return {"model": (root / "model", "encoder.", model), "encoder": (root / "encoder", "", model)}


@pytest.mark.parametrize("kind", ["model", "encoder"])
def test_the_encoder_reads_log_mels_and_adapts_like_any_backbone(folders, kind, capsys):
    folder, prefix, reference = folders[kind]
    bb = load_backbone(f"hf:{folder}")
    (features,) = bb.example_inputs
    assert bb.modality == "audio" and features.shape == (2, 16, 48)  # 2 x max_source_positions frames
    with torch.no_grad():  # the encoder's own weights, not a freshly drawn model
        want = reference.get_encoder()(input_features=features).last_hidden_state
        assert torch.equal(bb.module(features), want)
    assert main(["points", f"hf:{folder}"]) == 0
    assert sum(line.startswith("@") for line in capsys.readouterr().out.splitlines()) == 1 + 2 * 2
    spec = f"parallel {prefix}layers.*.fc2 {{ rank = 2 }}\nedge @0 -> @-1"
    model = adaptgraph.compile(adaptgraph.loads(spec), bb)
    assert len(model.adaptgraph.plan.edges) == 3
    with torch.no_grad():  # zero-initialised adapters change nothing
        assert torch.equal(model(features), bb.module(features))


def test_an_audio_task_trains_on_the_encoder(folders):
    from adaptgraph.tasks import SplitTask
    from adaptgraph.train import TrainConfig, train_spec

    generator = torch.Generator().manual_seed(0)
    examples = tuple((torch.randn(16, 48, generator=generator) + label, label) for label in (0, 1) for _ in range(4))
    task = SplitTask("tones", ("low", "high"), "audio", (examples, examples[:2], examples[-2:]))
    spec = adaptgraph.loads(f'backbone "hf:{folders["encoder"][0]}"\nparallel layers.*.fc2 {{ rank = 2 }}')
    metrics = train_spec(spec, task, config=TrainConfig(steps=2, batch_size=4, device="cpu"), progress=False).metrics
    assert metrics["steps"] == 2 and metrics["test"]["n"] == 2
