"""Tiny modules that pin how tracing and points behave (pre-norm, post-norm, ResNet, tokens)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

D = 8


class PreNormBlock(nn.Module):
    """ViT/GPT style: x + attn(ln1(x)), then + mlp(ln2(x))."""

    def __init__(self, d: int = D):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class PreNormNet(nn.Module):
    def __init__(self, depth: int = 3, d: int = D):
        super().__init__()
        self.proj = nn.Linear(4, d)
        self.blocks = nn.ModuleList(PreNormBlock(d) for _ in range(depth))
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        x = self.proj(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class SelfOutput(nn.Module):
    """BERT's BertSelfOutput: LayerNorm(dense(h) + input)."""

    def __init__(self, d_in: int, d: int = D):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class PostNormLayer(nn.Module):
    """BERT style: ln(x + attn(x)), then ln(h + mlp(h)); the sub-modules take two tensors."""

    def __init__(self, d: int = D):
        super().__init__()
        self.query = nn.Linear(d, d)
        self.attention_output = SelfOutput(d, d)
        self.intermediate = nn.Linear(d, 2 * d)
        self.output = SelfOutput(2 * d, d)

    def forward(self, x, mask):
        scores = self.query(x) @ x.transpose(1, 2) + mask[:, None, :]
        h = self.attention_output(scores.softmax(-1) @ x, x)
        return self.output(torch.relu(self.intermediate(h)), h)


class TokenNet(nn.Module):
    """Embeddings + post-norm layers; forward(input_ids, attention_mask) -> (hidden, pooled)."""

    def __init__(self, depth: int = 2, d: int = D, vocab: int = 50):
        super().__init__()
        self.embeddings = nn.Embedding(vocab, d)
        self.layer = nn.ModuleList(PostNormLayer(d) for _ in range(depth))

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        mask = (1.0 - attention_mask.to(x.dtype)) * -1e4
        for layer in self.layer:
            x = layer(x, mask)
        return x, x.mean(1)


class BasicBlock(nn.Module):
    """ResNet BasicBlock with in-place add and ReLU, optional projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 4))
        self.layer2 = nn.Sequential(BasicBlock(4, 8, stride=2), BasicBlock(8, 8))

    def forward(self, x):
        return self.layer2(self.layer1(self.stem(x)))


def _seeded(factory):
    torch.manual_seed(0)
    model = factory()
    for m in model.modules():  # non-trivial BatchNorm statistics, so eval mode is not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _prenorm():
    return _seeded(PreNormNet), (torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1)),)


def _tokens():
    ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    return _seeded(TokenNet), (ids, mask)


def _resnet():
    return _seeded(ResNet), (torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)),)


MODELS = {"prenorm": _prenorm, "tokens": _tokens, "resnet": _resnet}


@pytest.fixture
def prenorm():
    return _prenorm()


@pytest.fixture
def tokens():
    return _tokens()


@pytest.fixture
def resnet():
    return _resnet()


_TRACES: dict = {}


@pytest.fixture(scope="session")
def traced_of():
    """``traced_of(name, frontend)`` -> (model, inputs, Traced), traced once per session.

    For tests that only read the trace; a test that edits the graph or the model traces its own.
    """
    from adaptgraph.graph import trace

    def get(name: str, frontend: str):
        if (name, frontend) not in _TRACES:
            model, inputs = MODELS[name]()
            _TRACES[name, frontend] = (model, inputs, trace(model, inputs, frontend=frontend))
        return _TRACES[name, frontend]

    return get


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None


def record_eager_io(model: nn.Module, inputs: tuple, paths) -> dict[str, torch.Tensor]:
    """``PATH.in``/``PATH.out`` values of the first call of each module, from hooks on the eager model.

    Inputs are cloned before the call (an in-place ReLU overwrites its input).
    """
    values: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = []
    for path in paths:
        def pre(mod, args, kwargs, path=path):
            x = _first_tensor(list(args) + list(kwargs.values()))
            if x is not None:
                values.setdefault(f"{path}.in", x.detach().clone())

        def post(mod, args, kwargs, out, path=path):
            y = _first_tensor(out)
            if y is not None:
                values.setdefault(f"{path}.out", y.detach().clone())

        handles.append(modules[path].register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(modules[path].register_forward_hook(post, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return values


@pytest.fixture
def eager_io():
    return record_eager_io
