"""`score` and `select`: gradient scores of every candidate edge, and a few edges chosen from them."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ..number_flags import Choices
from ...score.config import ScoreConfig, SelectConfig
from ...spec.models import Init
from .graph_commands import _table
from . import NO_PROGRESS_HELP, TRUST_CODE_HELP

EXAMPLES_SCORE = """examples:
  adaptgraph score hf:minilm --task 'wordnet:noun?per_class=50' --out runs/minilm_scores
  adaptgraph score zoo:vit-tiny --task digits --head random --batches 2 --out runs/vit_scores
  adaptgraph score hf:minilm --task wordnet:noun --points @0 @6 encoder.layer.3.attention.out --json

writes DIR/scores.json (all n^2 edge scores: rank, erank, fro, nuclear, or those of --metrics) and
DIR/heatmap.png (of --metric). `--metrics rank` (or `rank fro`) counts ranks without spectra, in about
half the time of the spectra on ViT-B.
The rank tolerance defaults to float32 eps * max(d_i, d_j), the rule of torch.linalg.matrix_rank.
"""
EXAMPLES_SELECT = """examples:
  adaptgraph select runs/minilm_scores/scores.json -k 4 -o best.adapt
  adaptgraph select runs/minilm_scores -k 12 --strategy topk --metric erank -o top12.adapt
  adaptgraph select scores.json --max-params 20000 --no-recurrent --json

