"""Where adapters go: the stream-point space of a backbone, the specs each experiment trains, the scores.

The candidate edges and the random draws come from ``adaptgraph.searcher`` (its ``single``
and ``random`` strategies and the every-sub-layer baseline), the GGA, top-k and random-k
picks from ``adaptgraph.score.choose``, so the protocol trains exactly what the tool proposes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .common import Settings, say, slug


@dataclass(frozen=True)
class Placement:
    """A spec to train, with its edges as ``(src, dst)`` stream-point indices and their kinds."""

    label: str
    spec: object  # adaptgraph.Spec
    edges: tuple[tuple[int, int], ...]
    kinds: tuple[str, ...]

    def columns(self) -> dict:
        """CSV columns describing the placement."""
        return {"label": self.label, "adapters": len(self.edges),
                "edges": " ".join(f"@{i}->@{j}" for i, j in self.edges),
                "recurrent": sum(k == "recurrent" for k in self.kinds), "spec_hash": self.spec.content_hash()[:12]}


def space(settings: Settings, adapters: int = 1):
    """The searcher's space of stream-point edges of the backbone, for placements of up to ``adapters``."""
    from adaptgraph.backbones import get_backbone
    from adaptgraph.graph import trace_backbone
    from adaptgraph.graph import stream_points
    from adaptgraph.searcher import Budget, SearchSpace

    bb = get_backbone(settings.backbone)
    return SearchSpace.from_points(stream_points(trace_backbone(bb)), Budget(adapters=(adapters,), rank=settings.rank),
                                   bb.ref)


def proposed(strategy, sp, seed: int = 0) -> list[Placement]:
    """What a searcher with ``strategy`` proposes in its first round, as placements."""
    from adaptgraph.searcher import Searcher

    return [_of_genome(p.spec.name, p.spec, p.genome, sp) for p in Searcher(strategy, sp, seed).ask()]


def single_edges(settings: Settings) -> list[Placement]:
    """One adapter on every edge (the searcher's ``single`` strategy), or a seeded sample of them."""
    from adaptgraph.searcher import Single

    return proposed(Single(sample=settings.sample), space(settings))


def random_draws(settings: Settings, k: int = 12, seed: int = 0) -> list[Placement]:
    """``settings.draws`` placements of ``k`` distinct edges drawn uniformly (the searcher's ``random``)."""
    from adaptgraph.searcher import RandomPlacement

    return proposed(RandomPlacement(draws=settings.draws), space(settings, k), seed)


def baseline(settings: Settings) -> Placement:
    """The common baseline: one parallel adapter per sub-layer (``@k -> @k+1``; 12 on MiniLM)."""
    from adaptgraph.searcher import baseline_genome

    sp = space(settings)
    genome = baseline_genome(sp)
    return _of_genome("baseline", sp.to_spec(genome, "baseline"), genome, sp)


def probe(settings: Settings) -> Placement:
    """No adapter: the linear probe (the head alone)."""
    from adaptgraph import loads

    return Placement("probe", loads(f'spec probe\nbackbone "{settings.backbone}"\n'), (), ())


def single(settings: Settings, i: int, j: int) -> Placement:
    sp = space(settings)
    genome = (sp.gene(i, j),)
    return _of_genome(f"single_{i}_{j}", sp.to_spec(genome, f"single_{i}_{j}"), genome, sp)


def chosen(settings: Settings, scores, k: int, strategy: str, seed: int = 0, keep=None,
           label: Optional[str] = None, metric: str = "rank") -> Placement:
    """The ``k`` edges ``strategy`` (gga, topk, random) picks from the ``metric`` scores, as a spec.

    ``keep`` filters the picked edges by kind (used to drop recurrent ones when timing them).
    """
    from adaptgraph.score import candidates, choose, to_spec

    picks = choose(candidates(scores, metric=metric, rank=settings.rank), k, strategy=strategy, seed=seed)
    picks = tuple(c for c in picks if keep is None or keep(c.kind))
    label = label or f"{strategy}_k{k}" + (f"_s{seed}" if strategy == "random" else "")
    spec = to_spec(picks, rank=settings.rank, name=label, backbone=scores.backbone, stream=scores.stream)
    return Placement(label, spec, tuple((c.src_index, c.dst_index) for c in picks), tuple(c.kind for c in picks))


def _of_genome(label: str, spec, genome, sp) -> Placement:
    edges = tuple(g.edge for g in genome)
    return Placement(label, spec, edges, tuple(sp.kind(i, j) for i, j in edges))


# -- gradient scores, computed once per task and scoring setting ----------------------------
def scores_for(settings: Settings, task: str):
    """The backbone's edge scores on ``task`` (read back when this setting was scored before)."""
    from adaptgraph.score import EdgeScores

    path = scores_path(settings, task)
    if path.exists():
        return EdgeScores.load(path)
    scores = score(settings, task)
    scores.save(path)
    return scores


def score(settings: Settings, task: str, progress: Optional[bool] = False):
    """One scoring pass (one forward and backward per batch, then the spectra), on ``settings.threads``."""
    from adaptgraph.backbones import get_backbone
    from adaptgraph.score import ScoreConfig, score_edges
    from adaptgraph.searcher import threads_set

    with threads_set(settings.threads):
        say(f"scoring {settings.backbone} on {task} ({settings.score_batches} batches, {settings.score_head} head)")
        config = ScoreConfig(batches=settings.score_batches, max_length=settings.max_length, head=settings.score_head,
                             seed=0)
        return score_edges(get_backbone(settings.backbone), task, config, progress=progress)


def scores_path(settings: Settings, task: str) -> Path:
    key = json.dumps([settings.backbone, task, settings.score_batches, settings.score_head, settings.max_length])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return settings.runs / slug(task) / f"scores-{slug(settings.backbone)}-{digest}.json"
