"""`adaptgraph search` builds a SearchConfig: every option has a flag, and every flag's default is its field's."""
import argparse

import pytest

from adaptgraph.cli import build_parser, main
from adaptgraph.cli.commands.search_commands import OPTIONS, STRATEGY_OPTIONS, FieldDefault
from adaptgraph.searcher import Budget, Hyperband, ProcessExecution, RayExecution, Scoring, SearchConfig
from adaptgraph.searcher.config import field_default
from adaptgraph.searcher.settings import Fidelity

# options set by a flag of their own outside the tables: --strategy/--trials build the strategy, --spec loads
# files, the training flags build the TrainConfig (train_config)
OWN_FLAGS = {"strategy", "trials", "specs", "train"}


def _search_actions() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["search"]._actions}


def _leaves() -> set[str]:
    """Every option of SearchConfig, nested ones by their path."""
    nested = {"budget": list(Budget.model_fields), "fidelity": list(Fidelity.model_fields),
              "scoring": list(Scoring.model_fields),
              "executor": ["kind", *ProcessExecution.model_fields, *RayExecution.model_fields]}
    out = set()
    for name in SearchConfig.model_fields:
        out |= {f"{name}.{leaf}" for leaf in nested[name]} if name in nested else {name}
    return out


def test_every_option_has_a_flag():
    covered = set(OPTIONS.values()) | OWN_FLAGS | {"strategy.name"}
    assert _leaves() - covered == set()
    assert set(Hyperband.model_fields) - set(STRATEGY_OPTIONS.values()) == {"candidates"}  # --trials gives it
    assert set(_search_actions()) >= set(OPTIONS) | set(STRATEGY_OPTIONS) | {"strategy", "spec"}


@pytest.mark.parametrize("dest, path", [*OPTIONS.items(), *((d, f"strategy.{s}") for d, s in STRATEGY_OPTIONS.items()
                                                            if d not in ("trials", "pool"))])
def test_every_flag_default_is_its_field_default(dest, path):
    action = _search_actions()[dest]
    if isinstance(action.default, FieldDefault):
        assert action.default.path == path
        value = field_default(path)
        assert str(action.default) == (" ".join(map(str, value)) if isinstance(value, tuple) else str(value))
    else:  # None, False, True: the field's own default (None where it means "not set")
        assert action.default == field_default(path), dest


def test_help_shows_the_defaults_of_the_model(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"rank of the proposed adapters (default {Budget().rank})" in text
    assert f"worker processes (default {ProcessExecution().workers})" in text
    assert f"(default {Hyperband().min_steps})" in text


@pytest.mark.parametrize("flags, message", [
    (["--executor", "ray", "--workers", "2"], "workers (--workers) is an option of the process executor, but the "
                                              "executor is 'ray'"),
    (["--gpus-per-trial", "1"], "gpus_per_trial (--gpus-per-trial) is an option of the ray executor, but the "
                                "executor is 'local'"),
])
def test_an_option_of_another_executor_is_refused(flags, message, tmp_path, capsys):
    code = main(["search", "--task", "digits", "--backbone", "zoo:vit-tiny", "--out", str(tmp_path / "s"), *flags])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err  # a SearchError, as before the config
