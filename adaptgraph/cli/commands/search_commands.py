"""`search`: propose adapter placements, train them briefly, keep and retrain the best."""
from __future__ import annotations

import json
import os
import sys

from ..number_flags import Choices
from ...errors import UsageError
from ...spec.edge_facts import KINDS
from ...spec.models import Init
from . import NO_PROGRESS_HELP, TRUST_CODE_HELP

EXAMPLES = """examples:
  # four adapters chosen by gradient rank, two candidate sizes, 100 training steps per trial
  adaptgraph search --task "wordnet:noun?per_class=100" --backbone hf:minilm --strategy gga -k 2 4 \\
      --fidelity-steps 100 --out runs/gga
  # the heat-map sweep: every single edge, on two worker processes
  adaptgraph search --task digits --backbone zoo:vit-tiny --strategy single --executor process --workers 2
  # evolve 40 trials from the GGA picks and the every-sub-layer baseline, at most 20,000 parameters
  adaptgraph search --task csv:data.csv --backbone zoo:bert-tiny --strategy evolve --trials 40 \\
      --budget-params 20000 -k 6 --kinds sequential parallel longrange --out runs/evo
  # multi-fidelity: 27 candidates from 10 steps, the best by training loss promoted to 30, then 90 steps
  adaptgraph search --task "wordnet:noun?per_class=100" --backbone hf:minilm --strategy hyperband -k 2 4 \\
      --trials 27 --min-steps 10 --max-steps 90 --eta 3 --executor process --workers 2 --out runs/hb
  # multi-objective: NSGA-II breeds 8 specs a generation toward the front of validation loss vs parameters
  adaptgraph search --task "wordnet:noun?per_class=100" --backbone hf:minilm --strategy nsga2 -k 4 \\
      --trials 32 --population 8 --fidelity-steps 40 --executor process --workers 2 --out runs/nsga2
  # after an interruption (Ctrl-C, kill -9, a reboot): the same command plus --resume
  adaptgraph search --task csv:data.csv --backbone zoo:bert-tiny --strategy evolve --trials 40 \\
      --budget-params 20000 -k 6 --kinds sequential parallel longrange --out runs/evo --resume
  # on a Ray cluster, one GPU per trial where the cluster has GPUs
  adaptgraph search --task digits --backbone zoo:vit-tiny --strategy random -k 3 --trials 20 \\
      --executor ray --ray-address auto

The run folder (--out) gets journal.jsonl, manifest.json, summary.json, best.adapt,
best.safetensors, pareto.csv, progress.png and best.png (the best placement).
"""


class FieldDefault:
    """A flag's default, read from its ``SearchConfig`` field (``budget.rank``) when ``--help`` shows it: lazily,
    so building the parser imports no torch. A flag left at it is not passed on, and the field's default applies."""

    def __init__(self, path: str):
        self.path = path

    def __str__(self) -> str:
        from ...searcher.config import field_default

        value = field_default(self.path)
        return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _given(args, dest: str):
    """The flag's value, or None where it was left at its default."""
    value = getattr(args, dest)
    return None if isinstance(value, FieldDefault) else value


