"""SearchConfig: one frozen model of every search option; its manifest is what a resumed search compares."""
import pydantic
import pytest

from adaptgraph.errors import SearchError
from adaptgraph.searcher import (GGA, Budget, Evolve, Fidelity, Hyperband, LocalExecution, ProcessExecution,
                                 RayExecution, SearchConfig, search_config)
from adaptgraph.searcher.config import RUN_OPTIONS, field_default


def test_it_is_frozen_and_refuses_an_unknown_option():
    config = SearchConfig()
    with pytest.raises(pydantic.ValidationError):
        config.seed = 1
    with pytest.raises(SearchError, match="run_dir: Extra inputs are not permitted"):
        search_config(run_dir="runs/x")


def test_names_become_settings_objects():
    config = SearchConfig(strategy="evolve", trials=5, executor="process")
    assert config.strategy == Evolve(trials=5) and config.executor == ProcessExecution()
    assert SearchConfig().strategy == GGA() and SearchConfig().executor == LocalExecution()
    with pytest.raises(SearchError, match="give trials to the strategy object itself"):
        SearchConfig(strategy=GGA(), trials=3)


def test_the_manifest_leaves_out_what_does_not_change_the_result():
    plain = SearchConfig(strategy="evolve", trials=5)
    spread = SearchConfig(strategy=Evolve(trials=5), executor=RayExecution(address="auto"), plot=False, resume=True)
    assert plain.manifest() == spread.manifest()  # a search may be resumed on another executor
    assert not RUN_OPTIONS & set(plain.manifest())
    assert plain.manifest()["strategy"]["name"] == "evolve" and plain.manifest()["baseline"] is True
    assert SearchConfig(budget=Budget(rank=4)).manifest() != SearchConfig().manifest()


def test_hyperband_refuses_a_fidelity():
    with pytest.raises(SearchError, match="hyperband sets the steps of each trial itself"):
        SearchConfig(strategy=Hyperband(), fidelity=Fidelity(steps=4))
    assert SearchConfig(strategy=Hyperband(), fidelity=None).manifest()["fidelity"] is None


def test_defaults_are_read_from_their_one_home():
    assert field_default("budget.rank") == Budget().rank
    assert field_default("strategy.gamma") == GGA().gamma == Evolve().gamma == Hyperband().gamma
    assert field_default("executor.workers") == ProcessExecution().workers
    assert field_default("strategy.min_steps") == Hyperband().min_steps
