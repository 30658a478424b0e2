"""Where the time of ranks without spectra goes, step by step, on the probed rows of one batch.

The rows are those ``score_speed.py``'s ``score`` measurement scores (same backbone, batch, random
head). On ONE thread (so that the steps add up; ``score_edges`` spreads the sources over
``torch.get_num_threads()`` threads), each step of ``score.ranks`` over all n^2 edges is timed apart:

* ``qr``: the per-point factors (``pairwise.factor_rows``, 2n QRs);
* ``core``: every core A_i^T B_j (``pairwise.core_products``, triangular blocks skipped);
* ``stack``: the cores of one source stacked into a batch;
* ``gram``: their smaller Gram matrices M (``pairwise.small_gram``);
* ``top``: lambda_max with its certificate (``ranks.top_eigenvalue``);
* ``ldl``: the count of eigenvalues above rtol^2 lambda_max (``ranks.inertia_above``);
* and, for comparison, ``eigvalsh`` of the same Grams: what the spectra path does instead of top + ldl.

    python benchmarks/score_rank_stages.py [--backbone zoo:vit-base-shape] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STEPS = ("qr", "core", "stack", "gram", "top", "ldl", "eigvalsh")


def probed_rows(ref: str):
    """H and Delta (tokens x width) of every stream point on the first batch, as ``score_edges`` keeps them."""
    from score_speed import setup

    from adaptgraph.score.scoring import _points, _probe_batch, _real_tokens

    bb, traced, _, batch, head = setup(ref)
    gm = traced.gm.eval().requires_grad_(False)
    infos = _points(traced, None, None)
    return _real_tokens(_probe_batch(gm, head, batch, infos), batch.attention_mask, infos)


def one_round(h, d) -> dict:
    import torch

    from adaptgraph.score.metrics import default_rtol
    from adaptgraph.score.pairwise import core_products, factor_rows, small_gram
    from adaptgraph.score.ranks import inertia_above, top_eigenvalue

    seconds = dict.fromkeys(STEPS, 0.0)

    def timed(step, fn, *args):
        tic = time.perf_counter()
        out = fn(*args)
        seconds[step] += time.perf_counter() - tic
        return out

    tokens, width = h[0].shape
    rtol = default_rtol(width, width)
    a, b = timed("qr", lambda: ([factor_rows(x) for x in h], [factor_rows(y) for y in d]))
    cores_of = core_products(a, b, triangular=tokens < width)
    size = b[0].shape[1]
    for ai in a:
        cores = timed("core", cores_of, ai)
        stack = timed("stack", lambda: torch.stack(cores.split(size, 1)))
        gram = timed("gram", small_gram, stack)
        timed("eigvalsh", torch.linalg.eigvalsh, gram)
        top, _ = timed("top", top_eigenvalue, gram, rtol)
        timed("ldl", inertia_above, gram, rtol * rtol * top, True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="zoo:vit-base-shape")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/score_rank_stages.json")
    args = ap.parse_args()
    import torch

    from adaptgraph.fileio import write_text_atomic

    h, d = probed_rows(args.backbone)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rounds = [one_round(h, d) for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in STEPS}
    rank_path = sum(v for k, v in med.items() if k != "eigvalsh")
    edges = len(h) ** 2
    out = {"command": " ".join(["python", *sys.argv]), "backbone": args.backbone, "points": len(h),
           "edges": edges, "tokens": h[0].shape[0], "width": h[0].shape[1], "threads": 1,
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rounds": rounds,
           "median_seconds": med, "rank_path_seconds": rank_path,
           "spectra_path_seconds": rank_path - med["top"] - med["ldl"] + med["eigvalsh"],
           "share_of_rank_path": {k: v / rank_path for k, v in med.items() if k != "eigvalsh"},
           "ms_per_edge": {k: 1e3 * v / edges for k, v in med.items()}}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    print(f"{args.backbone}: {len(h)} points, {h[0].shape[0]} tokens; one thread, median of {args.rounds}; "
          f"rank path {rank_path:.2f} s, spectra path {out['spectra_path_seconds']:.2f} s")
    for k in STEPS:
        share = f" ({100 * out['share_of_rank_path'][k]:.0f}%)" if k != "eigvalsh" else " (spectra path, instead of top + ldl)"
        print(f"  {k:9s} {med[k]:.2f} s, {out['ms_per_edge'][k]:.2f} ms per edge{share}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
