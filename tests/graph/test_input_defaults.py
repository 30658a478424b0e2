"""apply_input_defaults: a traced graph takes the module's derived defaults as optional arguments."""
import inspect
import pickle

import torch
from torch import fx, nn

from adaptgraph.backbones.hf_features import DerivedInput, positions_if_none, zeros_if_none
from adaptgraph.passes.input_defaults import apply_input_defaults


class Embed(nn.Module):
    """A text model whose forward takes every input (what tracing sees)."""

    def __init__(self):
        super().__init__()
        self.tokens, self.types, self.positions = nn.Embedding(10, 4), nn.Embedding(2, 4), nn.Embedding(16, 4)

    def forward(self, input_ids, mask, token_type_ids, position_ids):
        out = self.tokens(input_ids) + self.types(token_type_ids) + self.positions(position_ids)
        return out * mask.unsqueeze(-1)


class EmbedWithDefaults(Embed):
    """The same model as a user calls it: token types and positions default to zeros and 0..T-1."""

    def forward(self, input_ids, mask, token_type_ids=DerivedInput("token_type_ids", zeros_if_none),
                position_ids=DerivedInput("position_ids", positions_if_none)):
        token_type_ids = None if isinstance(token_type_ids, DerivedInput) else token_type_ids
        position_ids = None if isinstance(position_ids, DerivedInput) else position_ids
        return super().forward(input_ids, mask, zeros_if_none(token_type_ids, input_ids),
                               positions_if_none(position_ids, input_ids))


def _traced():
    module = EmbedWithDefaults()
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    mask, types, positions = torch.ones_like(ids), torch.tensor([[0, 1, 1], [0, 0, 1]]), torch.arange(3).repeat(2, 1)
    plain = Embed()  # traced with every argument required, as tracing with example inputs does
    plain.load_state_dict(module.state_dict())
    return module, fx.symbolic_trace(plain), (ids, mask, types, positions)


def test_trailing_derived_inputs_become_optional_and_compute_the_defaults():
    module, gm, (ids, mask, types, positions) = _traced()
    assert apply_input_defaults(gm, module) == ("token_type_ids", "position_ids")
    assert str(inspect.signature(gm.forward)) == "(input_ids, mask, token_type_ids=None, position_ids=None)"
    assert torch.equal(gm(ids, mask), module(ids, mask))
    assert torch.equal(gm(input_ids=ids, mask=mask, token_type_ids=types), module(ids, mask, types))
    assert torch.equal(gm(ids, mask, types, positions), module(ids, mask, types, positions))
    again = pickle.loads(pickle.dumps(gm))  # the fill functions are module-level: the code still pickles
    assert torch.equal(again(ids, mask), module(ids, mask))


def test_a_module_without_derived_defaults_is_left_alone():
    linear = nn.Linear(3, 3)
    gm = fx.symbolic_trace(linear)
    assert apply_input_defaults(gm, linear) == ()
    assert all(p.default is inspect.Parameter.empty for p in inspect.signature(gm.forward).parameters.values())
