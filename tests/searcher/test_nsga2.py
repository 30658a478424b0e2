"""``--strategy nsga2``: Optuna's NSGA-II sampler breeds specs toward the front of validation loss (or accuracy)
against trainable parameters; generations are rounds, told in trial order, so the search is the same on every
executor and after ``--resume``; the user errors."""
import json
import shutil
import sys
from collections import Counter

import numpy as np
import optuna
import pytest
from search_fixtures import comparable, quick_search, synthetic_space
from test_kill_resume import kill_mid_trial_then_resume, trials_of

from adaptgraph.cli import main
from adaptgraph.cli.commands.search_commands import STRATEGY_OPTIONS
from adaptgraph.errors import SearchError
from adaptgraph.searcher import NSGA2, Budget, Fidelity, ProcessExecution, Searcher, TrialOutcome, make_strategy
from adaptgraph.searcher.journal import FINISHED, JOURNAL, MANIFEST, STARTED, read_journal
from adaptgraph.searcher.nsga2 import NONE


def loss_of(p) -> float:
    """A synthetic validation loss that trades against parameters: more and wider adapters lower it."""
    return 2.0 - 0.5 * np.log1p(p.params) / np.log1p(3000) - 0.01 * sum(g.src for g in p.genome)


def drive(strategy: NSGA2, space, fail=frozenset()) -> Searcher:
    """Run a searcher to the end with the synthetic loss; trials in ``fail`` fail."""
    searcher = Searcher(strategy, space, seed=0)
    while proposals := searcher.ask():
        for p in proposals:
            if p.trial in fail:
                outcome = TrialOutcome(p.trial, "search", "failed", error="boom")
            else:
                outcome = TrialOutcome(p.trial, "search", "ok", {"accuracy": 1 / loss_of(p), "loss": loss_of(p)},
                                       trainable_params=p.params)
            searcher.tell(p.trial, outcome)
    return searcher


def dominated(a: tuple, b: tuple) -> bool:
    """Whether objectives ``a`` (both minimised) are dominated by ``b``."""
    return b[0] <= a[0] and b[1] <= a[1] and b != a


def test_the_sampler_is_optunas_nsga2_and_breeds_generation_by_generation():
    space = synthetic_space(n=7, budget=Budget(adapters=(1, 2, 3), params=3000))
    searcher = drive(NSGA2(trials=30, population=6), space)
    study = searcher.proposer.study
    assert type(study.sampler) is optuna.samplers.NSGAIISampler and study.sampler.population_size == 6
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    history = searcher.history
    first = [r.proposal for r in history if r.proposal.round == 0]
    assert [p.mutation for p in first[:3]] == ["gga k=1", "gga k=2", "gga k=3"] and len(first) == 6  # the pool
    proposer = searcher.proposer
    assert all(proposer.decode(proposer.encode(p.genome)) == (p.genome, False) for p in first)  # as enqueued
    later = [r.proposal for r in history if r.proposal.round > 0]
    generations = [int(p.mutation.split()[2]) for p in later]
    assert later and all(p.mutation.startswith("nsga2 generation") for p in later)
    # a generation is a round, unless a round was left short (fewer than 6 told): it goes on in the next
    assert generations == sorted(generations) and all(1 <= g <= p.round for g, p in zip(generations, later))
    assert len(set(generations)) >= 5
    assert all(space.fits(r.proposal.genome) for r in history)  # bred children are repaired into the budget
    assert len(searcher.proposer.evaluated) == 30 == len(history)  # distinct specs; duplicates not trained twice
    # every Optuna trial was told the values of the spec it decodes to (a duplicate: the earlier trial's)
    by_hash = {r.proposal.hash: r for r in history}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= len(history)
    for t in complete:
        genome, _ = searcher.proposer.decode(t.params)
        record = by_hash[space.to_spec(genome).content_hash()]
        assert t.values == [loss_of(record.proposal), record.params]
    # Optuna's front of its two objectives is exactly the non-dominated trials
    points = {r.trial: (loss_of(r.proposal), r.params) for r in history}
    front = {p for p in points.values() if not any(dominated(p, q) for q in points.values())}
    assert {tuple(t.values) for t in study.best_trials} == front


