"""``SearchConfig``: every option of a search, with its default, in one frozen model.

``search(task, backbone, config)`` takes it, the CLI builds its ``search`` flags from its fields, and the run
manifest is its ``model_dump`` (less the options that do not change what a search finds). The executor is a
tagged union on ``kind``: an option of another executor cannot be given at all.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from ..errors import Problem, SearchError
from ..score.config import Seed
from ..spec import Spec
from ..train.config import TrainConfig
from .executors import EXECUTORS, WORKERS, Executor
from .hyperband import Hyperband
from .nsga2 import NSGA2
from .settings import Fidelity, Scoring
from .space import Budget
from .strategies import GGA, Evolve, make_strategy

FINALS = ("best", "front")  # what the final stage retrains: the best spec, or the whole Pareto front

# options that change how a search runs, not what it finds: a resumed search may change them
RUN_OPTIONS = frozenset({"executor", "resume", "plot", "trust_code", "trials"})


class _Execution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def make(self) -> Executor:
        """The executor that runs the trials (ray is imported only when asked for)."""
        return EXECUTORS.lookup(self.kind)(**self.model_dump(exclude={"kind"}, exclude_none=True))


class LocalExecution(_Execution):
    """Trials one after the other, in this process."""

    kind: Literal["local"] = "local"


class ProcessExecution(_Execution):
    """Trials on long-lived worker processes on this machine."""

    kind: Literal["process"] = "process"
    workers: int = Field(WORKERS, ge=1, description="worker processes")


class RayExecution(_Execution):
    """Trials as Ray tasks on a cluster."""

    kind: Literal["ray"] = "ray"
    address: Optional[str] = Field(None, description="the cluster to join (None: start a new local Ray instance; "
                                                     "'auto': join the running one)")
    cpus_per_trial: Optional[float] = Field(None, gt=0, description="CPUs per trial (None: 1)")
    gpus_per_trial: Optional[float] = Field(None, ge=0, description="GPUs per trial (None: 1 when the cluster "
                                                                   "has GPUs, else 0)")


Execution = Annotated[Union[LocalExecution, ProcessExecution, RayExecution], Field(discriminator="kind")]
EXECUTIONS = (LocalExecution, ProcessExecution, RayExecution)


class SearchConfig(BaseModel):
    """Every option of :func:`adaptgraph.searcher.search`; see ``docs/search.md``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    strategy: Any = Field(default_factory=GGA, description="how specs are proposed: a strategy name "
                                       "(single, random, gga, evolve, hyperband, nsga2) or a strategy object with its settings")
    trials: Optional[int] = Field(None, description="with a strategy name: single's sample, random's draws per k, "
                                  "evolve's and nsga2's trials, hyperband's candidates")
    budget: Budget = Field(default_factory=Budget, description="adapter counts k, parameter cap, kinds, rank, init")
    fidelity: Fidelity = Field(default_factory=Fidelity, description="how long a search trial trains "
                               "(hyperband sets its own steps)")
    scoring: Scoring = Field(default_factory=Scoring, description="the gradient-rank scoring pass (gga, evolve)")
    train: TrainConfig = Field(default_factory=TrainConfig, description="training settings, and the full budget "
                               "of the final retraining")
    seed: Seed = Field(0, description="seed of proposals and trials")
    task_seed: Seed = Field(0, description="seed of the task's split")
    baseline: Optional[bool] = Field(None, description="also train the every-sub-layer baseline (None: only for evolve)")
    specs: tuple[Spec, ...] = Field((), description="specs of your own to train beside the proposals")
    final: Literal[FINALS] = Field("front", description="retrain the best spec, or the whole Pareto front, "
                                   "at full budget")
    threads: int = Field(1, strict=True, ge=1, description="CPU threads per trial")
    executor: Execution = Field(default_factory=LocalExecution, description="where trials run")
    resume: bool = Field(False, description="continue the interrupted search in the run folder")
    plot: bool = Field(True, description="write progress.png and best.png")
    trust_code: bool = Field(False, description="allow a py:MODULE:FACTORY backbone (its code runs in every trial)")

    @model_validator(mode="before")
    @classmethod
    def _named(cls, values: Any) -> Any:
        """A strategy or executor given by name becomes its settings object; ``trials`` goes to the strategy."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        strategy = values.get("strategy", GGA.name)  # the default strategy (GGA) refuses trials too
        if isinstance(strategy, str):
            values["strategy"] = make_strategy(strategy, values.get("trials"))
        elif values.get("trials") is not None:
            raise SearchError("give trials to the strategy object itself, not to the search config")
        if isinstance(values.get("executor"), str):
            values["executor"] = {"kind": values["executor"]}
        if values.get("fidelity", ...) is None:
            values.pop("fidelity")
        return values

    @field_validator("strategy")
    @classmethod
    def _a_strategy(cls, strategy: Any) -> Any:
        """Any registered strategy's settings object (see ``strategies.Strategy``), built-in or not."""
        missing = [a for a in ("name", "needs_scores", "settings") if not hasattr(strategy, a)]
        if not (hasattr(strategy, "propose") or hasattr(strategy, "proposer")):
            missing.append("propose")
        if missing:
            raise SearchError(f"strategy must be a name or a strategy object, got {strategy!r} (no "
                              f"{', '.join(missing)})", hint="see adaptgraph.searcher.STRATEGIES")
        return strategy

    @model_validator(mode="after")
    def _hyperband_steps(self) -> "SearchConfig":
        if isinstance(self.strategy, Hyperband) and self.fidelity != Fidelity():
            raise SearchError("hyperband sets the steps of each trial itself (its rungs, min_steps to max_steps), "
                              f"so a fidelity ({self.fidelity.to_dict()}) does not apply",
                              hint="leave out --fidelity-steps/--fidelity-epochs; use --min-steps and --max-steps")
        return self

    @field_serializer("strategy")
    def _strategy_dump(self, strategy) -> dict:
        return {"name": strategy.name, **strategy.settings()}

    @field_serializer("specs")
    def _specs_dump(self, specs) -> list:
        return [s.content_hash() for s in specs]

    @property
    def use_baseline(self) -> bool:
        return self.strategy.name == "evolve" if self.baseline is None else self.baseline

    def manifest(self) -> dict:
        """The options that decide what the search finds, as the run folder's manifest keeps them."""
        dump = self.model_dump(mode="json", exclude=set(RUN_OPTIONS))
        dump["fidelity"] = None if isinstance(self.strategy, Hyperband) else self.fidelity.to_dict()
        dump["scoring"] = dump["scoring"] if self.strategy.needs_scores else None
        dump["baseline"] = self.use_baseline
        return dump


