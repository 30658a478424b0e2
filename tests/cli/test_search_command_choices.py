"""The search command's choices, written out to keep torch out of the parser, match the registries."""
from adaptgraph.commands import search_commands
from adaptgraph.score import METRICS
from adaptgraph.searcher import EXECUTORS, STRATEGIES
from adaptgraph.searcher.space import RANK_MODES


def test_choices_match_the_registries():
    assert set(search_commands.STRATEGIES) == set(STRATEGIES)
    assert set(search_commands.EXECUTORS) == set(EXECUTORS)
    assert search_commands.METRICS == METRICS and search_commands.RANK_MODES == RANK_MODES


def test_metric_init_and_ranks_reach_the_search(monkeypatch, tmp_path, capsys):
    import adaptgraph.searcher
    from adaptgraph.cli import main

    seen = {}

    def fake_search(*args, **kwargs):  # stop before any training: only the arguments matter here
        seen.update(kwargs)
        raise SystemExit(3)

    monkeypatch.setattr(adaptgraph.searcher, "search", fake_search)
    try:
        main(["search", "--task", "digits", "--backbone", "zoo:vit-tiny", "--metric", "fro", "--init", "grad",
              "--ranks", "allocated", "--out", str(tmp_path / "s")])
    except SystemExit:
        pass
    assert seen["scoring"].metric == "fro"
    assert seen["budget"].init == "grad" and seen["budget"].ranks == "allocated"