def register(sub) -> None:
    import argparse

    p = sub.add_parser("search", help="search for where adapters go: propose specs, train them, keep the best",
                       description="Propose placements with a strategy (gga: by gradient scores; random; single: "
                                   "every single edge; evolve: mutate the best; hyperband: many candidates, more "
                                   "steps for the best; nsga2: breed toward the front of validation loss against "
                                   "parameters), train each briefly (the search "
                                   "fidelity), rank them by validation loss, then retrain the best (and the "
                                   "baseline, or the whole Pareto front) at full budget and test it. Every "
                                   "finished trial is journaled in --out, so --resume continues after an "
                                   "interruption.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to search")
    what.add_argument("--task", required=True, metavar="TASK", help="wordnet:..., csv:PATH, jsonl:PATH, digits or lm:PATH")
    what.add_argument("--backbone", required=True, metavar="REF", help="zoo:NAME, hf:minilm, hf:PATH, timm:NAME")
    what.add_argument("--strategy", default=FieldDefault("strategy.name"), choices=Choices("adaptgraph.searcher", "STRATEGIES"),
                      metavar="STRATEGY", help="how specs are proposed: %(choices)s (default %(default)s)")
    what.add_argument("-k", "--adapters", default=FieldDefault("budget.adapters"), type=int, nargs="+", metavar="K",
                      help="adapter counts: gga proposes one spec per K, random draws specs of each K, "
                           "evolve stays at or below the largest (default %(default)s)")
    what.add_argument("--budget-params", type=int, metavar="N", help="at most N trainable adapter parameters per spec")
    what.add_argument("--kinds", nargs="+", choices=KINDS, metavar="KIND",
                      help=f"allowed edge kinds (default all: {' '.join(KINDS)})")
    what.add_argument("--rank", type=int, default=FieldDefault("budget.rank"), help="rank of the proposed adapters (default %(default)s)")
    what.add_argument("--trials", type=int, metavar="N",
                      help="single: sample N edges; random: N draws per K; evolve: N trials in all (default 24); "
                           "hyperband: N candidate specs (default 27); nsga2: N distinct specs evaluated "
                           "(default 24)")
    what.add_argument("--baseline", action=argparse.BooleanOptionalAction,
                      help="also train the every-sub-layer baseline (parallel @k -> @k+1 for all k); "
                           "default: only with evolve, where it is a seed")
    what.add_argument("--spec", action="append", default=[], metavar="FILE",
                      help="a spec of your own to train beside the proposals (repeatable); evolve mutates it")
    what.add_argument("--gamma", type=float, default=FieldDefault("strategy.gamma"), help="GGA discount (gga, evolve; default %(default)s)")
    what.add_argument("--population", type=int, default=FieldDefault("strategy.population"), help="evolve: children per round; nsga2: specs per generation (default %(default)s)")
    what.add_argument("--score-batches", type=int, default=FieldDefault("scoring.batches"), help="batches of the scoring pass (default %(default)s)")
    what.add_argument("--score-batch-size", type=int, metavar="N", default=FieldDefault("scoring.batch_size"), help="examples per batch of the scoring pass (default %(default)s)")
    what.add_argument("--score-max-length", type=int, metavar="N", default=FieldDefault("scoring.max_length"),
                      help="longest token sequence of the scoring pass (default %(default)s)")
    what.add_argument("--score-probe-steps", type=int, metavar="N", default=FieldDefault("scoring.probe_steps"),
                      help="training steps of the scoring pass's linear probe (default %(default)s)")
    what.add_argument("--score-head", default=FieldDefault("scoring.head"), choices=Choices("adaptgraph.tasks", "HEADS"), metavar="HEAD",
                      help="task head of the scoring pass: a briefly trained linear probe (default, %(default)s) or random")
    what.add_argument("--metric", default=FieldDefault("scoring.metric"), choices=Choices("adaptgraph.score", "METRICS"), metavar="METRIC",
                      help="edge score that GGA picks by and evolve draws new edges by: %(choices)s "
                           "(default %(default)s, the paper's)")
    what.add_argument("--init", choices=Init.__args__, metavar="INIT",
                      help="initialisation of every proposed adapter: %(choices)s (grad: from its edge's gradient; "
                           "default zero)")
    what.add_argument("--ranks", default=FieldDefault("budget.ranks"), choices=Choices("adaptgraph.score.select", "RANK_MODES"), metavar="MODE",
                      help="allocated: GGA picks get ranks shared out from their gradient spectra within the same "
                           "parameters (default %(default)s: --rank everywhere)")

    hb = p.add_argument_group("hyperband (multi-fidelity: see docs/search.md)")
    hb.add_argument("--min-steps", type=int, default=FieldDefault("strategy.min_steps"), metavar="N", help="training steps of the lowest rung (default %(default)s)")
    hb.add_argument("--max-steps", type=int, default=FieldDefault("strategy.max_steps"), metavar="N",
                    help="training steps of the highest rung, --min-steps times a power of --eta (default %(default)s)")
    hb.add_argument("--eta", type=int, default=FieldDefault("strategy.eta"), metavar="N",
                    help="each rung trains N times more steps and keeps about 1 in N specs (default %(default)s)")
    hb.add_argument("--brackets", type=int, metavar="N",
                    help="Hyperband brackets, most aggressive first (default all; 1: successive halving)")
    hb.add_argument("--signal", default=FieldDefault("strategy.signal"), choices=Choices("adaptgraph.searcher.hyperband", "SIGNALS"), metavar="SIGNAL",
                    help="what promotes a spec: %(choices)s (default %(default)s: measured during training, "
                         "as reproducible across seeds as val_loss)")
    hb.add_argument("--pool", choices=("gga", "random"), metavar="POOL",
                    help="candidates (hyperband) or first generation (nsga2): gga (default: GGA picks, mutations "
                         "drawn by score, random placements) or random (random placements and their mutations, "
                         "no scoring pass)")

    ga = p.add_argument_group("nsga2 (multi-objective, Optuna's NSGA-II: see docs/search.md)")
    ga.add_argument("--objective", default=FieldDefault("strategy.objective"),
                    choices=Choices("adaptgraph.searcher.nsga2", "OBJECTIVES"), metavar="OBJECTIVE",
                    help="what is traded against trainable parameters: %(choices)s (default %(default)s, what "
                         "ranks trials)")
    ga.add_argument("--crossover-prob", type=float, default=FieldDefault("strategy.crossover_prob"), metavar="P",
                    help="probability that a child crosses two parents (default %(default)s)")
    ga.add_argument("--mutation-prob", type=float, metavar="P",
                    help="probability that each encoded value of a child is redrawn (default 1 / number of values)")

    how = p.add_argument_group("training")
    fid = how.add_mutually_exclusive_group()
    fid.add_argument("--fidelity-steps", type=int, metavar="N", help="train each trial for N steps")
    fid.add_argument("--fidelity-epochs", type=int, metavar="N", help="train each trial for N epochs (default 1)")
    how.add_argument("--epochs", type=int, help="full budget of the final retraining (default 3)")
    how.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    how.add_argument("--batch-size", type=int, help="examples per step (default 32)")
    how.add_argument("--max-length", type=int, help="longest token sequence (default 128)")
    how.add_argument("--device", help="cpu, cuda, cuda:N or auto (default auto)")
    how.add_argument("--checkpointing", action="store_true",
                     help="activation checkpointing per backbone block: less memory, one more forward, same gradients")
    how.add_argument("--torch-compile", action="store_true",
                     help="run training steps under torch.compile: a one-off compile (reported), then faster "
                          "steps; the same results within float rounding")
    how.add_argument("--final", default=FieldDefault("final"), choices=Choices("adaptgraph.searcher.config", "FINALS"), metavar="WHICH",
                     help="retrain at full budget and test: the best spec (and the baseline, if trained), or "
                          "also the whole Pareto front (default %(default)s)")
    how.add_argument("--seed", type=int, default=FieldDefault("seed"), help="seed of proposals and trials (default %(default)s)")
    how.add_argument("--task-seed", type=int, default=FieldDefault("task_seed"), help="seed of the task's split (default %(default)s)")

    run = p.add_argument_group("running")
    run.add_argument("--executor", default=FieldDefault("executor.kind"), choices=Choices("adaptgraph.searcher", "EXECUTORS"),
                     metavar="EXECUTOR", help="where trials run: %(choices)s (default %(default)s)")
    run.add_argument("--workers", type=int, default=FieldDefault("executor.workers"), help="process executor: worker processes (default %(default)s)")
    run.add_argument("--threads", type=int, default=FieldDefault("threads"),
                     help="CPU threads per trial (default %(default)s); results match across executors for equal values")
    run.add_argument("--ray-address", metavar="auto|HOST:PORT", help="ray executor: the cluster to join "
                     "(default: start a new local Ray instance, even if a cluster runs on this machine; "
                     "'auto' joins the running one)")
    run.add_argument("--cpus-per-trial", type=float, help="ray executor: CPUs per trial (default 1)")
    run.add_argument("--gpus-per-trial", type=float, help="ray executor: GPUs per trial (default 1 when the "
                     "cluster has GPUs, else 0)")
    run.add_argument("--out", metavar="DIR", help="run folder (default runs/search_STRATEGY)")
    run.add_argument("--resume", action="store_true", help="continue the search in --out after an interruption")
    run.add_argument("--no-plot", dest="plot", action="store_false",
                     help="skip progress.png and best.png (default: write them)")
    run.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP + " (in every trial)")
    p.set_defaults(run=run_search)


