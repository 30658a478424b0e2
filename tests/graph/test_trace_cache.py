"""The on-disk trace cache: hits rebuild the same graph over the caller's tensors; any key change misses;
corrupt, foreign or disabled entries are ignored."""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
from torch import nn

from adaptgraph.backbones import load_backbone
from adaptgraph.graph import trace
from adaptgraph.graph import trace_cache as tc


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(tc.ENV, str(tmp_path / "traces"))
    return tmp_path / "traces"


@pytest.fixture(scope="module")
def bert():
    bb = load_backbone("zoo:bert-tiny")
    return bb, trace(bb.module, bb.example_inputs, frontend="fx")


def _key(bb, **change):
    args = {"inputs": bb.example_inputs, "frontend": "fx", "leaf_modules": ()} | change
    return tc.trace_key(bb.module, args["inputs"], args["frontend"], args["leaf_modules"])


def test_hit_rebuilds_the_same_graph_over_the_modules_own_tensors(cache, bert):
    bb, traced = bert
    key = _key(bb)
    assert tc.load_traced(key, bb.module, bb.example_inputs) is None  # a miss before saving
    assert tc.save_traced(key, traced, bb.module)
    hit = tc.load_traced(key, bb.module, bb.example_inputs)
    assert [n.name for n in hit.gm.graph.nodes] == [n.name for n in traced.gm.graph.nodes]
    assert hit.gm.code == traced.gm.code
    assert (hit.frontend, hit.module_paths, hit.containers, hit.notes) == \
        (traced.frontend, traced.module_paths, traced.containers, traced.notes)
    assert all(n.meta.get("tensor_meta") == m.meta.get("tensor_meta")
               for n, m in zip(hit.gm.graph.nodes, traced.gm.graph.nodes))
    own = {t.data_ptr() for t in bb.module.state_dict().values()}
    assert {p.data_ptr() for p in hit.gm.parameters()} <= own  # no weights in the file: the module's own
    with torch.no_grad():
        assert torch.equal(hit.gm(*bb.example_inputs), traced.gm(*bb.example_inputs))


def test_entries_are_private_whatever_the_umask(cache, bert):
    """Regression: atomic writes began to follow the umask (0644) for new files, and cache entries, which
    are pickles of the user's models, became readable by everyone."""
    import os
    import stat

    bb, traced = bert
    old = os.umask(0o022)
    try:
        assert tc.save_traced(_key(bb), traced, bb.module)
    finally:
        os.umask(old)
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in cache.iterdir() if p.is_file()} == {"0o600"}


def test_an_exported_graph_round_trips(cache):
    transformers = pytest.importorskip("transformers")
    model = transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                           intermediate_size=64, vocab_size=100)).eval()
    bb = load_backbone(_LastHidden(model), example_inputs=(torch.randint(1, 100, (2, 6)),))
    traced = trace(bb.module, bb.example_inputs, frontend="export")
    key = _key(bb, frontend="export")
    assert tc.save_traced(key, traced, bb.module)
    hit = tc.load_traced(key, bb.module, bb.example_inputs)
    assert hit.gm.code == traced.gm.code
    with torch.no_grad():
        assert torch.equal(hit.gm(*bb.example_inputs), traced.gm(*bb.example_inputs))


class _LastHidden(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).last_hidden_state


@pytest.mark.parametrize("change", ["frontend", "leaf_modules", "shape", "dtype", "torch", "structure", "config"])
def test_every_part_of_the_key_changes_it(bert, monkeypatch, change):
    bb, _ = bert
    before = _key(bb)
    ids, mask = bb.example_inputs
    if change == "frontend":
        after = _key(bb, frontend="export")
    elif change == "leaf_modules":
        after = _key(bb, leaf_modules=("BertLayer",))
    elif change == "shape":
        after = _key(bb, inputs=(ids[:, :-1], mask[:, :-1]))
    elif change == "dtype":
        after = _key(bb, inputs=(ids.int(), mask))
    elif change == "torch":
        monkeypatch.setattr(torch, "__version__", torch.__version__ + "+other")
        after = _key(bb)
    elif change == "structure":
        module = load_backbone("zoo:bert-tiny").module
        module.pooler_extra = nn.Linear(2, 2)
        after = tc.trace_key(module, bb.example_inputs, "fx")
    else:
        module = load_backbone("zoo:bert-tiny").module
        module.config = _Config('{"attn": "sdpa"}')
        before = tc.trace_key(module, bb.example_inputs, "fx")
        module.config = _Config('{"attn": "eager"}')
        after = tc.trace_key(module, bb.example_inputs, "fx")
    assert after != before


