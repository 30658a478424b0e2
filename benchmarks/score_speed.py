"""What gradient scoring costs, per metric, against a training step and against a naive loop.

For each backbone (``zoo:vit-base-shape``: n = 25 stream points, 625 edges, width 768;
``hf:minilm``: n = 13, 169 edges, width 384), on ONE batch, three measurements:

* ``score``: ``score_edges`` with a random head (no probe fitting) on one batch, twice per
  repeat: with ``metrics=("rank", "fro")``, one forward + backward pass with probes at all n
  points (``probe`` stage), the numerical ranks of all n^2 G_ij without spectra (``rank``
  stage, ``score.ranks``) and their Frobenius norms from token Grams (``fro`` stage); then
  with all metrics, the spectra of all n^2 G_ij (``spectra`` stage: what erank and nuclear
  need). Tracing is done beforehand and not counted. Scoring by one metric costs the probed
  pass plus that metric's stage; the probe time is the median over both calls.
* ``step``: one training step (forward, loss, backward, AdamW step) of the common
  baseline, one parallel adapter per sub-layer (``for k in 0..2L-1 { parallel @{k} -> @{k+1} }``).
* ``naive``: for each of a seeded random sample of edges, compile a one-edge spec
  ``edge @i -> @j { rank = d }`` and set its down-projection to the identity, so that
  it is a zero-initialised dense W_ij whose gradient is exactly G_ij; run its own forward
  and backward pass, and take the singular values of the gradient (for the rank) or its
  norm (for ``fro``), timed apart.
  The compile (which copies the backbone) is timed separately and NOT counted in the
  naive per-edge time, which favours the naive loop. The mean per-edge time of the
  sample times n^2 is the extrapolated naive total.

Each measurement runs in its own subprocess, so that its peak resident memory
(``resource.getrusage`` ru_maxrss) is its own; ``idle`` (load, trace, batch, nothing
else) is the memory floor they share. Rounds of (step, score, naive) are interleaved so
that load on this shared machine hits all alike; times are medians over rounds. Workers
run with ``OMP_WAIT_POLICY=PASSIVE`` (spinning OpenMP threads steal the CPU on a busy
2-core machine); ``--wait-check`` times one round of a backbone without it, for comparison.

    python benchmarks/score_speed.py [--rounds 3] [--edges 20] [--out benchmarks/results/score_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import warnings

BACKBONES = {  # ref -> (task, batch size, max length, number of sub-layers with a parallel adapter)
    "zoo:vit-base-shape": ("digits?size=224", 2, 64, 24),
    "hf:minilm": ("wordnet:noun?per_class=50", 16, 64, 12),
}
THREADS = 2
# OpenMP threads that spin while waiting steal the CPU from the other thread on a shared 2-core
# machine; PASSIVE makes them sleep. Every measurement runs with it (see --wait-check).
WAIT_POLICY = "PASSIVE"
WORKERS = ("idle", "step", "score", "naive")


# -- worker side (one measurement per process) ------------------------------------
def setup(ref: str):
    """Backbone, traced graph, the first training batch and a random head, as scoring sees them."""
    import torch

    from adaptgraph.backbones import get_backbone
    from adaptgraph.graph import trace_backbone
    from adaptgraph.tasks import load_task, make_head, make_loader

    torch.set_num_threads(THREADS)
    task_ref, batch_size, max_length, _ = BACKBONES[ref]
    bb = get_backbone(ref)
    traced = trace_backbone(bb)
    task = load_task(task_ref, seed=0)
    loader = make_loader(task.examples("train"), bb, batch_size=batch_size, max_length=max_length, shuffle=True,
                         seed=0)
    batch = next(iter(loader))  # the same first batch that score_edges(seed=0) scores
    with torch.no_grad():
        features = traced.gm(*batch.inputs)
    head = make_head(features, task.num_classes, "auto", seed=0)
    return bb, traced, task_ref, batch, head


def loss_of(head, batch):
    import torch.nn.functional as F

    return lambda out: F.cross_entropy(head(out, batch.attention_mask).float(), batch.labels)


def measure_step(ref: str, repeats: int) -> dict:
    import torch

    import adaptgraph

    bb, _, _, batch, head = setup(ref)
    layers = BACKBONES[ref][3]
    model = adaptgraph.compile(adaptgraph.loads(f"for k in 0..{layers - 1} {{ parallel @{{k}} -> @{{k+1}} }}"), bb)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    loss = loss_of(head, batch)

    def step() -> float:
        tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss(model(*batch.inputs)).backward()
        optimizer.step()
        return time.perf_counter() - tic

    step()  # warm up
    times = [step() for _ in range(repeats)]
    return {"step_s": statistics.median(times), "step_times_s": times, "adapters": layers,
            "trainable_parameters": sum(p.numel() for p in params)}


def measure_score(ref: str, repeats: int) -> dict:
    from adaptgraph.score import RankSaturationWarning, ScoreConfig, score_edges

    bb, traced, task_ref, batch, head = setup(ref)
    runs, probes = [], []

    def score(metrics):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankSaturationWarning)  # one batch: ranks are capped by tokens
            config = ScoreConfig(batches=1, batch_size=BACKBONES[ref][1], max_length=BACKBONES[ref][2], head="random",
                                 metrics=metrics)
            s = score_edges(bb, task_ref, config, progress=False, traced=traced)
        probes.append(s.timings[[k for k, _ in s.timings].index("probe")][1])
        return s, dict(s.timings)

    for _ in range(repeats):
        fast, t = score(("rank", "fro"))
        full, u = score(("rank", "erank", "fro", "nuclear"))
        runs.append({"probe_s": t["probe"], "probe_with_spectra_s": u["probe"], "rank_s": t["rank"],
                     "spectra_s": u["spectra"], "fro_s": t["fro"]})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    med["probe_s"] = statistics.median(probes)
    s = fast
    return {**med, "score_s": med["probe_s"] + med["spectra_s"] + med["fro_s"], "runs": runs, "points": s.n,
            "edges": s.n * s.n, "tokens": max(s.tokens), "widths": sorted(set(s.widths)),
            "ranks": [[s.rank[i][j] for j in range(s.n)] for i in range(s.n)],
            "ranks_from_spectra": [[full.rank[i][j] for j in range(s.n)] for i in range(s.n)],
            "fro": [[s.fro[i][j] for j in range(s.n)] for i in range(s.n)]}


def measure_naive(ref: str, edges: list[list[int]]) -> dict:
    import torch

    import adaptgraph
    from adaptgraph.compiler import apply_plan, resolve
    from adaptgraph.graph import stream_points
    from adaptgraph.score import default_rtol, numerical_rank

    bb, traced, _, batch, head = setup(ref)
    head.requires_grad_(False)  # as in scoring: only the adapter's gradient is wanted
    width = min(int(p.shape[p.feature_dim]) for p in stream_points(traced))
    loss = loss_of(head, batch)
    rows = []
    for i, j in edges:
        tic = time.perf_counter()
        model = apply_plan(traced, resolve(adaptgraph.loads(f"edge @{i} -> @{j} {{ rank = {width} }}"), traced),
                           bb.ref)
        compile_s = time.perf_counter() - tic
        adapter = next(iter(model.adapters.values()))
        with torch.no_grad():  # down = identity: the gradient of `up` is exactly that of a dense W_ij
            adapter.down.weight.copy_(torch.eye(width))
            adapter.down.bias.zero_()
        up = adapter.up
        tic = time.perf_counter()
        loss(model(*batch.inputs)).backward()
        pass_s = time.perf_counter() - tic
        grad = up.weight.grad.double()
        tic = time.perf_counter()
        sv = torch.linalg.svdvals(grad)
        svd_s = time.perf_counter() - tic
        tic = time.perf_counter()
        norm = float(torch.linalg.matrix_norm(grad))
        norm_s = time.perf_counter() - tic
        rows.append({"edge": [i, j], "kind": model.adaptgraph.plan.edges[0].kind, "compile_s": compile_s,
                     "forward_backward_s": pass_s, "svd_s": svd_s, "norm_s": norm_s,
                     "rank": numerical_rank(sv, default_rtol(width, width)), "fro": norm})
        del model, adapter, up
    return {"edges": rows, "rank_of_adapter": width}


def worker(args) -> None:
    import torch

    tic = time.perf_counter()
    if args.worker == "idle":
        setup(args.backbone)
        result = {}
    elif args.worker == "step":
        result = measure_step(args.backbone, args.repeats)
    elif args.worker == "score":
        result = measure_score(args.backbone, args.repeats)
    else:
        result = measure_naive(args.backbone, json.loads(args.edges))
    result.update(maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  wall_s=time.perf_counter() - tic, threads=torch.get_num_threads(), loadavg=os.getloadavg())
    print(json.dumps(result))


# -- driver side -------------------------------------------------------------------
def spawn(kind: str, ref: str, repeats: int, edges=None, wait_policy: str | None = WAIT_POLICY) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--backbone", ref, "--repeats", str(repeats)]
    if edges is not None:
        cmd += ["--edges", json.dumps(edges)]
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker on {ref} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sample_edges(n: int, count: int, seed: int = 0) -> list[list[int]]:
    pairs = [[i, j] for i in range(n) for j in range(n)]
    return sorted(random.Random(seed).sample(pairs, min(count, len(pairs))))


def bench_backbone(ref: str, rounds: int, edge_count: int) -> dict:
    log(f"{ref}: idle memory")
    idle = spawn("idle", ref, 1)
    raw = {"step": [], "score": [], "naive": []}
    edges = None
    for r in range(rounds):
        for kind in ("step", "score", "naive"):
            if kind == "naive" and edges is None:
                edges = sample_edges(raw["score"][0]["points"], edge_count)
            log(f"{ref}: round {r + 1}/{rounds}, {kind} (load average {os.getloadavg()[0]:.2f})")
            raw[kind].append(spawn(kind, ref, 3, edges if kind == "naive" else None))
    return summarise(ref, idle, raw, edges)


def wait_check(ref: str) -> dict:
    """One step and one scoring pass with OpenMP's default wait policy, beside the PASSIVE medians."""
    log(f"{ref}: step and score with the default OpenMP wait policy")
    step, score = spawn("step", ref, 3, wait_policy=None), spawn("score", ref, 1, wait_policy=None)
    return {"backbone": ref, "step_seconds": step["step_s"], "score_seconds": score["score_s"],
            "probe_seconds": score["probe_s"], "spectra_seconds": score["spectra_s"],
            "loadavg": [step["loadavg"], score["loadavg"]]}


