"""Stream points beyond one residual block per layer: ALBERT's one shared layer called N times, and
MobileNet / EfficientNet, whose downsampling blocks have no residual."""
import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.cli import main
from adaptgraph.graph import trace_backbone
from adaptgraph.graph import module_ports, node_values, stream_points

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytestmark = pytest.mark.hf


def build(folder, model_class, config):
    torch.manual_seed(0)
    model_class(config).eval().save_pretrained(folder)
    return load_backbone(f"hf:{folder}")


def points_listed(folder, capsys) -> int:
    assert main(["points", f"hf:{folder}"]) == 0
    return sum(line.startswith("@") for line in capsys.readouterr().out.splitlines())


def unchanged(bb, spec: str) -> bool:
    model = adaptgraph.compile(adaptgraph.loads(spec), bb)
    with torch.no_grad():  # zero-initialised adapters change nothing
        return torch.equal(model(*bb.example_inputs), bb.module(*bb.example_inputs))


def test_albert_calls_of_its_shared_layer_are_the_blocks(tmp_path, capsys):
    config = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                                       num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    bb = build(tmp_path / "albert", transformers.AlbertModel, config)
    traced = trace_backbone(bb, None)
    points = stream_points(traced)
    assert len(points) == points_listed(tmp_path / "albert", capsys) == 1 + 3 * 2  # input, two merges per call
    with torch.no_grad():  # after each call of the shared layer: the model's own hidden states
        states = transformers.AlbertModel.from_pretrained(tmp_path / "albert").eval()(
            *bb.example_inputs, output_hidden_states=True).hidden_states
        values = node_values(traced.gm, bb.example_inputs, [p.node for p in points])
    for k in range(4):
        assert torch.equal(values[points[2 * k].node], states[k])
    assert unchanged(bb, "edge @0 -> @6 { rank = 2 }\nedge @2 -> @4\nedge @3 -> @5")


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet"])
def test_blocks_without_a_residual_have_a_point_at_their_output(tmp_path, capsys, name):
    if name == "mobilenet_v2":
        bb = build(tmp_path / name, transformers.MobileNetV2Model,
                   transformers.MobileNetV2Config(image_size=32, depth_multiplier=0.25))
        blocks = [f"layer.{k}" for k in range(len(bb.module.layer))]
        residual = [block.use_residual for block in bb.module.layer]
    else:
        bb = build(tmp_path / name, transformers.EfficientNetModel, transformers.EfficientNetConfig(
            image_size=32, width_coefficient=0.1, depth_coefficient=1.0, hidden_dim=128))
        blocks = [f"encoder.blocks.{k}" for k in range(len(bb.module.encoder.blocks))]
        residual = [block.projection.apply_dropout for block in bb.module.encoder.blocks]  # its flag for x + f(x)
    assert any(residual) and not all(residual)
    traced = trace_backbone(bb, None)
    points, ports = stream_points(traced), module_ports(traced)
    assert len(points) == points_listed(tmp_path / name, capsys) == 1 + len(blocks)  # one merge or output each
    assert points[0].node == ports[f"{blocks[0]}.in"].node
    assert [p.node for p in points[1:]] == [ports[f"{b}.out"].node for b in blocks]
    inner = [k + 1 for k in range(1, len(blocks)) if residual[k] and points[k].shape == points[k + 1].shape]
    assert unchanged(bb, f"edge @{inner[0] - 1} -> @{inner[0]}\nedge @{inner[-1] - 1} -> @{inner[-1]} {{ rank = 2 }}")