def test_children_come_from_the_parents_that_nsga2_selects():
    space = synthetic_space(n=7, budget=Budget(adapters=(1, 2, 3), params=3000))
    searcher = drive(NSGA2(trials=20, population=6, mutation_prob=0.0, crossover_prob=1.0), space)
    study, sampler = searcher.proposer.study, searcher.proposer.sampler
    parents = sampler.get_parent_population(study, 1)
    assert len(parents) == 6
    genes = {v for t in parents for k, v in t.params.items() if k.startswith("edge_")}
    children = [t for t in study.trials if sampler.get_trial_generation(study, t) == 1]
    assert children  # without mutation, every slot of a child is one of its parents' slots
    assert all(v in genes for t in children for k, v in t.params.items() if k.startswith("edge_"))


def test_failed_trials_are_failed_in_the_study_and_the_search_is_deterministic():
    space = synthetic_space(n=6, budget=Budget(adapters=(2,)))
    one = drive(NSGA2(trials=12, population=4, objective="val_accuracy"), space, fail={1, 5})
    two = drive(NSGA2(trials=12, population=4, objective="val_accuracy"), space, fail={1, 5})
    assert [r.proposal.hash for r in one.history] == [r.proposal.hash for r in two.history]
    study = one.proposer.study
    assert study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    failed = {one.history[1].proposal.hash, one.history[5].proposal.hash}
    for t in study.trials:
        genome, _ = one.proposer.decode(t.params)
        if genome is not None and space.to_spec(genome).content_hash() in failed:
            assert t.state == optuna.trial.TrialState.FAIL


def test_a_child_is_repaired_into_the_budget():
    space = synthetic_space(n=6, budget=Budget(adapters=(3,), params=700))
    proposer = NSGA2(trials=9, population=3, gga=False).proposer(space, 0)
    params = {f"{name}_{s}": value for s in range(3)
              for name, value in (("edge", "@1->@3"), ("rank", 16), ("act", "relu"), ("scale", "learn"))}
    params["edge_2"] = "@0->@2"
    genome, repaired = proposer.decode(params)
    assert repaired and len(genome) <= 2 and space.fits(genome)  # the repeated edge once, then within 700
    assert proposer.decode({**params, "edge_0": NONE, "edge_1": NONE, "edge_2": NONE}) == (None, False)


def test_settings_errors(task_file, tmp_path, capsys):
    with pytest.raises(SearchError, match=r"trials \(4\) must be more than population \(8\)"):
        make_strategy("nsga2", 4)
    with pytest.raises(SearchError, match="nsga2 objective"):
        make_strategy("nsga2", objective="accuracy")
    with pytest.raises(SearchError, match="nsga2 population"):
        make_strategy("nsga2", population=1)
    base = ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "--out", str(tmp_path / "b")]
    assert main(base + ["--objective", "val_accuracy"]) == 2
    err = capsys.readouterr().err
    assert "--objective is an option of the nsga2 strategy, but the strategy is 'gga'" in err
    assert "add --strategy nsga2" in err
    assert main(base + ["--strategy", "evolve", "--pool", "random"]) == 2
    assert "--pool is an option of the hyperband and nsga2 strategies, but the strategy is 'evolve'" in \
        capsys.readouterr().err
    assert main(base + ["--strategy", "nsga2", "--trials", "3", "--population", "4"]) == 1
    err = capsys.readouterr().err
    assert "trials (3) must be more than population (4)" in err and "Traceback" not in err
    assert main(base + ["--strategy", "nsga2", "--mutation-prob", "2"]) == 1
    assert "mutation_prob" in capsys.readouterr().err


def test_help_names_the_strategy_and_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "hyperband, nsga2" in out and "--strategy nsga2" in out
    for option in ("--objective OBJECTIVE", "--crossover-prob P", "--mutation-prob P"):
        assert option in out
    assert "nsga2: N distinct specs evaluated (default 24)" in out and "nsga2: specs per generation (default 8)" in out
    assert set(NSGA2.model_fields) <= set(STRATEGY_OPTIONS.values())  # every setting has a flag


SETTINGS = dict(strategy=NSGA2(trials=6, population=3, gga=False), budget=Budget(adapters=(1, 2)), final="front",
                plot=False)