def summarise(ref: str, idle: dict, raw: dict, edges) -> dict:
    med, mean = statistics.median, statistics.mean
    step_s = med(r["step_s"] for r in raw["step"])
    stage = {k: med(r[k] for r in raw["score"]) for k in ("score_s", "probe_s", "rank_s", "spectra_s", "fro_s")}
    first = raw["score"][0]
    n = first["points"]
    naive = {k: mean(med(r["edges"][e][k] for r in raw["naive"]) for e in range(len(edges)))
             for k in ("forward_backward_s", "svd_s", "norm_s", "compile_s")}
    kinds = [row["kind"] for row in raw["naive"][0]["edges"]]
    agree = sum(row["rank"] == first["ranks"][i][j] for row, (i, j) in zip(raw["naive"][0]["edges"], edges))
    fro_gap = max(abs(row["fro"] - first["fro"][i][j]) / row["fro"] for row, (i, j) in zip(raw["naive"][0]["edges"], edges))
    same_ranks = sum(a == b for r in raw["score"] for ra, rb in zip(r["ranks"], r["ranks_from_spectra"])
                     for a, b in zip(ra, rb))
    for r in raw["score"]:
        r.pop("ranks"), r.pop("ranks_from_spectra"), r.pop("fro")  # n x n numbers per run: not what this file is about
    per_metric = {}
    for metric, stage_key, naive_key in (("rank", "rank_s", "svd_s"), ("fro", "fro_s", "norm_s")):
        score_s = stage["probe_s"] + stage[stage_key]
        naive_s = (naive["forward_backward_s"] + naive[naive_key]) * n * n
        per_metric[metric] = {"score_seconds": score_s, "stage_seconds": stage[stage_key],
                              "naive_seconds_per_edge": naive["forward_backward_s"] + naive[naive_key],
                              "naive_seconds_all_edges": naive_s, "naive_vs_score": naive_s / score_s}
    return {
        "backbone": ref, "task": BACKBONES[ref][0], "batch_size": BACKBONES[ref][1], "points": n,
        "edges": n * n, "widths": first["widths"], "tokens": first["tokens"],
        "score": {"seconds": stage["score_s"], "probe_seconds": stage["probe_s"], "rank_seconds": stage["rank_s"],
                  "spectra_seconds": stage["spectra_s"], "fro_seconds": stage["fro_s"],
                  "ranks_without_spectra_equal_to_spectra_ranks": f"{same_ranks} of {n * n * len(raw['score'])}",
                  "peak_rss_mib": med(r["maxrss_mib"] for r in raw["score"])},
        "per_metric": per_metric,
        "ceiling": {"naive_vs_score": n * n * naive["forward_backward_s"] / stage["probe_s"],
                    "why": "n^2 x (naive pass per edge) / (probed pass): the ratio if a metric's own stage took no time"},
        "baseline_step": {"adapters": raw["step"][0]["adapters"], "seconds": step_s,
                          "trainable_parameters": raw["step"][0]["trainable_parameters"],
                          "peak_rss_mib": med(r["maxrss_mib"] for r in raw["step"])},
        "naive": {"sampled_edges": len(edges), "sample_kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
                  "forward_backward_seconds_per_edge": naive["forward_backward_s"],
                  "svd_seconds_per_edge": naive["svd_s"], "norm_seconds_per_edge": naive["norm_s"],
                  "compile_seconds_per_edge_not_counted": naive["compile_s"],
                  "extrapolation": f"mean of {len(edges)} sampled edges x {n * n} edges",
                  "adapter_rank": raw["naive"][0]["rank_of_adapter"],
                  "sampled_ranks_equal_to_score": f"{agree} of {len(edges)}",
                  "sampled_fro_max_relative_difference": fro_gap,
                  "peak_rss_mib": med(r["maxrss_mib"] for r in raw["naive"])},
        "idle_peak_rss_mib": idle["maxrss_mib"],
        "score_vs_baseline_step": stage["score_s"] / step_s,
        "steps": {"probe": stage["probe_s"] / step_s, "rank": (stage["probe_s"] + stage["rank_s"]) / step_s,
                  "fro": (stage["probe_s"] + stage["fro_s"]) / step_s,
                  "all_metrics": stage["score_s"] / step_s,
                  "why": "scoring time / one baseline training step: probe = the floor of any scorer that runs the "
                         "probed pass; rank = probe + rank stage; fro = probe + fro stage; all_metrics = probe + "
                         "spectra + fro"},
        "raw": raw,
    }