# flag (its argparse dest) -> the SearchConfig option it sets ("budget.rank": the rank of config.budget). A flag
# left out is None here and the option keeps the model's default, so each default has one home
# (tests/cli/test_search_flags.py checks that every option has a flag and each help states its default).
OPTIONS = {
    "adapters": "budget.adapters", "budget_params": "budget.params", "kinds": "budget.kinds", "rank": "budget.rank",
    "init": "budget.init", "ranks": "budget.ranks", "fidelity_steps": "fidelity.steps",
    "fidelity_epochs": "fidelity.epochs", "score_batches": "scoring.batches", "score_batch_size": "scoring.batch_size",
    "score_max_length": "scoring.max_length", "score_head": "scoring.head", "score_probe_steps": "scoring.probe_steps",
    "metric": "scoring.metric", "seed": "seed", "task_seed": "task_seed", "baseline": "baseline", "final": "final",
    "threads": "threads", "resume": "resume", "plot": "plot", "trust_code": "trust_code",
    "executor": "executor.kind", "workers": "executor.workers", "ray_address": "executor.address",
    "cpus_per_trial": "executor.cpus_per_trial", "gpus_per_trial": "executor.gpus_per_trial",
}
# the strategy's settings (built by make_strategy: --trials reaches the setting the strategy names)
STRATEGY_OPTIONS = {"trials": "trials", "gamma": "gamma", "population": "population", "min_steps": "min_steps",
                    "max_steps": "max_steps", "eta": "eta", "brackets": "brackets", "signal": "signal",
                    "pool": "gga", "objective": "objective", "crossover_prob": "crossover_prob",
                    "mutation_prob": "mutation_prob"}
