"""References: schemes, did-you-mean, the registry's fixed shape, exact error texts."""
import sys

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import Backbone, backbone_refs, load_backbone, register_scheme, schemes
from adaptgraph.backbones.registry import SCHEMES
from adaptgraph.errors import BackboneError

ZOO = ["zoo:bert-tiny", "zoo:convnext-tiny", "zoo:gpt-tiny", "zoo:resnet-tiny", "zoo:vit-base-shape", "zoo:vit-tiny"]


def _message(ref, **kwargs):
    with pytest.raises(BackboneError) as err:
        load_backbone(ref, **kwargs)
    return str(err.value)


def test_known_refs_and_schemes():
    assert backbone_refs() == ["hf:minilm"] + ZOO
    assert schemes() == ["hf", "py", "timm", "zoo"]


def test_reference_is_normalised():
    assert load_backbone("  ZOO:vit-tiny ").ref == "zoo:vit-tiny"


def test_reference_without_scheme_suggests_zoo_name():
    assert _message("vit-tiny") == (
        "error: unknown backbone reference 'vit-tiny'\n"
        "    hint: did you mean 'zoo:vit-tiny' or 'zoo:gpt-tiny'? "
        "a reference starts with one of hf:, py:, timm:, zoo:")


def test_unknown_scheme_lists_schemes():
    assert _message("foo:bar") == ("error: unknown backbone reference 'foo:bar'\n"
                                   "    hint: a reference starts with one of hf:, py:, timm:, zoo:")


def test_unknown_zoo_name_suggests_closest_ref_from_any_scheme():
    assert _message("zoo:minilm") == "error: unknown backbone 'zoo:minilm'\n    hint: did you mean 'hf:minilm'?"
    assert _message("zoo:resnet-tin") == ("error: unknown backbone 'zoo:resnet-tin'\n"
                                          "    hint: did you mean 'zoo:resnet-tiny' or 'zoo:bert-tiny' "
                                          "or 'zoo:convnext-tiny'?")


def test_unknown_zoo_name_with_nothing_close_lists_the_zoo():
    assert _message("zoo:xyz") == (
        "error: unknown backbone 'zoo:xyz'\n"
        "    hint: the zoo has zoo:bert-tiny, zoo:convnext-tiny, zoo:gpt-tiny, zoo:resnet-tiny, zoo:vit-base-shape, zoo:vit-tiny")


def test_reference_of_the_wrong_type():
    assert _message(42) == ("error: a backbone reference must be a string or a torch.nn.Module, not int\n"
                            f"    hint: write one of {', '.join(['hf:minilm'] + ZOO)}")


def test_callers_example_inputs_replace_a_references_own():
    ids = torch.tensor([[1, 5, 6, 2]])
    backbone = load_backbone("zoo:gpt-tiny", example_inputs=[ids, torch.ones_like(ids)])
    assert backbone.example_inputs[0] is ids and len(backbone.example_inputs) == 2


def test_example_inputs_of_the_wrong_type():
    assert _message(torch.nn.Identity(), example_inputs={"x": 1}) == (
        "error: example_inputs must be a tuple of tensors, not dict\n"
        "    hint: pass example_inputs=(tensor, ...) with a batch of 2, e.g. (torch.randn(2, 3, 32, 32),)")


def test_a_new_scheme_is_one_registration(monkeypatch):
    monkeypatch.setattr(SCHEMES, "_entries", dict(SCHEMES._entries))  # the real table is restored after the test
    seen = []

    def load_toy(name, options):
        seen.append((name, options.trust_code))
        return load_backbone("zoo:resnet-tiny")

    register_scheme("toy", load_toy, refs=lambda: ["toy:one"])
    assert isinstance(load_backbone("toy:one", trust_code=True), Backbone)
    assert seen == [("one", True)] and "toy:one" in backbone_refs() and "toy" in schemes()


def test_a_scheme_is_registered_once_and_the_refusal_names_both_loaders():
    def load_mine(name, options):
        return load_backbone(f"zoo:{name}")

    with pytest.raises(BackboneError) as err:
        register_scheme("zoo", load_mine)
    assert str(err.value) == (
        "error: backbone scheme 'zoo' is already registered to adaptgraph.backbones.zoo.catalog.load_zoo; refusing "
        f"{__name__}.test_a_scheme_is_registered_once_and_the_refusal_names_both_loaders.<locals>.load_mine\n"
        f"    hint: register {__name__}.test_a_scheme_is_registered_once_and_the_refusal_names_both_loaders"
        ".<locals>.load_mine under another name")
    assert SCHEMES.lookup("zoo").load.__name__ == "load_zoo"  # the first registration stands


def test_missing_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    assert _message("hf:minilm") == ("error: hf:minilm needs the transformers package, which is not installed\n"
                                     "    hint: pip install 'adaptgraph[hf]'")


def test_a_registered_scheme_works_in_a_spec(monkeypatch):
    # The bug: the spec listed the built-in schemes again, so `mine:` failed to load as a spec.
    monkeypatch.setattr(SCHEMES, "_entries", dict(SCHEMES._entries))  # the real table is restored after the test
    register_scheme("mine", lambda name, options: load_backbone(f"zoo:{name}"))
    spec = adaptgraph.loads('backbone "mine:resnet-tiny"\nedge @0 -> @1')
    assert load_backbone(spec.backbone).ref == "zoo:resnet-tiny"
    assert _message("mien:resnet-tiny") == (
        "error: unknown backbone reference 'mien:resnet-tiny'\n"
        "    hint: did you mean 'mine:resnet-tiny'? a reference starts with one of hf:, mine:, py:, timm:, zoo:")


def test_an_unknown_scheme_in_a_spec_is_reported_at_the_spec_line_on_compile():
    spec = adaptgraph.loads('edge @0 -> @1\nbackbone "tim:vit_tiny"', path="net.adapt")
    with pytest.raises(BackboneError) as err:
        adaptgraph.compile(spec)
    assert str(err.value) == (
        "net.adapt:2:10: error: unknown backbone reference 'tim:vit_tiny' (backbone)\n"
        '    backbone "tim:vit_tiny"\n'
        "             ^^^^^^^^^^^^^^\n"
        "    hint: did you mean 'timm:vit_tiny'? a reference starts with one of hf:, py:, timm:, zoo:")