def table(result: dict) -> str:
    """The Markdown table of docs/performance.md, from a saved result."""
    rows = ["| | " + " | ".join(f"`{r['backbone']}`" for r in result["results"]) + " |",
            "|---|" + "---|" * len(result["results"])]

    def row(label, fn):
        rows.append(f"| {label} | " + " | ".join(fn(r) for r in result["results"]) + " |")

    row("stream points n (edges n^2)", lambda r: f"{r['points']} ({r['edges']})")
    row("batch (tokens)", lambda r: f"{r['batch_size']} x `{r['task']}` ({r['tokens']})")
    row("probed pass (all edges)", lambda r: f"{r['score']['probe_seconds']:.2f} s")
    row("ranks of all edges, no spectra", lambda r: f"{r['score']['rank_seconds']:.2f} s")
    row("spectra of all edges (rank, erank, nuclear)", lambda r: f"{r['score']['spectra_seconds']:.2f} s")
    row("Frobenius norms of all edges, no spectra", lambda r: f"{r['score']['fro_seconds']:.3f} s")
    row("one training step, baseline", lambda r: f"{r['baseline_step']['seconds']:.2f} s "
                                                 f"({r['baseline_step']['adapters']} parallel adapters)")
    row("in training steps: probed pass (floor) / `rank` / `fro` / all four",
        lambda r: " / ".join(f"{r['steps'][k]:.2f}" for k in ("probe", "rank", "fro", "all_metrics")))
    row("naive loop per edge: pass, SVD, norm", lambda r: f"{r['naive']['forward_backward_seconds_per_edge']:.2f} s, "
        f"{r['naive']['svd_seconds_per_edge'] * 1e3:.1f} ms, {r['naive']['norm_seconds_per_edge'] * 1e3:.2f} ms (+ "
        f"{r['naive']['compile_seconds_per_edge_not_counted']:.2f} s compile, not counted)")
    for metric in ("rank", "fro"):
        row(f"naive / scoring, `{metric}`", lambda r, m=metric: f"{r['per_metric'][m]['naive_seconds_all_edges']:.0f} s"
            f" / {r['per_metric'][m]['score_seconds']:.2f} s = **{r['per_metric'][m]['naive_vs_score']:.0f}x**")
    row("ceiling: n^2 x naive pass / probed pass", lambda r: f"{r['ceiling']['naive_vs_score']:.0f}x")
    row("sampled naive ranks = scored ranks", lambda r: r["naive"]["sampled_ranks_equal_to_score"])
    row("ranks without spectra = ranks from spectra (all edges, all runs)",
        lambda r: r["score"]["ranks_without_spectra_equal_to_spectra_ranks"])
    row("sampled naive norms vs scored, max rel. difference",
        lambda r: f"{r['naive']['sampled_fro_max_relative_difference']:.1e}")
    row("peak RSS: idle / step / scoring / naive (MiB)",
        lambda r: f"{r['idle_peak_rss_mib']:.0f} / {r['baseline_step']['peak_rss_mib']:.0f} / "
                  f"{r['score']['peak_rss_mib']:.0f} / {r['naive']['peak_rss_mib']:.0f}")
    return "\n".join(rows)