# the strategies each strategy's setting applies to; a flag of a setting the chosen strategy lacks is refused,
# where it has a group of its own (the shared --gamma/--population are ignored elsewhere, as before)
APPLIES = {"gga": ("gamma",), "evolve": ("gamma", "population"),
           "hyperband": ("gamma", "min_steps", "max_steps", "eta", "brackets", "signal", "gga"),
           "nsga2": ("gamma", "population", "gga", "objective", "crossover_prob", "mutation_prob")}
OWN_GROUP = ("min_steps", "max_steps", "eta", "brackets", "signal", "pool", "objective", "crossover_prob",
             "mutation_prob")


def run_search(args) -> int:
    from ...searcher import search

    config = search_config(args)
    out = args.out or f"runs/search_{config.strategy.name}"
    try:
        result = search(args.task, args.backbone, config, out=out, progress=False if args.no_progress else None)
    except KeyboardInterrupt:
        print(f"search interrupted; every finished trial is in {out}/journal.jsonl. "
              "Run the same command with --resume to continue.", file=sys.stderr)
        raise
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print(result, out)
    best = result.best
    if best is not None and best.final_status not in (None, "ok"):  # a script must not take it for a result
        print(f"error: the best trial's retraining at full budget failed, so {out} holds no best.safetensors; "
              f"its error is in {out}/journal.jsonl", file=sys.stderr)
        print("    hint: fix the cause and run the same command with --resume: only that retraining runs again",
              file=sys.stderr)
        return 1
    return 0


