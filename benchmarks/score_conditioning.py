"""Condition numbers of the token rows that rank scoring factorises (why counting ranks by inertia fails).

Scores zoo:vit-base-shape on one batch (as benchmarks/score_speed.py does), records the token rows
H_i (activations) and Delta_i (gradients) of every stream point as they reach the spectra, and prints
each one's numerical rank and condition number sigma_max / sigma_min. A rank can be counted without a
spectrum (Sylvester's law of inertia: #eig(K_i^1/2 L_j K_i^1/2) > t = #positive eig(L_j - t K_i^-1),
K_i = H_i H_i^T, L_j = Delta_j Delta_j^T), but only when a token Gram can be inverted to a precision
well below the rank threshold t = rtol^2 lambda_max (rtol^2 = 8.4e-9 for width 768): its rounding is
about float64 eps * cond(K) = eps * cond(H)^2 relative to t.

    python benchmarks/score_conditioning.py [--out benchmarks/results/score_conditioning.json]
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/score_conditioning.json")
    args = ap.parse_args()
    import adaptgraph.score.accumulate as accumulate
    from adaptgraph.score import RankSaturationWarning, score_edges

    seen = {}
    real = accumulate.pair_spectra

    def recording(h, d, **kwargs):
        seen["h"], seen["d"] = h, d
        return real(h, d, **kwargs)

    accumulate.pair_spectra = recording
    torch.set_num_threads(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankSaturationWarning)
        score_edges("zoo:vit-base-shape", "digits?size=224", batches=1, batch_size=2, head="random", progress=False)
    rows = {}
    for name in ("h", "d"):
        rows[name] = []
        for x in seen[name]:
            sv = torch.linalg.svdvals(x.double())
            rows[name].append({"tokens": x.shape[0], "width": x.shape[1],
                               "rank_1e-12": int((sv > 1e-12 * sv[0]).sum()),
                               "cond": float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf")})
    worst = {name: min(r["cond"] for r in rows[name][1:]) for name in rows}  # point 0's H is rank-deficient
    result = {"backbone": "zoo:vit-base-shape", "rows": rows,
              "smallest_cond_after_point_0": worst,
              "eps_times_cond_squared": {k: 2.2e-16 * v * v for k, v in worst.items()}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, label in (("h", "activations H"), ("d", "gradients Delta")):
        conds = [r["cond"] for r in rows[name]]
        print(f"{label}: cond {min(conds):.1e} .. {max(conds):.1e}; "
              f"ranks {sorted({r['rank_1e-12'] for r in rows[name]})}")


if __name__ == "__main__":
    main()