# where an option's default lives when the config's own default has no such field (the default executor is
# local, the default strategy gga)
_OTHER_DEFAULTS = {"executor": (ProcessExecution(), RayExecution()), "strategy": (Evolve(), Hyperband(), NSGA2())}


def field_default(path: str):
    """The default of an option by its path: ``seed``, ``budget.rank``, ``executor.workers``, ``strategy.eta``."""
    head, _, name = path.partition(".")
    value = SearchConfig.model_fields[head].get_default(call_default_factory=True)
    if not name:
        return value
    for owner in (value, *_OTHER_DEFAULTS.get(head, ())):
        if hasattr(owner, name):
            return getattr(owner, name)
    raise KeyError(f"no search option {path!r}")


def search_config(**values) -> SearchConfig:
    """A SearchConfig from ``values``; SearchError listing every invalid one (an option given to an executor
    that has no such option is named with the executor it belongs to)."""
    try:
        return SearchConfig(**values)
    except ValidationError as e:
        raise SearchError(problems=[_problem(err) for err in e.errors()]) from None


def _problem(err: dict) -> Problem:
    loc = [str(part) for part in err["loc"]]
    if err["type"] == "extra_forbidden" and loc[:1] == ["executor"] and len(loc) == 3:
        kind, option = loc[1], loc[2]
        owners = [m.model_fields["kind"].default for m in EXECUTIONS if option in m.model_fields]
        flag = f"--{'ray-address' if option == 'address' else option.replace('_', '-')}"
        where = f"the {' and '.join(owners)} executor" if owners else "no executor"
        return Problem(f"{option} ({flag}) is an option of {where}, but the executor is {kind!r}",
                       hint=f"add --executor {owners[0]}, or leave the option out" if owners else
                       "leave the option out")
    return Problem(f"{'.'.join(loc) or 'config'}: {err['msg'].removeprefix('Value error, ')}",
                   hint="see `adaptgraph search --help`")
