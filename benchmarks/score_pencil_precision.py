"""How far the pencil's counts (``score.pencil``) can be trusted, measured on real probed rows.

``score.ranks`` counts an edge's singular values above s = rtol sigma_max as the positive eigenvalues of
X_ij = K_i - tau E_j (E_j = (Delta_j Delta_j^T)^-1). Mathematically that count is exact; in float64 inverting
Delta_j's token Gram may move the threshold the count sees. This script measures by how much: for destination
variants of one backbone's probed rows (the real ones; with a few tokens scaled down; with a few random token
mixtures shrunk), and for every other source, it takes every squared singular value lambda of G_ij within a
factor 5 of tau (from ``svdvals`` of the float64 G_ij), counts the eigenvalues of X above thresholds
lambda (1 +- delta) for delta = 1e-4 ... 1e-10, and records the largest delta at which a count differs from the
exact one; the same for the count the cores path makes (LDL^T of the core's Gram minus the threshold), whose
rounding ``score.ranks`` accepted before. Beside it: kappa_j (the condition number of E_j with its diagonal
scaled to one, from which ``score.pencil`` decides whether to use a destination) as N eps kappa_j / width, width = N eps / rtol^2 being
the rounding ``score.ranks`` allows its counts anyway; ``score.pencil`` uses a destination while that ratio is
at most ``ROUNDING_MARGIN``.

    python benchmarks/score_pencil_precision.py [--backbone zoo:vit-base-shape] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OFFSETS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)


def variants(d, seed: int = 0):
    """(label, destination rows) to test: real destinations, and copies made ill-conditioned two ways."""
    import torch

    n, tokens = len(d), d[0].shape[0]
    g = torch.Generator().manual_seed(seed)
    picks = sorted({0, n // 2, n - 2, n - 1})
    out = [(f"destination {j}", d[j].double()) for j in picks]
    mid = d[n // 2].double()
    for f in (1e-4, 1e-8):
        y = mid.clone()
        y[torch.randperm(tokens, generator=g)[:3]] *= f
        out.append((f"destination {n // 2}, 3 tokens scaled by {f:.0e}", y))
    for f in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        q = torch.linalg.qr(torch.randn(tokens, 3, generator=g, dtype=torch.float64))[0]
        shrunk = mid - (1 - f) * q @ (q.T @ mid)
        out.append((f"destination {n // 2}, 3 random token mixtures shrunk by {f:.0e}", shrunk))
    return out


def measure(h, label: str, y, rtol: float) -> dict:
    import torch

    from adaptgraph.score.inertia import positive_count
    from adaptgraph.score.pairwise import factor_rows, small_gram
    from adaptgraph.score.pencil import ROUNDING_MARGIN, Pencil, _destination
    from adaptgraph.score.ranks import inertia_above

    n, tokens = len(h), h[0].shape[0]
    b, e, grams = (torch.empty(tokens, tokens, dtype=torch.float64) for _ in range(3))
    kappa = _destination(y, b, e, grams)
    width = min(tokens * torch.finfo(torch.float64).eps / rtol ** 2, 1e-3)
    ratio = tokens * torch.finfo(torch.float64).eps * kappa / width
    usable = bool(Pencil(h[:1], [y], torch.tensor([[rtol]], dtype=torch.float64)).usable.all())
    worst, tested, worst_cores = 0.0, 0, 0.0
    upper = factor_rows(y, upper=True)
    if kappa != float("inf"):
        for i in range(0, n, 2):
            k = h[i].double() @ h[i].double().T
            lam = torch.linalg.svdvals(h[i].double().T @ y).square()
            tau = rtol ** 2 * lam[0]
            near = lam[(lam > tau / 5) & (lam < 5 * tau)]
            thresholds = [(float(v) * (1 + sign * off), off) for v in near for off in OFFSETS for sign in (-1, 1)]
            if not thresholds:
                continue
            t = torch.tensor([x for x, _ in thresholds], dtype=torch.float64)
            got = positive_count(k[None] - t[:, None, None] * e[None])
            exact = (lam[None, :] > t[:, None]).sum(-1)
            gram = small_gram(factor_rows(h[i]).T @ upper, upper=True)
            cores = inertia_above(gram.expand(len(thresholds), -1, -1), t)  # what score.ranks did before
            tested += len(thresholds)
            for (_, off), a, c, b_ in zip(thresholds, got.tolist(), cores.tolist(), exact.tolist()):
                if a != b_:
                    worst = max(worst, off)
                if c != b_:
                    worst_cores = max(worst_cores, off)
    return {"variant": label, "kappa": kappa, "n_eps_kappa_over_width": ratio, "usable": usable,
            "within_margin": ratio <= ROUNDING_MARGIN, "thresholds_tested": tested,
            "largest_offset_with_a_wrong_count": worst, "cores_largest_offset_with_a_wrong_count": worst_cores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="zoo:vit-base-shape")
    ap.add_argument("--out", default="benchmarks/results/score_pencil_precision.json")
    args = ap.parse_args()
    from score_rank_stages import probed_rows

    from adaptgraph.fileio import write_text_atomic
    from adaptgraph.score.metrics import default_rtol
    from adaptgraph.score.pencil import ROUNDING_MARGIN

    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    h, d = probed_rows(args.backbone)
    rtol = default_rtol(h[0].shape[1], h[0].shape[1])
    rows = [measure(h, label, y, rtol) for label, y in variants(d)]
    out = {"command": " ".join(["python", *sys.argv]), "backbone": args.backbone, "started": started,
           "points": len(h), "tokens": h[0].shape[0], "rtol": rtol, "offsets": list(OFFSETS),
           "rounding_margin": ROUNDING_MARGIN, "rows": rows}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    print(f"{args.backbone}: {len(h)} points, {h[0].shape[0]} tokens, rtol {rtol:.3g}; used while "
          f"N eps kappa / width <= {ROUNDING_MARGIN:.0e}")
    print("| destination | N eps kappa / width | used | thresholds tested | largest offset with a wrong count: "
          "pencil / cores |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['n_eps_kappa_over_width']:.1e} | {'yes' if r['usable'] else 'no'} | "
              f"{r['thresholds_tested']} | {r['largest_offset_with_a_wrong_count'] or 'none'} / "
              f"{r['cores_largest_offset_with_a_wrong_count'] or 'none'} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
