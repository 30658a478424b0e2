"""T5 through hf:PATH: the encoder-decoder (decoder inputs derived, points of both stacks) and the encoder alone."""
import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.graph import trace_backbone
from adaptgraph.graph import module_ports, node_values, stream_points

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytestmark = pytest.mark.hf

CONFIG = dict(vocab_size=120, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=3, num_heads=4,
              decoder_start_token_id=0, pad_token_id=0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Random-weight T5 folders built offline from a config: {class name: folder}."""
    root = tmp_path_factory.mktemp("t5")
    config = transformers.T5Config(**CONFIG)
    out = {}
    for name in ("T5Model", "T5EncoderModel"):
        torch.manual_seed(0)
        getattr(transformers, name)(config).save_pretrained(root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def t5(folders):
    bb = load_backbone(f"hf:{folders['T5Model']}")
    return bb, trace_backbone(bb, None)


def test_encoder_decoder_features_are_the_decoder_reading_the_input_shifted_right(t5, folders):
    bb, _ = t5
    ids, mask = bb.example_inputs  # no decoder_input_ids to give
    reference = transformers.T5Model.from_pretrained(folders["T5Model"]).eval()
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=reference._shift_right(ids))
        assert torch.equal(bb.module(ids, mask), want.last_hidden_state)
    assert bb.input_names == ("input_ids", "attention_mask")


def test_both_stacks_give_stream_points_encoder_first(t5):
    bb, traced = t5
    points = stream_points(traced)
    assert len(points) == (1 + 2 * 2) + (1 + 3 * 3)  # each stack: its input, then a merge per sub-layer
    ports = module_ports(traced)
    assert points[0].node == ports["encoder.block.0.in"].node and points[4].node == ports["encoder.block.1.out"].node
    assert points[5].node == ports["decoder.block.0.in"].node and points[-1].node == ports["decoder.block.2.out"].node
    decoder_only = stream_points(traced, "decoder.block.*")
    assert [p.node for p in decoder_only] == [p.node for p in points[5:]]
    values = node_values(traced.gm, bb.example_inputs, [points[-1].node])
    with torch.no_grad():  # the decoder's final norm reads the last point
        final = bb.module.decoder.final_layer_norm(values[points[-1].node])
        # the same float32 ops in the same order on values of scale ~1 after the norm: equal but for
        # kernel choice (a few ulps, ~1e-7); 1e-6 leaves that a margin and catches any wrong point
        assert torch.allclose(final, bb.module(*bb.example_inputs), atol=1e-6)


def test_a_spec_adapts_both_stacks_by_their_module_paths(t5):
    bb, _ = t5
    spec = "parallel encoder.block.1.layer.1\nparallel decoder.block.*.layer.2\nedge @2 -> @8\nedge @0 -> @-1"
    model = adaptgraph.compile(adaptgraph.loads(spec), bb)
    assert [e.name for e in model.adaptgraph.plan.edges][:2] == ["encoder_block_1_layer_1", "decoder_block_0_layer_2"]
    with torch.no_grad():  # zero-initialised adapters change nothing (export keeps the same kernels)
        assert torch.equal(model(*bb.example_inputs), bb.module(*bb.example_inputs))


def test_an_encoder_only_folder_loads_its_own_class(folders):
    bb = load_backbone(f"hf:{folders['T5EncoderModel']}")
    assert type(bb.module).__mro__[1] is transformers.T5EncoderModel  # not T5Model with a fresh decoder
    traced = trace_backbone(bb, None)
    assert len(stream_points(traced)) == 1 + 2 * 2
    assert not any(p.startswith("decoder") for p in module_ports(traced))


@pytest.mark.parametrize("generation_start", [5, None])
def test_a_folder_without_decoder_start_in_its_config_reads_the_generation_config(tmp_path, capsys,
                                                                                  generation_start):
    """transformers 5 keeps decoder_start_token_id in generation_config.json; without that file T5
    starts from its pad token."""
    import json

    from adaptgraph.cli import main

    folder = tmp_path / "t5"
    torch.manual_seed(0)
    transformers.T5Model(transformers.T5Config(**CONFIG)).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("decoder_start_token_id")
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").unlink(missing_ok=True)
    if generation_start is not None:
        (folder / "generation_config.json").write_text(json.dumps({"decoder_start_token_id": generation_start}))
    bb = load_backbone(f"hf:{folder}")
    ids, mask = bb.example_inputs
    start = generation_start if generation_start is not None else CONFIG["pad_token_id"]
    decoder_ids = torch.cat([torch.full_like(ids[:, :1], start), ids[:, :-1]], dim=1)
    reference = transformers.T5Model.from_pretrained(folder).eval()
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).last_hidden_state
        assert torch.equal(bb.module(ids, mask), want)
    assert main(["points", f"hf:{folder}"]) == 0
    assert sum(line.startswith("@") for line in capsys.readouterr().out.splitlines()) == (1 + 2 * 2) + (1 + 3 * 3)
    model = adaptgraph.compile(adaptgraph.loads("parallel decoder.block.*.layer.2\nedge @0 -> @-1"), bb)
    with torch.no_grad():  # zero-initialised adapters change nothing
        assert torch.equal(model(ids, mask), bb.module(ids, mask))