def search_config(args):
    """The SearchConfig of the flags: each given flag sets its option, the rest keep the model's defaults."""
    from ...searcher import search_config as build
    from ...spec import load
    from ...train import train_config

    values: dict = {"strategy": _strategy(args), "specs": [load(path) for path in args.spec],
                    "train": train_config(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                          max_length=args.max_length, device=args.device,
                                          checkpointing=args.checkpointing or None,
                                          torch_compile=args.torch_compile or None)}
    for dest, path in OPTIONS.items():
        value = _given(args, dest)
        if value is not None:
            *owners, name = path.split(".")
            place = values
            for owner in owners:
                place = place.setdefault(owner, {})
            place[name] = tuple(value) if isinstance(value, list) else value
    if "executor" in values:
        values["executor"].setdefault("kind", "local")
    return build(**values)


def _strategy(args):
    from ...searcher.strategies import make_strategy

    name = str(args.strategy)  # a given name, or the default read from SearchConfig
    for dest in OWN_GROUP:
        owners = [s for s, settings in APPLIES.items() if STRATEGY_OPTIONS[dest] in settings]
        if _given(args, dest) is not None and name not in owners:
            raise UsageError(f"--{dest.replace('_', '-')} is an option of the {' and '.join(owners)} "
                             f"strateg{'ies' if len(owners) > 1 else 'y'}, but the strategy is {name!r}",
                             hint=f"add --strategy {owners[0]}, or leave the option out")
    given = {setting: _given(args, dest) for dest, setting in STRATEGY_OPTIONS.items()
             if _given(args, dest) is not None and dest != "trials"}
    if "gga" in given:
        given["gga"] = given["gga"] == "gga"
    return make_strategy(name, args.trials, **{k: v for k, v in given.items() if k in APPLIES.get(name, ())})


def _print(result, out: str) -> None:
    failed, n = len(result.failed), len(result.trials)
    print(f"{result.strategy} search: {n} trials ({failed} failed, {result.duplicates} duplicate proposals "
          f"skipped) in {result.seconds:.1f} s; {result.steps['search']:,} training steps in the search, "
          f"{result.steps['final']:,} in the final retraining")
    b = result.best
    print(f"best: trial {b.trial} ({b.mutation}), {b.adapters} adapter{'s' * (b.adapters != 1)}, "
          f"{b.params:,} trainable parameters")
    print(_stages(b))
    base = result.baseline
    if base is not None:
        print(f"baseline (every sub-layer): trial {base.trial}, {base.adapters} adapters, {base.params:,} "
              "trainable parameters")
        print(_stages(base))
    print()
    print(b.spec_text.rstrip())
    print()
    print(f"written to {out}/: {', '.join(_written(out))}")
    sys.stdout.flush()


def _written(out: str) -> list[str]:
    """The result files the search left in ``out``: a best trial whose final training failed has no
    ``best.safetensors``, and the listing must not claim one."""
    from ...fileio import is_regular_file

    names = ("best.adapt", "best.png", "best.safetensors", "pareto.csv", "progress.png", "summary.json",
             "journal.jsonl")
    return [name for name in names if is_regular_file(os.path.join(out, name))]


def _stages(t) -> str:
    """A trial's accuracies, each named by its stage: the search's short training, then the full-budget retraining."""
    line = f"  validation accuracy {_pct(t.validation_accuracy)} at the search fidelity"
    if t.final_status == "ok":
        return line + (f"; retrained at full budget: validation {_pct(t.final_validation_accuracy)}, "
                       f"test {_pct(t.test_accuracy)}")
    return line + ("; retraining at full budget failed (see the journal)" if t.final_status else
                   "; not retrained at full budget")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
