"""``search``: propose specs, train them on an executor, journal everything, retrain the best, write outputs.

The driver replays the journal as it goes: for each round the searcher proposes,
a trial with a ``trial_finished`` line is read back instead of being trained. A
fresh run and a resumed one are the same loop, so a resumed search reaches the
result an uninterrupted one would.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import SearchError
from ..fileio.input_paths import input_paths
from ..spec import Spec
from .config import SearchConfig
from .hyperband import Hyperband, Ladder
from .journal import FINISHED, STARTED, Journal, finite
from .outputs import SCORES, write_outputs, write_summary
from .records import FINAL, SEARCH, Candidate, Proposal, TrialOutcome, TrialRecord, best_of
from .result import SearchResult, pareto_front, summarise
from .searcher import Searcher
from .space import SearchSpace, baseline_genome
from .trial import TrainedTrial, TrialTask, load_task_cached, threads_set

WEIGHTS = "best.safetensors"


def search(task, backbone, config: Optional[SearchConfig] = None, *, out: Union[str, Path, None] = None,
           progress: Optional[bool] = None) -> SearchResult:
    """Search for a placement of adapters on ``backbone`` for ``task`` with ``config`` (a :class:`SearchConfig`,
    default: its defaults); see ``docs/search.md``. With ``out`` everything is journaled in that run folder
    and ``config.resume`` continues an interrupted run; ``progress`` shows progress bars (None: on a terminal).
    """
    from ..backbones import get_backbone

    started = time.perf_counter()
    config = config or SearchConfig()
    bb = get_backbone(backbone, trust_code=config.trust_code)
    task_obj = _checked_task(task, config.task_seed, bb)
    settings = _manifest(task, task_obj, bb.ref, config)
    run_dir = Path(out) if out is not None else None
    journal = Journal.open(run_dir, settings, config.resume, inputs=input_paths(bb, task))
    try:
        strat = config.strategy
        with threads_set(config.threads):  # scores, like trials, must not depend on the machine's thread count
            space = _space(config, bb, task_obj, run_dir, progress)
        refs = _references(space, config.use_baseline, config.specs)
        searcher = (Ladder if isinstance(strat, Hyperband) else Searcher)(strat, space, config.seed, refs)
        ex = config.executor.make()
        job = _Job(searcher, journal, ex, backbone if isinstance(backbone, str) else bb, task, config, settings,
                   progress)
        with contextlib.closing(ex):
            job.search_ladder() if isinstance(strat, Hyperband) else job.search_rounds()
            finals = job.final_rounds(config.final)
        result = job.result(finals, time.perf_counter() - started)
        write_summary(run_dir, result, "finished", settings)
        write_outputs(run_dir, result, config.plot, bb)
    finally:
        journal.close()
    if result.best is None:
        first = next((t.error for t in result.trials if t.error), "no trial was within the budget")
        raise SearchError(f"no trial within the budget succeeded ({len(result.trials)} trials); first error: {first}",
                          hint="see the journal in the run folder")
    return result


class _Job:
    """One search run: the searcher, its journal and executor, and what every trial needs."""

    def __init__(self, searcher, journal: Journal, executor, backbone, task, config: SearchConfig, settings: dict,
                 progress: Optional[bool]):
        self.searcher, self.journal, self.executor = searcher, journal, executor
        self.backbone, self.task, self.config = backbone, task, config
        self.train = config.train.model_dump()
        self.run_dir, self.settings = journal.run_dir, settings
        self.progress = progress
        self.bar = _bar(progress)
        self.best_so_far: Optional[float] = None
        self.finals: dict[int, TrialOutcome] = {}

    # -- search rounds ------------------------------------------------------------
    def search_rounds(self) -> None:
        while proposals := self.searcher.ask():
            self.bar.total = (self.bar.total or 0) + len(proposals)
            self.bar.refresh()
            outcomes = self._run(proposals, SEARCH)
            for p in proposals:
                self.searcher.tell(p.trial, outcomes[p.trial])
            write_summary(self.run_dir, self.result({}, 0.0), "running", self.settings)

    def search_ladder(self) -> None:
        """A multi-fidelity search: replay the journal's trials in the order they finished (so Optuna makes the
        same promotions), then train the rest, each promotion queued as soon as its trial finishes."""
        ladder: Ladder = self.searcher
        for record in self.journal.records:
            if record.get("event") != FINISHED or record.get("stage") != SEARCH:
                continue
            p = ladder.pending(record["trial"])
            if p is None or record.get("hash") != p.hash or record.get("fidelity_steps") != p.steps:
                raise SearchError(f"the journal's trial {record['trial']} (search) is not one this search schedules "
                                  "at that point", hint="the run folder was made by another version of adaptgraph "
                                  "or other settings; start a new search in another folder")
            outcome = TrialOutcome.from_dict(p.trial, SEARCH, record)
            self._advance(SEARCH, p, outcome)
            ladder.tell(TrialRecord(p, outcome))
        by_id = {p.trial: p for p in ladder.waiting}
        self.bar.total = len(ladder.history) + len(by_id)
        for p in by_id.values():
            self.journal.append(STARTED, _fields(p, SEARCH))

        def done(trained: TrainedTrial) -> list[TrialTask]:
            outcome = _normalised(trained.outcome)
            p = by_id.pop(outcome.trial)
            self.journal.append(FINISHED, {**_fields(p, SEARCH), **outcome.to_dict()})
            self._advance(SEARCH, p, outcome)
            promoted = ladder.tell(TrialRecord(p, outcome))
            for q in promoted:
                by_id[q.trial] = q
                self.journal.append(STARTED, _fields(q, SEARCH))
            self.bar.total += len(promoted)
            write_summary(self.run_dir, self.result({}, 0.0), "running", self.settings)
            return [self._task(q, SEARCH) for q in promoted]

        self.executor.run([self._task(p, SEARCH) for p in ladder.waiting], done)

    def _run(self, proposals: Sequence[Proposal], stage: str, keep: Optional[int] = None) -> dict:
        """Outcomes of ``proposals`` at ``stage``: from the journal where finished, else trained now."""
        outcomes: dict[int, TrialOutcome] = {}
        todo = []
        for p in proposals:
            record = self.journal.finished(stage, p.trial)
            if record is None or (p.trial == keep and not self._weights_intact()):
                todo.append(p)
                continue
            if record.get("hash") != p.hash:
                raise SearchError(f"the journal's trial {p.trial} ({stage}) trained spec {record.get('hash')}, "
                                  f"but this search proposes {p.hash} for it",
                                  hint="the run folder was made by another version of adaptgraph or other settings; "
                                       "start a new search in another folder")
            outcomes[p.trial] = TrialOutcome.from_dict(p.trial, stage, record)
            self._advance(stage, p, outcomes[p.trial])
        by_id = {p.trial: p for p in todo}
        for p in todo:
            self.journal.append(STARTED, _fields(p, stage))

        def done(trained: TrainedTrial) -> None:
            outcome = _normalised(trained.outcome)
            if trained.weights is not None and self.run_dir is not None:
                from ..fileio import write_bytes_atomic

                write_bytes_atomic(self.run_dir / WEIGHTS, trained.weights)
            self.journal.append(FINISHED, {**_fields(by_id[outcome.trial], stage), **outcome.to_dict()})
            outcomes[outcome.trial] = outcome
            self._advance(stage, by_id[outcome.trial], outcome)

        self.executor.run([self._task(p, stage, keep_weights=p.trial == keep) for p in todo], done)
        return outcomes

    def _weights_intact(self) -> bool:
        """Whether ``best.safetensors`` is there and whole: a resumed search whose best weights were lost or
        damaged trains that trial again, rather than report as written a file it never wrote."""
        if self.run_dir is None:
            return True
        from ..fileio.safetensors_files import check_safetensors

        try:
            check_safetensors(self.run_dir / WEIGHTS, error=SearchError)
        except SearchError:
            return False
        return True

    def _task(self, p: Proposal, stage: str, keep_weights: bool = False) -> TrialTask:
        if stage == FINAL:
            config = {**self.train, "seed": p.seed}
        elif p.steps is not None:  # a multi-fidelity rung
            config = {**self.train, "steps": p.steps, "epochs": None, "seed": p.seed}
        else:
            config = self.config.fidelity.config(self.train, p.seed)
        return TrialTask(p.trial, stage, p.spec_text, self.task, self.config.task_seed, self.backbone, config,
                         self.config.threads, keep_weights, self.config.trust_code)

    def _advance(self, stage: str, p: Proposal, outcome: TrialOutcome) -> None:
        """Move the progress bar on, showing the best validation accuracy so far (or the final test's)."""
        if stage == SEARCH:
            record = TrialRecord(p, outcome)
            if record.eligible and (self.best_so_far is None or record.accuracy > self.best_so_far):
                self.best_so_far = record.accuracy
            shown = f"{self.best_so_far:.4f}" if self.best_so_far is not None else "-"
            self.bar.set_postfix_str(f"best validation accuracy {shown}", refresh=False)
            self.bar.update(1)
        else:
            if outcome.test_accuracy is not None:
                self.bar.set_postfix_str(f"trial {p.trial} test accuracy {outcome.test_accuracy:.4f}", refresh=False)
            self.bar.update(1)

    # -- the final retraining -----------------------------------------------------
    def final_rounds(self, final: str) -> dict[int, TrialOutcome]:
        """Retrain the best spec and the baseline (and, for ``front``, the Pareto front) at full budget, with test."""
        history = self.searcher.history
        best = best_of(history)
        chosen = {best.trial} if best else set()
        chosen |= {r.trial for r in history if r.proposal.mutation == "baseline" and r.outcome.ok}
        if final == "front":
            chosen |= set(pareto_front(history))
        proposals = [r.proposal for r in history if r.trial in chosen]
        self.bar.close()  # the search's last line; the retraining counts its own trials
        self.bar = _bar(self.progress, "final retraining", len(proposals))
        self.bar.refresh()
        self.finals = self._run(proposals, FINAL, keep=best.trial if best else None)
        self.bar.close()
        return self.finals

    def result(self, finals: dict[int, TrialOutcome], seconds: float) -> SearchResult:
        history = self.searcher.history
        baseline = next((r.trial for r in history if r.proposal.mutation == "baseline"), None)
        return summarise(self.searcher.strategy.name, history, finals, baseline, self.searcher.duplicates,
                         self.run_dir, seconds)


# -- setting up -----------------------------------------------------------------------
def _checked_task(task, task_seed: int, bb):
    from ..tasks import bind_task
    from ..tasks.data import check_fits

    task_obj = load_task_cached(task, task_seed)
    check_fits(task_obj, bb)
    task_obj = bind_task(task_obj, bb)  # an lm: task's blocks come from the backbone's tokenizer
    for split in ("train", "validation"):
        if not task_obj.examples(split):
            raise SearchError(f"task '{task_obj.name}' has no {split} examples; a search trains on the train split "
                              "and compares specs on the validation split",
                              hint="use a task with all three splits (e.g. ?split=80/10/10)")
    return task_obj


def _space(config: SearchConfig, bb, task_obj, run_dir, progress) -> SearchSpace:
    """The stream-point space; scored (and the scores saved, or read back on resume) when the strategy needs it."""
    from ..graph import trace_backbone
    from ..graph import stream_points

    budget, scoring = config.budget, config.scoring
    traced = trace_backbone(bb)
    if not config.strategy.needs_scores:
        return SearchSpace.from_points(stream_points(traced), budget, bb.ref)
    from ..score import EdgeScores, ScoreConfig, score_edges

    saved = run_dir / SCORES if run_dir is not None else None
    if config.resume and saved is not None and saved.exists():
        scores = EdgeScores.load(saved)
    else:
        scores = score_edges(bb, task_obj, ScoreConfig(batches=scoring.batches, batch_size=scoring.batch_size,
                                                       max_length=scoring.max_length, head=scoring.head,
                                                       probe_steps=scoring.probe_steps, seed=config.seed,
                                                       metrics=_metrics(config)),
                             progress=progress, traced=traced)
        if saved is not None:
            scores.save(saved)
    return SearchSpace.from_scores(scores, budget, scoring.metric)


def _metrics(config: SearchConfig) -> tuple[str, ...]:
    """What the search's scoring pass computes: the spectra (all four metrics) only where something reads them
    (allocated ranks, selection by erank or nuclear); else rank (the placement plot's) and the selection metric,
    counted without spectra (``score.ranks``): the same ranks, at about 60% of the pass's time on ViT-B."""
    from ..score.metrics import METRICS

    metric = config.scoring.metric
    if config.budget.ranks == "allocated" or metric not in ("rank", "fro"):
        return METRICS
    return tuple(dict.fromkeys(("rank", metric)))


def _references(space: SearchSpace, use_baseline: bool, specs: Sequence[Spec]) -> list[Candidate]:
    refs = [Candidate(baseline_genome(space), "baseline", name="baseline")] if use_baseline else []
    for k, spec in enumerate(specs):
        label = spec.name or f"spec_{k + 1}"
        genome = space.from_spec(spec)
        refs.append(Candidate(genome, f"user spec {label}", spec=None if genome else spec, name=label))
    return refs


def _manifest(task, task_obj, backbone_ref: str, config: SearchConfig) -> dict:
    """What the run folder's manifest keeps: the task, its data and the backbone, then the config's options."""
    return {"task": task if isinstance(task, str) else task_obj.name, "task_fingerprint": task_obj.fingerprint(),
            "backbone": backbone_ref, **config.manifest()}


def _fields(p: Proposal, stage: str) -> dict:
    return {"trial": p.trial, "stage": stage, "round": p.round, "parent": p.parent, "mutation": p.mutation,
            "name": p.spec.name, "hash": p.hash, "spec": p.spec_text, "seed": p.seed, "planned_params": p.params,
            "within_budget": p.within_budget, **({"fidelity_steps": p.steps} if p.steps is not None else {})}


def _normalised(outcome: TrialOutcome) -> TrialOutcome:
    """The outcome as the journal keeps it (NaN as None, seconds rounded): a resumed run reads the same."""
    return TrialOutcome.from_dict(outcome.trial, outcome.stage, finite(outcome.to_dict()))


def _bar(progress: Optional[bool], desc: str = "search", total: int = 0):
    from ..progress import bar

    return bar(desc=desc, total=total, unit="trial", progress=progress)