class _Config:
    def __init__(self, text):
        self.text = text

    def to_json_string(self):
        return self.text


def test_editing_the_models_code_changes_the_key(tmp_path, monkeypatch):
    source = tmp_path / "edited_model.py"
    source.write_text("from torch import nn\nclass Net(nn.Linear):\n    pass\n")
    spec = importlib.util.spec_from_file_location("edited_model", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "edited_model", module)
    spec.loader.exec_module(module)
    net, inputs = module.Net(2, 2), (torch.randn(2, 2),)
    before = tc.trace_key(net, inputs, "fx")
    source.write_text("from torch import nn\nclass Net(nn.Linear):\n    def forward(self, x):\n        return x\n")
    tc._source_hash.cache_clear()  # a new process would read the file afresh
    assert tc.trace_key(net, inputs, "fx") != before


def test_weights_are_not_part_of_the_key(bert):
    bb, _ = bert
    other = load_backbone("zoo:bert-tiny").module
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    assert tc.trace_key(other, bb.example_inputs, "fx") == _key(bb)


@pytest.mark.parametrize("damage", [b"", b"not a pickle", "truncate"])
def test_a_corrupt_entry_is_a_miss_and_is_rebuilt(cache, bert, damage):
    bb, traced = bert
    key = _key(bb)
    assert tc.save_traced(key, traced, bb.module)
    path = cache / f"{key}.pt"
    path.write_bytes(path.read_bytes()[:200] if damage == "truncate" else damage)
    assert tc.load_traced(key, bb.module, bb.example_inputs) is None
    assert tc.save_traced(key, traced, bb.module)  # the next trace overwrites it
    assert tc.load_traced(key, bb.module, bb.example_inputs) is not None


def test_an_entry_written_for_another_key_is_ignored(cache, bert):
    bb, traced = bert
    key = _key(bb)
    assert tc.save_traced(key, traced, bb.module)
    other = _key(bb, frontend="export")
    (cache / f"{key}.pt").rename(cache / f"{other}.pt")
    assert tc.load_traced(other, bb.module, bb.example_inputs) is None


def test_an_entry_for_a_module_without_the_graphs_submodules_is_ignored(cache, bert):
    bb, traced = bert
    key = _key(bb)
    assert tc.save_traced(key, traced, bb.module)
    assert tc.load_traced(key, nn.Linear(2, 2), bb.example_inputs) is None


def test_off_disables_the_cache(monkeypatch, bert):
    bb, traced = bert
    monkeypatch.setenv(tc.ENV, "off")
    assert tc.cache_dir() is None
    assert not tc.save_traced(_key(bb), traced, bb.module)


def test_the_default_folder_is_in_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(tc.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tc.cache_dir() == tmp_path / "adaptgraph" / "traces"


def test_a_second_process_reads_the_graph_instead_of_tracing(cache, monkeypatch):
    import adaptgraph

    bb = load_backbone("zoo:vit-tiny")
    first = tc.cached_trace(bb.module, bb.example_inputs, "fx", label="zoo:vit-tiny")
    monkeypatch.setattr(tc, "trace", lambda *a, **k: pytest.fail("traced again despite a cache entry"))
    again = load_backbone("zoo:vit-tiny")  # another module object, as in a new process
    hit = tc.trace_backbone(again)
    assert hit.gm.code == first.gm.code and hit.notes == first.notes
    model = adaptgraph.compile(adaptgraph.loads("parallel @0 -> @1\nedge @2 -> @4"), again)
    with torch.no_grad():
        assert torch.equal(model(*again.example_inputs), again.module(*again.example_inputs))
    assert {p.data_ptr() for p in model.parameters() if not p.requires_grad} <= \
        {p.data_ptr() for p in again.module.parameters()}


@pytest.mark.parametrize("loosen", ["folder", "entry", "link"])
def test_an_entry_others_could_have_written_is_not_read(cache, bert, tmp_path, loosen):
    # entries are pickles: one that another user could have planted must never be unpickled
    bb, traced = bert
    key = _key(bb)
    assert tc.save_traced(key, traced, bb.module)
    entry = cache / f"{key}.pt"
    assert tc.load_traced(key, bb.module, bb.example_inputs) is not None
    if loosen == "folder":
        cache.chmod(0o777)
    elif loosen == "entry":
        entry.chmod(0o666)
    else:
        outside = tmp_path / "planted.pt"
        entry.rename(outside)
        entry.symlink_to(outside)
    assert tc.load_traced(key, bb.module, bb.example_inputs) is None
