"""``--strategy hyperband``: the candidate pool, promotion by the signal through Optuna's pruner, rungs and
brackets, exact step counts, the user errors, and resuming after kill -9."""
import json
import sys
from collections import Counter

import numpy as np
import pytest
from search_fixtures import quick_search, synthetic_space
from test_kill_resume import kill_mid_trial_then_resume, trials_of

from adaptgraph.cli import build_parser, main
from adaptgraph.errors import SearchError
from adaptgraph.searcher import Budget, Fidelity, ProcessExecution
from adaptgraph.searcher.strategies import make_strategy
from adaptgraph.searcher.hyperband import Hyperband, Ladder
from adaptgraph.searcher.journal import FINISHED, read_journal
from adaptgraph.searcher.records import TrialOutcome, TrialRecord


def outcome(p, loss, val_loss=None) -> TrialOutcome:
    return TrialOutcome(p.trial, "search", "ok", {"accuracy": 0.5, "loss": val_loss if val_loss is not None else 1.0},
                        None, p.params, train_loss=loss, steps=p.steps)


def asha_promotes(value: float, earlier: list[float], eta: int) -> bool:
    """The asynchronous successive-halving rule, written out: promoted when the value is within the best
    len/eta (at least the best one) of the values that reached the rung so far, itself included."""
    values = sorted(earlier + [value])
    return value <= values[max(len(values) // eta - 1, 0)]


def test_rungs_brackets_and_settings_errors():
    hb = Hyperband(candidates=27, min_steps=10, max_steps=90, eta=3)
    assert hb.levels == 2 and hb.bracket_count == 3
    assert [hb.rungs(b) for b in range(3)] == [[10, 30, 90], [30, 90], [90]]
    assert hb.bracket_sizes(27) == [14, 8, 5] and sum(hb.bracket_sizes(7)) == 7  # Hyperband's shares 9:5:3
    assert Hyperband(brackets=1).bracket_sizes(9) == [9]
    with pytest.raises(SearchError, match=r"max_steps \(100\) must be min_steps \(10\) times a power of eta \(3\)"):
        make_strategy("hyperband", 9, max_steps=100)
    with pytest.raises(SearchError, match="hyperband signal"):
        make_strategy("hyperband", signal="accuracy")


@pytest.mark.parametrize("signal_name", ["train_loss", "val_loss"])
def test_optuna_promotes_by_the_signal_as_asha_does(signal_name):
    space = synthetic_space(n=7, budget=Budget(adapters=(1, 2, 3)))
    hb = Hyperband(candidates=12, min_steps=2, max_steps=18, eta=3, brackets=1, signal=signal_name)
    ladder = Ladder(hb, space, seed=0)
    assert [p.steps for p in ladder.initial] == [2] * 12 and len({p.hash for p in ladder.initial}) == 12
    rng = np.random.default_rng(1)
    at_rung: dict[int, list[float]] = {}
    queue, told = list(ladder.initial), 0
    while queue:
        p = queue.pop(0)
        value = float(rng.normal())
        other = float(rng.normal())  # the signal not chosen must not matter
        loss, val = (value, other) if signal_name == "train_loss" else (other, value)
        promoted = ladder.tell(TrialRecord(p, outcome(p, loss, val)))
        told += 1
        earlier = at_rung.setdefault(p.steps, [])
        expected = p.steps < 18 and asha_promotes(value, earlier, 3)
        earlier.append(value)
        assert bool(promoted) == expected
        if promoted:
            (q,) = promoted
            assert (q.hash, q.steps, q.parent, q.round) == (p.hash, p.steps * 3, p.trial, p.round + 1)
            queue.append(q)
    assert ladder.finished and len(ladder.history) == told
    assert set(at_rung) == {2, 6, 18} and len(at_rung[6]) < 12 and len(at_rung[18]) < len(at_rung[6])
    # the best comes from the top rung only, however good a short trial's numbers were
    assert ladder.best.proposal.steps == 18


def test_failed_trials_are_not_promoted_and_references_train_at_max_steps():
    from adaptgraph.searcher.records import Candidate
    from adaptgraph.searcher.space import baseline_genome

    space = synthetic_space(n=5, budget=Budget(adapters=(2,)))
    ref = Candidate(baseline_genome(space), "baseline", name="baseline")
    ladder = Ladder(Hyperband(candidates=4, min_steps=1, max_steps=3, eta=3, brackets=1), space, seed=0,
                    references=[ref])
    first, *rest = ladder.initial
    assert first.mutation == "baseline" and first.steps == 3 and all(p.steps == 1 for p in rest)
    assert ladder.tell(TrialRecord(first, outcome(first, 0.1))) == []
    p = rest[0]
    failed = TrialOutcome(p.trial, "search", "failed", error="boom")
    assert ladder.tell(TrialRecord(p, failed)) == []


def test_candidates_mix_gga_random_and_mutations_within_the_budget():
    space = synthetic_space(n=8, budget=Budget(adapters=(2, 3), params=2000))
    pool = Hyperband(candidates=15).propose(0, (), space, np.random.default_rng(0))
    how = [c.mutation for c in pool]
    assert how[:2] == ["gga k=2", "gga k=3"]
    assert any(h.startswith("random k=") for h in how) and any("(of " in h for h in how)
    assert len(pool) == 15 and all(space.fits(c.genome) for c in pool)
    unscored = Hyperband(candidates=6, gga=False)
    assert not unscored.needs_scores
    assert not any(c.mutation.startswith("gga") for c in unscored.propose(0, (), space, np.random.default_rng(0)))


def test_every_training_step_is_counted(task_file, tmp_path):
    hb = Hyperband(candidates=5, min_steps=2, max_steps=6, eta=3, gga=False)
    result = quick_search(task_file, tmp_path / "run", strategy=hb, fidelity=None, final="best")
    records = [r for r in read_journal(tmp_path / "run" / "journal.jsonl") if r["event"] == FINISHED]
    search = [r for r in records if r["stage"] == "search"]
    assert all(r["steps"] == r["fidelity_steps"] for r in search)  # each trial trained exactly its rung
    assert result.steps["search"] == sum(t.steps for t in result.trials) == sum(r["fidelity_steps"] for r in search)
    assert result.steps["final"] == sum(r["steps"] for r in records if r["stage"] == "final") > 0
    assert Counter(t.steps for t in result.trials)[2] == hb.bracket_sizes(5)[0] == 3 and result.best.steps == 6
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == result.steps and summary["settings"]["fidelity"] is None


def test_user_errors(task_file, tmp_path, capsys):
    with pytest.raises(SearchError, match="hyperband sets the steps of each trial itself"):
        quick_search(task_file, tmp_path / "a", strategy=Hyperband(), fidelity=Fidelity(steps=4))
    base = ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "--out", str(tmp_path / "b")]
    assert main(base + ["--eta", "2"]) == 2  # a usage error
    assert "--eta is an option of the hyperband strategy, but the strategy is 'gga'" in capsys.readouterr().err
    assert main(base + ["--strategy", "hyperband", "--max-steps", "50"]) == 1
    assert "max_steps (50) must be min_steps (10) times a power of eta (3)" in capsys.readouterr().err


def test_help_names_the_strategy_and_its_options(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "single, random, gga, evolve, hyperband" in out and "--strategy hyperband" in out
    for option in ("--min-steps N", "--max-steps N", "--eta N", "--brackets N", "--signal SIGNAL", "--pool POOL"):
        assert option in out
    assert "hyperband: N candidate specs (default 27)" in out


def command(task_file, out) -> list[str]:
    return ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "--strategy", "hyperband",
            "--trials", "6", "--min-steps", "10", "--max-steps", "30", "--brackets", "1", "-k", "1", "2",
            "--epochs", "1", "--batch-size", "8", "--lr", "0.01", "--score-batches", "1", "--score-head", "random",
            "--final", "best", "--out", str(out)]


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(task_file, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(command(task_file, whole)) == 0

    finished = kill_mid_trial_then_resume(lambda out: command(task_file, out), killed)
    assert trials_of(killed) == trials_of(whole)
    steps = [json.loads((d / "summary.json").read_text())["steps"] for d in (whole, killed)]
    assert steps[0] == steps[1] and steps[0]["search"] == 6 * 10 + 30 * sum(
        r["fidelity_steps"] == 30 for r in finished if r["stage"] == "search")


@pytest.mark.slow
def test_on_worker_processes_promotions_run_as_trials_finish(task_file, tmp_path):
    hb = Hyperband(candidates=5, min_steps=2, max_steps=6, eta=3, gga=False)
    local = quick_search(task_file, tmp_path / "local", strategy=hb, fidelity=None, final="best")
    spread = quick_search(task_file, tmp_path / "process", strategy=hb, fidelity=None, final="best",
                          executor=ProcessExecution(workers=2))

    def first_trials(result):  # which later trials exist depends on the order trials finish in (ASHA)
        return [(t.hash, t.steps, t.validation_accuracy) for t in result.trials if t.trial < hb.candidates]

    assert first_trials(spread) == first_trials(local)
    assert spread.steps["search"] == sum(t.steps for t in spread.trials) and spread.best.steps == 6


def test_without_optuna_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what `import optuna` meets where it is not installed
    with pytest.raises(SearchError, match=r"needs Optuna, which is not installed") as e:
        Ladder(Hyperband(candidates=2, min_steps=1, max_steps=3, gga=False), synthetic_space(), seed=0)
    assert "pip install 'adaptgraph[search]'" in e.value.format()
