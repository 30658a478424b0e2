"""One registry shape for every extension point: a name is bound once (a second registration is refused,
naming both entries), an unknown name gets the registered ones and a "did you mean", and a new entry
works where the built-in ones do."""
from __future__ import annotations

import numpy as np
import pytest

from adaptgraph.backbones.registry import SCHEMES
from adaptgraph.errors import AdaptGraphError, SearchError, TaskError, TraceError
from adaptgraph.graph import FRONTENDS
from adaptgraph.registry import Registry
from adaptgraph.searcher import EXECUTORS, MUTATIONS, STRATEGIES
from adaptgraph.searcher.executors import LocalExecutor, make_executor
from adaptgraph.searcher.mutations import mutate
from adaptgraph.searcher.strategies import make_strategy
from adaptgraph.searcher.space import Budget, SearchSpace
from adaptgraph.tasks import PROVIDERS, load_task


class _Error(AdaptGraphError):
    """The error a test registry raises."""


def _first():
    pass


def _second():
    pass


def test_a_name_is_bound_once_and_the_refusal_names_both_entries():
    registry = Registry("widget", _Error)
    assert registry.register("a", _first) is _first
    with pytest.raises(_Error) as err:
        registry.register("a", _second)
    problem = err.value.problems[0]
    assert problem.message == (f"widget 'a' is already registered to {__name__}._first; "
                               f"refusing {__name__}._second")
    assert problem.hint == f"register {__name__}._second under another name"
    assert registry.lookup("a") is _first  # the first registration stands


def test_an_unknown_name_lists_the_registered_ones_with_did_you_mean():
    registry = Registry("widget", _Error)
    registry.register("alpha", _first)
    registry.register("beta", _second)
    with pytest.raises(_Error) as err:
        registry.lookup("alpah")
    assert (err.value.problems[0].message, err.value.problems[0].hint) == (
        "unknown widget 'alpah'; choose one of alpha, beta", "did you mean 'alpha'?")
    assert registry.names() == ("alpha", "beta") == tuple(registry) and len(registry) == 2
    assert "beta" in registry and "gamma" not in registry and registry.values() == (_first, _second)


@pytest.mark.parametrize("registry, error, name", [
    (SCHEMES, AdaptGraphError, "zoo"), (FRONTENDS, TraceError, "fx"), (PROVIDERS, TaskError, "digits"),
    (STRATEGIES, SearchError, "gga"), (MUTATIONS, SearchError, "add"), (EXECUTORS, SearchError, "local"),
], ids=lambda v: getattr(v, "what", None))
def test_every_extension_point_refuses_a_taken_name(registry, error, name):
    before = registry.lookup(name)
    with pytest.raises(error, match=f"'{name}' is already registered to .*; refusing .*_second"):
        registry.register(name, _second)
    assert registry.lookup(name) is before


def test_a_registered_task_provider_loads_by_reference(monkeypatch):
    monkeypatch.setattr(PROVIDERS, "_entries", dict(PROVIDERS._entries))  # the real table is restored after
    seen = []

    def load_small(ref, seed):
        seen.append((ref.body, ref.get("size"), seed))
        return load_task(f"digits?size={ref.get('size')}", seed)

    PROVIDERS.register("small", load_small)
    assert load_task("small:x?size=8", seed=3).num_classes == 10 and seen == [("x", "8", 3)]


def test_a_registered_strategy_and_executor_are_made_by_name(monkeypatch):
    for registry in (STRATEGIES, EXECUTORS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))

    class Only:
        name = "only"
        needs_scores = False
        trials_setting = "sample"

        def __init__(self, sample=None):
            self.sample = sample

    STRATEGIES.register(Only.name, Only)
    EXECUTORS.register("inline", LocalExecutor)
    assert make_strategy("only", 2).sample == 2  # --trials reaches the setting the strategy names
    assert isinstance(make_executor("inline"), LocalExecutor)


def test_a_registered_mutation_is_drawn_by_default(monkeypatch):
    monkeypatch.setattr(MUTATIONS, "_entries", dict(MUTATIONS._entries))
    space = SearchSpace(("@0", "@1", "@2"), (8, 8, 8), (0, 1, 2), Budget(adapters=(2,)), "zoo:bert-tiny")
    genome = (space.gene(0, 1),)

    def same(genome, space, rng, max_adapters):
        return genome, "same"

    MUTATIONS.register("same", same)
    hows = {mutate(genome, space, np.random.default_rng(seed))[1] for seed in range(40)}
    assert "same" in hows
    assert mutate(genome, space, np.random.default_rng(0), kinds=("same",)) == (genome, "same")