def test_search_journals_every_trial_and_keeps_only_non_dominated_trials_on_the_front(task_file, tmp_path):
    result = quick_search(task_file, tmp_path / "run", **SETTINGS)
    assert result.strategy == "nsga2" and len(result.trials) == 6
    journal = read_journal(tmp_path / "run" / JOURNAL)
    search = [r for r in journal if r["event"] == FINISHED and r["stage"] == "search"]
    assert [r["trial"] for r in search] == [t.trial for t in result.trials]
    assert any(r["mutation"].startswith("nsga2 generation") for r in search)
    ok = [t for t in result.trials if t.status == "ok"]
    points = {t.trial: (-t.validation_accuracy, t.params) for t in ok}
    assert result.front and all(not any(dominated(points[f], q) for q in points.values()) for f in result.front)
    assert all(any(dominated(points[t], points[f]) or points[t] == points[f] for f in result.front)
               for t in points if t not in result.front)  # everything off the front is dominated by it
    finals = {r["trial"] for r in journal if r["event"] == FINISHED and r["stage"] == "final"}
    assert set(result.front) <= finals  # --final front retrains the front
    manifest = json.loads((tmp_path / "run" / MANIFEST).read_text())
    assert manifest["strategy"] == {"name": "nsga2", **NSGA2(trials=6, population=3, gga=False).model_dump()}
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["front"] == list(result.front)


def test_resume_after_a_kill_repeats_no_trial(task_file, tmp_path):
    """A kill leaves the journal cut after some finished trials, with one started and a line half written."""
    whole = quick_search(task_file, tmp_path / "whole", **SETTINGS)
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "whole", killed)  # the run folder as it was, then its journal as the kill left it
    lines = (tmp_path / "whole" / JOURNAL).read_text().splitlines(keepends=True)
    records = [json.loads(line) for line in lines]
    fourth = [k for k, r in enumerate(records) if r["event"] == FINISHED][3]  # trial 3: a bred one
    cut = lines[:fourth] + [lines[fourth][:40]]
    (killed / JOURNAL).write_text("".join(cut))
    before = [r for r in records[:fourth] if r["event"] == FINISHED]
    assert records[fourth]["mutation"].startswith("nsga2 generation")

    resumed = quick_search(task_file, killed, **SETTINGS, resume=True)
    after = read_journal(killed / JOURNAL)
    finished = [r for r in after if r["event"] == FINISHED]
    assert finished[:len(before)] == before  # nothing finished was lost or rewritten
    assert Counter((r["stage"], r["trial"]) for r in finished).most_common(1)[0][1] == 1  # nor repeated
    assert Counter(r["trial"] for r in after if r["event"] == STARTED and r["stage"] == "search")[3] == 2
    assert comparable(resumed) == comparable(whole)


@pytest.mark.slow
def test_fidelity_applies_and_the_process_executor_gives_the_same_trials(task_file, tmp_path):
    settings = {**SETTINGS, "fidelity": Fidelity(steps=3), "final": "best"}
    local = quick_search(task_file, tmp_path / "local", **settings)
    spread = quick_search(task_file, tmp_path / "process", **settings, executor=ProcessExecution(workers=2))
    assert comparable(spread) == comparable(local)
    assert {t.steps for t in local.trials if t.status == "ok"} == {3}  # full fidelity: nothing is pruned


def command(task_file, out) -> list[str]:
    return ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "--strategy", "nsga2",
            "--trials", "6", "--population", "3", "--pool", "random", "-k", "2", "--fidelity-steps", "20",
            "--epochs", "1", "--batch-size", "8", "--lr", "0.01", "--final", "best", "--no-plot", "--out", str(out)]


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(task_file, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(command(task_file, whole)) == 0
    kill_mid_trial_then_resume(lambda out: command(task_file, out), killed)
    assert trials_of(killed) == trials_of(whole)


def test_without_optuna_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what `import optuna` meets where it is not installed
    with pytest.raises(SearchError, match=r"the nsga2 strategy needs Optuna, which is not installed") as e:
        Searcher(NSGA2(gga=False), synthetic_space(), seed=0)
    assert "pip install 'adaptgraph[search]'" in e.value.format()
