"""Command choices are read from their homes (lazily, so building the parser imports no torch:
tests/spec/test_no_torch.py runs `check`, which builds every command's parser)."""
import pytest

from adaptgraph.cli import main
from adaptgraph.score import METRICS
from adaptgraph.tasks import SPLITS


@pytest.mark.parametrize("argv, home", [
    (["search", "--task", "digits", "--backbone", "zoo:vit-tiny", "--metric", "frobenius"], METRICS),
    (["eval", "runs/x", "--split", "dev"], SPLITS),
])
def test_a_value_outside_the_home_list_is_a_usage_error_listing_it(argv, home, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    bad = argv[-1]
    assert f"invalid choice: {bad!r} (choose from {', '.join(map(repr, home))})" in capsys.readouterr().err


def test_metric_init_and_ranks_reach_the_search(monkeypatch, tmp_path, capsys):
    import adaptgraph.searcher
    from adaptgraph.cli import main

    seen = {}

    def fake_search(task, backbone, config, **kwargs):  # stop before any training: only the config matters here
        seen.update(dict(config))
        raise SystemExit(3)

    monkeypatch.setattr(adaptgraph.searcher, "search", fake_search)
    try:
        main(["search", "--task", "digits", "--backbone", "zoo:vit-tiny", "--metric", "fro", "--init", "grad",
              "--ranks", "allocated", "--out", str(tmp_path / "s")])
    except SystemExit:
        pass
    assert seen["scoring"].metric == "fro"
    assert seen["budget"].init == "grad" and seen["budget"].ranks == "allocated"
