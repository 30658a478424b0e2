"""Condition numbers of the token rows that rank scoring factorises (why counting ranks by inertia fails).

Probes zoo:vit-base-shape on one batch under a random head (as score_edges --head random does), records
the token rows H_i (activations) and Delta_i (gradients) of every stream point, and prints
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
from pathlib import Path

import torch


def probed_rows(ref: str = "zoo:vit-base-shape", task_ref: str = "digits?size=224", batch_size: int = 2):
    """H and Delta of every stream point from one probed pass under a random head, as score_edges takes them."""
    from adaptgraph.backbones import get_backbone
    from adaptgraph.graph import trace_backbone
    from adaptgraph.graph import stream_points
    from adaptgraph.score import probe
    from adaptgraph.tasks import bind_task, load_task, make_head, make_loader

    bb = get_backbone(ref)
    traced = trace_backbone(bb)
    points = sorted(stream_points(traced), key=lambda p: p.order)
    task = bind_task(load_task(task_ref), bb)
    batch = next(iter(make_loader(task.examples("train")[:batch_size], bb, batch_size=batch_size,
                                  max_length=64, shuffle=False)))
    with torch.no_grad():
        head = make_head(traced.gm(*batch.inputs), task.num_classes, "auto", 0).requires_grad_(False)
    loss = lambda out: head.per_example_loss(head(out, batch.attention_mask).float(), batch).mean()  # noqa: E731
    probed = probe(traced.gm, [p.node for p in points], batch.inputs, loss, [p.feature_dim for p in points])
    return {"h": probed.activations, "d": probed.gradients}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/score_conditioning.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    seen = probed_rows()
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
