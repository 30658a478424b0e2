"""Where the time of ranks without spectra goes, step by step, on the probed rows of one batch.

The rows are those ``score_speed.py``'s ``score`` measurement scores (same backbone, batch, random
head). On ONE thread (so that the steps add up; ``score_edges`` spreads the work over
``torch.get_num_threads()`` threads), each step of both ways ``score.ranks`` counts over all n^2 edges
is timed apart. The pencil path (``score.pencil``, what ``pair_ranks`` runs when tokens < features):

* ``points``: per point the token Gram K_i, the QL factor B_j of Delta_j, D_j = B_j B_j^T, E_j = D_j^-1,
  kappa_j and the terms of rho_ij (``pencil.Pencil``);
* ``lanczos``: lambda_max of every M_ij with its certificate (``pencil.top_eigenvalues``);
* ``counts``: one LDL^T of K_i - tau E_j per edge (``pencil.row_counts``).

The cores path (what the pencil leaves to it, and what ran before it):

* ``qr``: the per-point factors (``pairwise.factor_rows``, 2n QRs: lower triangular for the sources, upper
  for the destinations);
* ``core``: every core A_i^T B_j, upper triangular (``pairwise.core_products``, zero blocks skipped);
* ``gram``: their Gram matrices M (``pairwise.small_gram``, zero rows skipped), a few edges at a time
  (``pairwise.edge_chunks``) as ``score.ranks`` does;
* ``top``: lambda_max with its certificate (``ranks.top_eigenvalue``);
* ``ldl``: the count of eigenvalues above rtol^2 lambda_max (``ranks.inertia_above``);
* and, for comparison, ``eigvalsh`` of the same Grams: what the spectra path does instead of top + ldl;
  from them, how the singular values sit around the rank threshold (``spectra`` in the output).

It also measures the **floor** of each path: the flops it cannot avoid, over the float64 rate of one large
dense matmul, BLAS's best case, on one thread and on all of them. The cores path: per point a Householder QR
of the d x N rows (2 d N^2 - 2 N^3 / 3); per edge the N x N core as a product of two upper triangular
matrices (N^3 / 3), the Gram of that triangular core (N^3 / 3) and one LDL^T (N^3 / 3). The pencil path:
per point the source's token Gram (N^2 d, as a symmetric rank-k update), the destination's QL factor
(2 d N^2 - 2 N^3 / 3), the inverse of its Gram from that factor (2 N^3 / 3) and the Gram itself (N^3 / 3);
per edge one LDL^T (N^3 / 3). Time below a floor would need fewer
flops, not faster code.

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

PENCIL = ("points", "lanczos", "counts")
CORES = ("qr", "core", "gram", "top", "ldl")
STEPS = PENCIL + CORES + ("eigvalsh",)


def probed_rows(ref: str):
    """H and Delta (tokens x width) of every stream point on the first batch, as ``score_edges`` keeps them."""
    from score_speed import setup

    from adaptgraph.score.scoring import _points, _probe_batch, _real_tokens

    bb, traced, _, batch, head = setup(ref)
    gm = traced.gm.eval().requires_grad_(False)
    infos = _points(traced, None, None)
    return _real_tokens(_probe_batch(gm, head, batch, infos), batch.attention_mask, infos)


def one_round(h, d) -> tuple:
    import torch

    from adaptgraph.score.metrics import default_rtol
    from adaptgraph.score.pairwise import block_bounds, column_blocks, core_products, edge_chunks, factor_rows, small_gram
    from adaptgraph.score.pencil import Pencil, row_counts, top_eigenvalues
    from adaptgraph.score.ranks import inertia_above, top_eigenvalue

    seconds = dict.fromkeys(STEPS, 0.0)

    def timed(step, fn, *args):
        tic = time.perf_counter()
        out = fn(*args)
        seconds[step] += time.perf_counter() - tic
        return out

    tokens, width = h[0].shape
    rtol = default_rtol(width, width)
    n = len(h)
    pencil = timed("points", Pencil, h, d, torch.full((n, n), rtol, dtype=torch.float64))
    lam, done = timed("lanczos", top_eigenvalues, pencil)
    tau = rtol * rtol * lam
    pencil_ranks = torch.zeros(n, n, dtype=torch.long)
    for i in range(n):  # the pencil path, as score.ranks runs it (every edge certified on the backbones measured)
        js = [j for j in range(n) if done[i, j] and lam[i, j] > 0]
        pencil_ranks[i, js] = torch.tensor(timed("counts", row_counts, pencil, i, js, tau[i, js]), dtype=torch.long)
    upper = tokens < width
    a, b = timed("qr", lambda: ([factor_rows(x) for x in h], [factor_rows(y, upper) for y in d]))
    cores_of = core_products(a, b, triangular=upper)
    size = b[0].shape[1]
    bounds = block_bounds([size] * len(b))
    for ai in a:  # the cores path, as score.ranks runs it for the edges the pencil leaves
        stack = column_blocks(timed("core", cores_of, ai), bounds, range(len(b)), size)  # a view
        for lo, hi in edge_chunks(len(b), size):
            gram = timed("gram", small_gram, stack[lo:hi], upper)
            top, _ = timed("top", top_eigenvalue, gram, rtol)
            timed("ldl", inertia_above, gram, rtol * rtol * top, True)
    spectra = []
    for ai in a:  # apart, so that the rank path's Grams meet the cache as they do without it
        stack = column_blocks(cores_of(ai), bounds, range(len(b)), size)
        for lo, hi in edge_chunks(len(b), size):
            spectra.append(timed("eigvalsh", torch.linalg.eigvalsh, small_gram(stack[lo:hi], upper)))
    return seconds, torch.cat(spectra), rtol, pencil_ranks, int(done.sum())


def near_threshold(eigenvalues, rtol: float, h, d) -> dict:
    """How the edges' singular values sit around the rank threshold s = rtol sigma_max (from the Grams'
    eigenvalues, edge i -> j in row i n + j): the ranks; per edge the smallest sigma above s and the
    largest below, over s; and kappa = ||H_i|| ||Delta_j|| / sigma_max, how much larger the factors are
    than the gradient they make (rounding and truncation of the factors scale with it)."""
    import torch

    sv = eigenvalues.clamp_min(0).sqrt().flip(-1)  # descending singular values, one row per edge
    norms = lambda xs: torch.stack([torch.linalg.matrix_norm(x.double(), 2) for x in xs])  # noqa: E731
    kappa = torch.outer(norms(h), norms(d)).flatten() / sv[:, 0]
    s = rtol * sv[:, :1]
    ranks = (sv > s).sum(-1)
    above = torch.where(sv > s, sv / s, torch.inf).amin(-1)
    below = torch.where(sv > s, 0.0, sv / s).amax(-1)
    lam = sv.square()
    tail = torch.where(sv > s, 0.0, lam).sum(-1)  # what a trace bound leaves: sum of the eigenvalues not above tau
    q = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=sv.dtype)
    pick = lambda x: [round(v, 6) for v in x.to(sv.dtype).quantile(q).tolist()]  # noqa: E731
    return {"ranks_all": ranks, "quantiles": [0.0, 0.1, 0.5, 0.9, 1.0], "rank": pick(ranks),
            "smallest_above_over_s": pick(above),
            "largest_below_over_s": pick(below), "kappa": pick(kappa),
            "edges_within_1e-3_of_s": int(((above - 1 < 1e-3) | (1 - below < 1e-3)).sum()),
            "share_with_tail_sum_below_tau": float((tail <= lam[:, 0] * rtol * rtol).double().mean())}


def gemm_gflops(size: int, threads: int, rounds: int = 3) -> float:
    """Float64 GFLOP/s of one large dense matmul, (size x size) times (size x 25 size), on ``threads``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size, dtype=torch.float64), torch.randn(size, 25 * size, dtype=torch.float64)
        a @ b  # warm-up
        times = []
        for _ in range(rounds):
            tic = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - tic)
        return 2 * size * size * 25 * size / statistics.median(times) / 1e9
    finally:
        torch.set_num_threads(before)


