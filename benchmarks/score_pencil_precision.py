"""How far the pencil's counts (``score.pencil``) can be trusted, measured on real probed rows and on cases
made to break it.

``score.ranks`` counts an edge's singular values above s = rtol sigma_max as the positive eigenvalues of
X_ij = K_i - tau E_j (E_j = (Delta_j Delta_j^T)^-1). Mathematically that count is exact; in float64 inverting
Delta_j's token Gram may move the threshold the count sees. This script measures by how much: for destination
variants of one backbone's probed rows (the real ones; with a few tokens scaled down; with a few random token
mixtures shrunk), and for every other source, it takes every squared singular value lambda of G_ij within a
factor 5 of tau (from ``svdvals`` of the float64 G_ij), counts the eigenvalues of X above thresholds
lambda (1 +- delta) for delta = 1e-4 ... 1e-10, and records the largest delta at which a count differs from the
exact one (over all those edges, and over the edges ``score.pencil`` would use); the same for the count the
cores path makes (LDL^T of the core's Gram minus the threshold), whose rounding ``score.ranks`` accepted before.
Beside it: the two measures ``score.pencil`` decides by, N eps kappa_j / width (width = N eps / rtol^2, the
rounding a count may move by anyway; at most ``ROUNDING_MARGIN``) and the largest rho_ij (at most
``ALIGNMENT_LIMIT``). ``--synthetic`` adds destinations made ill-conditioned along a token mixture that the
activations load (where K_i and tau E_j cancel), and reports the drift, in widths, of the edges both limits let
through and of those past rho's.

    python benchmarks/score_pencil_precision.py [--backbone zoo:vit-base-shape] [--out FILE] [--synthetic]
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

    from adaptgraph.score.inertia import EPS64, positive_count
    from adaptgraph.score.pairwise import factor_rows, small_gram
    from adaptgraph.score.pencil import Pencil, top_eigenvalues
    from adaptgraph.score.ranks import inertia_above

    n = len(h)
    pencil = Pencil(h, [y] * n, torch.full((n, n), rtol, dtype=torch.float64))  # every source against y
    _, used = top_eigenvalues(pencil)
    top = torch.stack([torch.linalg.matrix_norm(x.double().T @ y.double(), 2).square() for x in h])  # exact lambda_max
    rho = pencil.scaled_terms[:, 0] / top
    kappa = pencil.kappa[0]
    width = float(pencil.width[0, 0])
    worst, tested, worst_cores, worst_used = 0.0, 0, 0.0, 0.0
    upper = factor_rows(y, upper=True)
    if kappa != float("inf"):
        for i in range(0, n, 2):
            k = pencil.k[i]
            lam_i = torch.linalg.svdvals(h[i].double().T @ y.double()).square()
            tau = rtol ** 2 * lam_i[0]
            near = lam_i[(lam_i > tau / 5) & (lam_i < 5 * tau)]
            thresholds = [(float(v) * (1 + sign * off), off) for v in near for off in OFFSETS for sign in (-1, 1)]
            if not thresholds:
                continue
            t = torch.tensor([x for x, _ in thresholds], dtype=torch.float64)
            got = positive_count(k[None] - t[:, None, None] * pencil.e[0][None])
            exact = (lam_i[None, :] > t[:, None]).sum(-1)
            gram = small_gram(factor_rows(h[i]).T @ upper, upper=True)
            cores = inertia_above(gram.expand(len(thresholds), -1, -1), t)  # what the cores path counts
            tested += len(thresholds)
            for (_, off), a, c, b_ in zip(thresholds, got.tolist(), cores.tolist(), exact.tolist()):
                if a != b_:
                    worst = max(worst, off)
                    if bool(used[i, 0]):
                        worst_used = max(worst_used, off)
                if c != b_:
                    worst_cores = max(worst_cores, off)
    return {"variant": label, "kappa": float(kappa), "n_eps_kappa_over_width": h[0].shape[0] * EPS64 * float(kappa) / width,
            "rho_max": float(rho.max()), "used_share": float(used[:, 0].double().mean()), "thresholds_tested": tested,
            "largest_offset_with_a_wrong_count": worst, "largest_offset_with_a_wrong_count_on_used_edges": worst_used,
            "cores_largest_offset_with_a_wrong_count": worst_cores}


def whole_backbone(h, d, rtol: float) -> dict:
    """The two measures over every edge of the backbone, as ``score.ranks`` meets them."""
    import torch

    from adaptgraph.score.inertia import EPS64
    from adaptgraph.score.pencil import Pencil, top_eigenvalues

    n = len(h)
    pencil = Pencil(h, d, torch.full((n, n), rtol, dtype=torch.float64))
    lam, used = top_eigenvalues(pencil)
    rho = (pencil.scaled_terms / lam)[lam > 0]
    ratio = h[0].shape[0] * EPS64 * pencil.kappa / float(pencil.width[0, 0])
    return {"edges": n * n, "edges_used": int(used.sum()), "rho_max": float(rho.max()),
            "ratio_max": float(ratio[torch.isfinite(ratio)].max())}


def synthetic() -> dict:
    """Destinations made ill-conditioned along one token mixture q, with activations loaded on q (the case that
    cancels inside X_ij) or not, and, in half the cases, a top direction that activations and gradients share
    (as real ones do). For each, the threshold is put at the 31st or 6th singular value; the drift of the count
    there is measured in widths, for the edges both limits let through and for those past rho's."""
    import torch

    from adaptgraph.score.inertia import positive_count
    from adaptgraph.score.pencil import Pencil, top_eigenvalues

    f64 = dict(dtype=torch.float64)
    inside, past_rho = [], []
    for tokens, width in ((64, 128), (100, 200), (394, 768)):
        for small in (1e-3, 1e-4, 1e-5, 1e-6):
            for load in (1e-3, 1e-2, 1e-1):
                for shared in (False, True):
                    g = torch.Generator().manual_seed(0)
                    q = torch.randn(tokens, 1, generator=g, **f64)
                    q /= q.norm()
                    away = torch.eye(tokens, **f64) - q @ q.T
                    h = away @ (torch.randn(tokens, 30, generator=g, **f64) @ torch.randn(30, width, generator=g, **f64))
                    d = away @ torch.randn(tokens, width, generator=g, **f64)
                    h = h + (load / small) * q @ torch.randn(1, width, generator=g, **f64)
                    d = d + small * q @ torch.randn(1, width, generator=g, **f64)
                    if shared:
                        u, c = torch.randn(tokens, 1, generator=g, **f64), torch.randn(1, width, generator=g, **f64)
                        h, d = h + 100 * u / u.norm() @ c, d + 10 * u / u.norm() @ c
                    lam = torch.linalg.svdvals(h.T @ d).square()
                    for k in (30, 5):
                        rtol = float((lam[k] / lam[0]).sqrt())
                        pencil = Pencil([h], [d], torch.tensor([[rtol]], **f64))
                        if not bool(pencil.usable[0, 0]):
                            continue
                        _, used = top_eigenvalues(pencil)
                        worst = 0.0
                        for off in OFFSETS + (1e-3, 1e-2):
                            for sign in (-1, 1):
                                t = float(lam[k]) * (1 + sign * off)
                                if int(positive_count((pencil.k[0] - t * pencil.e[0])[None])) != int((lam > t).sum()):
                                    worst = max(worst, off)
                        (inside if bool(used[0, 0]) else past_rho).append(worst / float(pencil.width[0, 0]))
    return {"cases_inside_both_limits": len(inside), "worst_drift_inside_widths": max(inside, default=0.0),
            "cases_past_rho_limit": len(past_rho), "worst_drift_past_rho_widths": max(past_rho, default=0.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="zoo:vit-base-shape")
    ap.add_argument("--out", default="benchmarks/results/score_pencil_precision.json")
    ap.add_argument("--synthetic", action="store_true", help="also the synthetic cases made to cancel (a few minutes)")
    args = ap.parse_args()
    from score_rank_stages import probed_rows

    from adaptgraph.fileio import write_text_atomic
    from adaptgraph.score.metrics import default_rtol
    from adaptgraph.score.pencil import ALIGNMENT_LIMIT, ROUNDING_MARGIN

    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    h, d = probed_rows(args.backbone)
    rtol = default_rtol(h[0].shape[1], h[0].shape[1])
    rows = [measure(h, label, y, rtol) for label, y in variants(d)]
    every = whole_backbone(h, d, rtol)
    made = synthetic() if args.synthetic else None
    out = {"command": " ".join(["python", *sys.argv]), "backbone": args.backbone, "started": started,
           "points": len(h), "tokens": h[0].shape[0], "rtol": rtol, "offsets": list(OFFSETS),
           "rounding_margin": ROUNDING_MARGIN, "alignment_limit": ALIGNMENT_LIMIT, "every_edge": every, "rows": rows,
           "synthetic": made}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    print(f"{args.backbone}: {len(h)} points, {h[0].shape[0]} tokens, rtol {rtol:.3g}; a destination is used while "
          f"N eps kappa / width <= {ROUNDING_MARGIN:.0e}, an edge while rho <= {ALIGNMENT_LIMIT:.0e}")
    print("| destination | N eps kappa / width | largest rho | edges used | thresholds tested | "
          "largest offset with a wrong count: pencil (used edges) / cores |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['n_eps_kappa_over_width']:.1e} | {r['rho_max']:.1e} | {100 * r['used_share']:.0f}% | "
              f"{r['thresholds_tested']} | {r['largest_offset_with_a_wrong_count'] or 'none'} "
              f"({r['largest_offset_with_a_wrong_count_on_used_edges'] or 'none'}) / "
              f"{r['cores_largest_offset_with_a_wrong_count'] or 'none'} |")
    print(f"every edge of the backbone: {every['edges_used']} of {every['edges']} counted from the pencil; "
          f"largest rho {every['rho_max']:.1e}, largest N eps kappa / width {every['ratio_max']:.1e}")
    if made:
        print(f"synthetic: {made['cases_inside_both_limits']} edges inside both limits drifted by at most "
              f"{made['worst_drift_inside_widths']:.1e} widths; {made['cases_past_rho_limit']} past rho's limit "
              f"(inside kappa's) by up to {made['worst_drift_past_rho_widths']:.1e} widths")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