def machine() -> dict:
    import torch

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return {"cpu": model, "cpu_count": os.cpu_count(), "threads": THREADS, "torch": torch.__version__,
            "python": platform.python_version(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                                     * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--edges", default="20", help="naive loop: number of sampled edges (worker: JSON list)")
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    ap.add_argument("--wait-check", nargs="*", default=["hf:minilm"], metavar="REF",
                    help="also time these backbones once with OpenMP's default wait policy (default hf:minilm)")
    ap.add_argument("--out", default="benchmarks/results/score_speed.json")
    ap.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    ap.add_argument("--backbone", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--table", action="store_true", help="print the Markdown table of a saved --out and stop")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.table:
        with open(args.out) as f:
            return print(table(json.load(f)))
    from adaptgraph.fileio import write_text_atomic

    started = time.time()
    load_before = os.getloadavg()
    results = [bench_backbone(ref, args.rounds, int(args.edges)) for ref in args.backbones]
    default_wait = [wait_check(ref) for ref in args.wait_check]
    out = {"command": " ".join(["python", *sys.argv]), "machine": machine(),
           "environment": {"OMP_NUM_THREADS": str(THREADS), "OMP_WAIT_POLICY": WAIT_POLICY,
                           "torch.set_num_threads": THREADS},
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
           "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
           "wall_seconds": time.time() - started, "rounds": args.rounds, "results": results,
           "default_wait_policy": default_wait}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    for r in results:
        ratios = ", ".join(f"{m} {v['naive_vs_score']:.0f}x" for m, v in r["per_metric"].items())
        print(f"{r['backbone']}: n = {r['points']} ({r['edges']} edges), {r['tokens']} tokens; probe "
              f"{r['score']['probe_seconds']:.2f} s, rank {r['score']['rank_seconds']:.2f} s, "
              f"spectra {r['score']['spectra_seconds']:.2f} s, fro "
              f"{r['score']['fro_seconds']:.3f} s; naive pass {r['naive']['forward_backward_seconds_per_edge']:.2f} s/edge; "
              f"naive / scoring: {ratios} (ceiling {r['ceiling']['naive_vs_score']:.0f}x); sampled ranks equal "
              f"{r['naive']['sampled_ranks_equal_to_score']}")
    for w in default_wait:
        print(f"{w['backbone']} with OpenMP's default wait policy: step {w['step_seconds']:.2f} s, "
              f"score {w['score_seconds']:.2f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