def floor_flops(points: int, tokens: int, width: int) -> dict:
    """Flops of the exact counts of all points^2 edges that no implementation of each path avoids
    (module docstring; tokens < width)."""
    cores_point = 2 * width * tokens ** 2 - 2 * tokens ** 3 / 3
    pencil_point = 3 * width * tokens ** 2 + tokens ** 3 / 3
    ldl = tokens ** 3 / 3
    return {"cores": 2 * points * cores_point + points ** 2 * 3 * ldl,
            "pencil": points * pencil_point + points ** 2 * ldl}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="zoo:vit-base-shape")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/score_rank_stages.json")
    args = ap.parse_args()
    import torch

    from adaptgraph.fileio import write_text_atomic

    h, d = probed_rows(args.backbone)
    all_threads = torch.get_num_threads()
    size = min(h[0].shape)
    rates = {"1": gemm_gflops(size, 1), str(all_threads): gemm_gflops(size, all_threads)}
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    done = [one_round(h, d) for _ in range(args.rounds)]
    rounds = [r[0] for r in done]
    med = {k: statistics.median(r[k] for r in rounds) for k in STEPS}
    paths = {"pencil": sum(med[k] for k in PENCIL), "cores": sum(med[k] for k in CORES)}
    edges = len(h) ** 2
    spectra = near_threshold(done[0][1], done[0][2], h, d)
    out = {"command": " ".join(["python", *sys.argv]), "backbone": args.backbone, "points": len(h),
           "edges": edges, "tokens": h[0].shape[0], "width": h[0].shape[1], "threads": 1,
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rounds": rounds,
           "median_seconds": med, "path_seconds": paths,
           "spectra_path_seconds": paths["cores"] - med["top"] - med["ldl"] + med["eigvalsh"],
           "share_of_path": {k: med[k] / paths["pencil" if k in PENCIL else "cores"] for k in PENCIL + CORES},
           "ms_per_edge": {k: 1e3 * v / edges for k, v in med.items()},
           "pencil_certified_edges": done[0][4],
           "pencil_ranks_equal_spectra_ranks": int((done[0][3].flatten() == spectra.pop("ranks_all")).sum()),
           "gemm_gflops": rates, "spectra": spectra}
    if size < h[0].shape[1]:
        gflop = {k: v / 1e9 for k, v in floor_flops(len(h), size, h[0].shape[1]).items()}
        out["floor"] = {k: {"gflop": g, **{f"seconds_{t}_threads": g / r for t, r in rates.items()},
                            "path_gflops_1_thread": g / paths[k]} for k, g in gflop.items()}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    print(f"{args.backbone}: {len(h)} points, {h[0].shape[0]} tokens; one thread, median of {args.rounds}; "
          f"pencil path {paths['pencil']:.2f} s, cores path {paths['cores']:.2f} s, spectra path "
          f"{out['spectra_path_seconds']:.2f} s; the pencil certified {out['pencil_certified_edges']} of {edges} edges, "
          f"its ranks equal the spectra's on {out['pencil_ranks_equal_spectra_ranks']}")
    for k in STEPS:
        share = (f" ({100 * out['share_of_path'][k]:.0f}% of its path)" if k != "eigvalsh"
                 else " (spectra path, instead of top + ldl)")
        print(f"  {k:9s} {med[k]:.2f} s, {out['ms_per_edge'][k]:.2f} ms per edge{share}")
    sp = out["spectra"]
    print(f"ranks (min/10%/median/90%/max) {sp['rank']}; per edge, the smallest singular value above the "
          f"threshold s is at least {sp['smallest_above_over_s'][0]:.5f} s and the largest below at most "
          f"{sp['largest_below_over_s'][-1]:.5f} s; {sp['edges_within_1e-3_of_s']} edges within 1e-3 s of s; "
          f"kappa {sp['kappa']}; the eigenvalues below tau sum to at most tau on "
          f"{100 * sp['share_with_tail_sum_below_tau']:.0f}% of the edges")
    for k, fl in out.get("floor", {}).items():
        print(f"{k} floor: {fl['gflop']:.1f} GFLOP float64 (the path ran at {fl['path_gflops_1_thread']:.1f} "
              "GFLOP/s); a large matmul runs at " + ", ".join(
                  f"{r:.1f} GFLOP/s on {t} thread(s): {fl[f'seconds_{t}_threads']:.2f} s" for t, r in rates.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