then: adaptgraph check best.adapt; adaptgraph train best.adapt --task TASK --out runs/best
"""
TOP_EDGES = 10
SCORE = ScoreConfig.model_fields  # every flag's default is its field's: one home for each
SELECT = SelectConfig.model_fields
CLI_ONLY = {"task", "metric", "out", "trust_code", "no_progress", "json", "backbone", "scores", "output",
            "no_recurrent"}
"""Flags that are no option of the configs (``score --metric`` picks the heat map; ``--no-recurrent``: ``--kinds``)."""


def register(sub) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("score", help="score every candidate adapter edge by the rank of its gradient",
                       description="One forward and one backward pass per batch of the unmodified backbone, "
                                   "probed at every point, give the gradient G_ij = H_i^T Delta_j of a zero-"
                                   "initialised adapter on every ordered pair of points (i, j), and its scores.",
                       epilog=EXAMPLES_SCORE, formatter_class=raw)
    p.add_argument("backbone", metavar="BACKBONE", help="zoo:NAME, hf:minilm, hf:PATH, timm:NAME, py:MODULE:FACTORY")
    p.add_argument("--task", required=True, metavar="TASK", help="the task whose loss is differentiated")
    p.add_argument("--batches", type=int, default=SCORE["batches"].default, metavar="N",
                   help="training batches accumulated (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=SCORE["batch_size"].default, metavar="B",
                   help="examples per batch (default %(default)s)")
    p.add_argument("--max-length", type=int, default=SCORE["max_length"].default,
                   help="longest token sequence of text tasks (default %(default)s)")
    p.add_argument("--head", default=SCORE["head"].default, metavar="probe|random",
                   help="task head of the loss: a briefly fitted linear probe (default) or a random one")
    p.add_argument("--probe-examples", type=int, default=SCORE["probe_examples"].default, metavar="N",
                   help="examples the probe head is fitted on (default %(default)s)")
    p.add_argument("--probe-steps", type=int, default=SCORE["probe_steps"].default, metavar="N",
                   help="optimiser steps of the probe head's fit (default %(default)s)")
    p.add_argument("--pooling", default=SCORE["pooling"].default, choices=Choices("adaptgraph.tasks", "POOLINGS"),
                   metavar="MODE", help="how the head pools token features: %(choices)s (default %(default)s)")
    p.add_argument("--rtol", type=float, default=SCORE["rtol"].default, metavar="X",
                   help="rank tolerance relative to the largest singular value (default float32 eps * max(d_i, d_j))")
    p.add_argument("--store", default=SCORE["store"].default, choices=Choices("adaptgraph.score.accumulate", "STORES"),
                   metavar="MODE", help="memory of the accumulation: %(choices)s (default %(default)s; see docs/scoring.md)")
    p.add_argument("--metrics", nargs="+", default=SCORE["metrics"].default, metavar="METRIC",
                   help="scores computed and saved (default all four: rank erank fro nuclear); rank and fro alone "
                        "skip the spectra, which is faster but keeps no spectra for `select --ranks allocated`")
    p.add_argument("--metric", default=None, metavar="rank|erank|fro|nuclear",
                   help="metric of the heat map and of the top edges shown (default rank, or the first of --metrics)")
    p.add_argument("--points", nargs="+", default=SCORE["points"].default, metavar="P",
                   help="score these points instead of the stream points")
    p.add_argument("--stream", default=SCORE["stream"].default, metavar="PATTERN",
                   help="module pattern of the repeated blocks (default: detected)")
    p.add_argument("--tokens-per-batch", type=int, default=SCORE["tokens_per_batch"].default, metavar="T",
                   help="keep a random T token rows per batch")
    p.add_argument("--seed", type=int, default=SCORE["seed"].default,
                   help="seed of batches, head and subsampling (default %(default)s)")
    p.add_argument("--device", default=SCORE["device"].default, help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--out", default="runs/scores", metavar="DIR", help="output folder (default runs/scores)")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(run=run_score)

    p = sub.add_parser("select", help="choose adapter edges from scores and write them as a spec",
                       description="Choose edges from the scores written by `adaptgraph score` and write a spec "
                                   "(with the scored backbone) that `check`, `compile` and `train` accept.",
                       epilog=EXAMPLES_SELECT, formatter_class=raw)
    p.add_argument("scores", metavar="SCORES", help="scores.json written by `adaptgraph score` (or its folder)")
    p.add_argument("-k", type=int, default=SELECT["k"].default, metavar="K", help="number of adapters")
    p.add_argument("--max-params", type=int, default=SELECT["max_params"].default, metavar="N",
                   help="budget of trainable adapter parameters")
    p.add_argument("--strategy", default=SELECT["strategy"].default, metavar="gga|topk|first|last|random",
                   help="gga (greedy with a distance discount, default), topk, first, last or random")
    p.add_argument("--gamma", type=float, default=SELECT["gamma"].default,
                   help="GGA discount: scores near a chosen edge are multiplied by 1 - gamma**distance "
                        "(default %(default)s)")
    p.add_argument("--metric", default=SELECT["metric"].default, metavar="rank|erank|fro|nuclear",
                   help="score to select by")
    p.add_argument("--rank", type=int, default=SELECT["rank"].default,
                   help="bottleneck of each adapter (default %(default)s)")
    p.add_argument("--ranks", default=SELECT["ranks"].default, choices=Choices("adaptgraph.score.select", "RANK_MODES"),
                   metavar="MODE",
                   help="equal: --rank everywhere (default); allocated: the same parameters (or --max-params) "
                        "shared out by gradient energy per parameter (see docs/scoring.md)")
    p.add_argument("--init", default=SELECT["init"].default, choices=Init.__args__, metavar="INIT",
                   help="initialisation written into the spec: %(choices)s (grad: from each edge's gradient; "
                        "default: zero)")
    p.add_argument("--kinds", nargs="+", default=SELECT["kinds"].default, choices=Choices("adaptgraph.spec.edge_facts",
                   "KINDS"), metavar="KIND", help="allow only these edge kinds: %(choices)s (default: all)")
    p.add_argument("--no-recurrent", action="store_true", help="no recurrent edges (no second forward pass)")
    p.add_argument("--no-bias", dest="bias", action="store_false", default=SELECT["bias"].default,
                   help="adapters without biases")
    p.add_argument("--seed", type=int, default=SELECT["seed"].default,
                   help="seed of the random strategy (default %(default)s)")
    p.add_argument("--name", default=SELECT["name"].default, help="spec name (default: the output file's stem)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the spec here (.adapt, .yaml or .json); "
                                                          "default: print it")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_select)


# -- score ------------------------------------------------------------------------
def run_score(args) -> int:
    from ...backbones import get_backbone
    from ...fileio.input_paths import input_paths
    from ...errors import ScoreError
    from ...fileio.folder_claims import check_folder, replaced_folder
    from ...score import score_edges
    from ...score.edge_scores import check_metric

    config = config_from_args(ScoreConfig, args)
    for name in config.metrics:  # before minutes of scoring, not after
        check_metric(name)
    args.metric = _heatmap_metric(args.metric, config.metrics)
    out = Path(args.out)
    inputs = input_paths(args.backbone, args.task)
    check_folder(out, "score", inputs)  # a folder of other files is refused before loading anything
    bb = get_backbone(args.backbone, trust_code=args.trust_code)
    # scores.json and its heat map are swapped in together: a failure between them keeps the old pair
    with replaced_folder(out, "score", inputs, ScoreError) as stage, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = score_edges(bb, args.task, config, progress=False if args.no_progress else None)
        scores_path = out / scores.save(stage / "scores.json").name
        heatmap_path = out / scores.heatmap(stage / "heatmap.png", args.metric).name
    notes = _saturation_notes(caught)
    summary = score_summary(scores, args.metric, notes, scores_path, heatmap_path)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_score(summary)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def _heatmap_metric(metric, metrics) -> str:
    """``--metric``, or by default rank (or the first of ``--metrics``); it must be one of ``--metrics``."""
    from ...errors import ScoreError
    from ...score.edge_scores import check_metric

    if metric is None:
        return "rank" if "rank" in metrics else metrics[0]
    check_metric(metric)
    if metric not in metrics:
        raise ScoreError(f"--metric {metric} is not among the metrics computed ({' '.join(metrics)})",
                         hint=f"add it: --metrics {' '.join(metrics)} {metric}")
    return metric


def _saturation_notes(caught) -> list[str]:
    """Saturation warnings as one line each; any other warning is passed on unchanged."""
    from ...score import RankSaturationWarning

    notes = []
    for w in caught:
        if issubclass(w.category, RankSaturationWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return notes


def score_summary(scores, metric: str, notes, scores_path, heatmap_path) -> dict:
    """What `adaptgraph score` reports: sizes, time, the best edges by ``metric``, warnings."""
    import numpy as np

    m = scores.matrix(metric)
    cells = [(i, j) for i in range(scores.n) for j in range(scores.n) if np.isfinite(m[i, j])]
    cells.sort(key=lambda e: (-m[e], e[1], e[0]))  # ties: earlier destination first, as `select` breaks them
    top = [{"src": scores.points[i], "dst": scores.points[j], "kind": scores.kind(i, j), "score": float(m[i, j])}
           for i, j in cells[:TOP_EDGES]]
    return {"backbone": scores.backbone, "task": scores.task, "head": scores.head, "points": scores.n,
            "edges": len(cells), "tokens": max(scores.tokens), "batches": scores.batches,
            "widths": sorted(set(scores.widths)), "rtol": scores.rtol, "metric": metric,
            "seconds": dict(scores.timings), "top": top, "warnings": list(notes),
            "scores": str(scores_path), "heatmap": str(heatmap_path)}


def _print_score(s: dict) -> None:
    seconds = s["seconds"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if k != "total")
    widths = "/".join(map(str, s["widths"]))
    rtol = "float32 eps * max(d_i, d_j)" if s["rtol"] is None else f"{s['rtol']:g}"
    print(f"scored {s['edges']} edges between {s['points']} points of {s['backbone']} on {s['task']}")
    batches = f"{s['batches']} batch" + ("es" if s["batches"] != 1 else "")
    print(f"tokens {s['tokens']} ({batches}), widths {widths}, head {s['head']}, rank tolerance {rtol}")
    print(f"seconds {seconds.get('total', 0.0):.1f} ({stages})")
    print(f"top edges by {s['metric']}:")
    _table([("source", "destination", "kind", s["metric"])]
           + [(e["src"], e["dst"], e["kind"], _number(e["score"], s["metric"])) for e in s["top"]])
    print(f"wrote {s['scores']} and {s['heatmap']}")


# -- select -----------------------------------------------------------------------
def run_select(args) -> int:
    from ...errors import ScoreError
    from ...score import EdgeScores, candidates, choose, to_spec
    from ...spec.edge_facts import KINDS
    from ...spec import dump, dumps
    from ...spec.api import default_name

    if args.k is None and args.max_params is None:
        raise ScoreError("no budget: give -k (number of adapters) or --max-params (trainable parameters)")
    kinds = [k for k in (args.kinds or KINDS) if not (args.no_recurrent and k == "recurrent")]
    name = args.name or (default_name(args.output) if args.output else None)
    cfg = config_from_args(SelectConfig, args, kinds=tuple(kinds), name=name)
    scores = EdgeScores.load(_scores_file(args.scores), metrics=(cfg.metric,))
    cands = candidates(scores, metric=cfg.metric, kinds=cfg.kinds, rank=cfg.rank, bias=cfg.bias)
    chosen = choose(cands, cfg.k, strategy=cfg.strategy, gamma=cfg.gamma, max_params=cfg.max_params, seed=cfg.seed)
    if not chosen:
        raise ScoreError(f"no edge fits the budget of {cfg.max_params:,} trainable parameters",
                         hint=f"the cheapest allowed edge needs {_cheapest(cands):,}")
    ranks = [cfg.rank] * len(chosen)
    if cfg.ranks == "allocated":
        from ...score.allocate import allocate_chosen

        ranks = list(allocate_chosen(scores, [(c.src_index, c.dst_index) for c in chosen], cfg.max_params,
                                     rank=cfg.rank, bias=cfg.bias).ranks)
    spec = to_spec(chosen, rank=cfg.rank, bias=cfg.bias, name=cfg.name, backbone=scores.backbone,
                   stream=scores.stream, init=cfg.init, ranks=ranks)
    if args.output:
        dump(spec, args.output, follow_link=True)
    report = _select_report(cfg, args.output, scores, chosen, ranks, dumps(spec))
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.output:
        _print_select(report)
    else:
        print(report["spec"], end="")
    return 0


def _scores_file(path: str) -> Path:
    """The scores file itself, or ``scores.json`` inside a folder given instead."""
    p = Path(path)
    return p / "scores.json" if p.is_dir() else p


def _cheapest(cands) -> int:
    import numpy as np

    return int(np.min(cands.params[cands.allowed]))


def _select_report(cfg, output, scores, chosen, ranks, text: str) -> dict:
    edges = [{"src": c.src, "dst": c.dst, "kind": c.kind, "score": c.score, "rank": r,
              "params": scores.params(c.src_index, c.dst_index, r)} for c, r in zip(chosen, ranks)]
    return {"strategy": cfg.strategy, "metric": cfg.metric, "gamma": cfg.gamma if cfg.strategy == "gga" else None,
            "rank": cfg.rank, "ranks": cfg.ranks, "init": cfg.init, "backbone": scores.backbone, "edges": edges,
            "trainable_parameters": sum(e["params"] for e in edges), "output": output, "spec": text}


def _print_select(r: dict) -> None:
    how = r["strategy"] + (f" (gamma {r['gamma']:g})" if r["gamma"] is not None else "")
    print(f"chose {len(r['edges'])} edges by {how} on {r['metric']} scores of {r['backbone']}")
    _table([("source", "destination", "kind", r["metric"], "r", "params")]
           + [(e["src"], e["dst"], e["kind"], _number(e["score"], r["metric"]), str(e["rank"]), f"{e['params']:,}")
              for e in r["edges"]])
    ranks = f"rank {r['rank']} adapters" if r["ranks"] == "equal" else "ranks allocated from the gradient spectra"
    print(f"trainable parameters: {r['trainable_parameters']:,} ({ranks}, without the task head)")
    print(f"wrote {r['output']}")


# -- shared -----------------------------------------------------------------------
def config_from_args(cls, args, **given):
    """The ``cls`` (ScoreConfig or SelectConfig) of the parsed flags, one per field; ``given`` overrides some."""
    from ...score.config import user_config

    return user_config(cls, {name: getattr(args, name) for name in cls.model_fields} | given)


def _number(value: float, metric: str) -> str:
    return f"{value:.0f}" if metric == "rank" else f"{value:.4g}"

