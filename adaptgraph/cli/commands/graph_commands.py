"""`points` and `compile`: commands that trace a backbone."""
from __future__ import annotations

import json
import sys

from . import TRUST_CODE_HELP

EXAMPLES_POINTS = """examples:
  adaptgraph points zoo:vit-tiny
  adaptgraph points hf:minilm --json > points.json
  adaptgraph points hf:minilm --ports          # module ports too, not only stream points
"""
EXAMPLES_COMPILE = """examples:
  adaptgraph compile specs/minilm_gga4.adapt
  adaptgraph compile my.adapt --backbone zoo:vit-tiny --graph
  adaptgraph compile my.adapt -o init.safetensors --json
"""


def register(sub) -> None:
    import argparse

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("points", help="list a backbone's stream points and module ports with shapes",
                       description="Trace BACKBONE and list the points a spec can name: the stream points @0..@N "
                                   "between its repeated blocks and (with --ports) every called module's .in and "
                                   ".out, each with its shape and graph node.",
                       epilog=EXAMPLES_POINTS, formatter_class=raw)
    p.add_argument("backbone", metavar="BACKBONE", help="zoo:NAME, hf:minilm, hf:PATH, timm:NAME, py:MODULE:FACTORY")
    p.add_argument("--ports", action="store_true", help="also list every module's .in and .out")
    p.add_argument("--stream", metavar="PATTERN", help="module pattern of the repeated blocks (default: detected)")
    p.add_argument("--frontend", type=_frontend, help="tracing frontend (default: the backbone's)")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_points)

    p = sub.add_parser("compile", help="compile a spec against a backbone and show what it adds",
                       description="Trace the spec's backbone, place every adapter edge in the graph, and print "
                                   "each edge's kind, points, shapes, parameters and extra FLOPs, and the "
                                   "trainable share of the backbone. Nothing is trained.",
                       epilog=EXAMPLES_COMPILE, formatter_class=raw)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--backbone", metavar="REF", help="override the spec's backbone")
    p.add_argument("--frontend", type=_frontend, help="tracing frontend (default: the backbone's)")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--graph", action="store_true", help="print the rewritten graph")
    p.add_argument("-o", "--output", metavar="FILE", help="save the initial adapters (.safetensors)")
    p.add_argument("--seed", type=int, default=0, help="seed of the adapters' initial weights (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_compile)


def _frontend(name: str) -> str:
    """A ``--frontend`` value, checked against the frontend registry (torch loads only when one is given)."""
    import argparse

    from ...graph.tracing import frontend_names

    if name not in frontend_names():
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(frontend_names())})")
    return name


def run_points(args) -> int:
    from ...backbones import get_backbone
    from ...graph import trace_backbone
    from ...graph import module_ports, stream_points
    from ...errors import PlanError

    traced = trace_backbone(get_backbone(args.backbone, trust_code=args.trust_code), args.frontend)
    rows, note = [], ""
    try:
        rows += [_point_row(p) for p in stream_points(traced, args.stream)]
    except PlanError as e:
        note = e.problems[0].message
    if args.ports or not rows:
        rows += [_point_row(p) for p in sorted(module_ports(traced).values(), key=lambda p: p.order)]
    if args.json:
        print(json.dumps({"backbone": args.backbone, "frontend": traced.frontend, "points": rows,
                          "note": note}, indent=2))
        return 0
    print(f"{args.backbone} (traced with {traced.frontend})")
    if note:
        print(f"no stream points: {note}")
    _table([("point", "shape", "node")] + [(r["name"], _shape(r["shape"]), r["node"]) for r in rows])
    return 0


def _point_row(p) -> dict:
    return {"name": p.name, "shape": list(p.shape), "feature_dim": p.feature_dim, "node": p.node, "order": p.order}


def run_compile(args) -> int:
    from ...graph.backbone_snapshot import load_snapshot, store_snapshot
    from ...compiler import compile as compile_spec
    from ...fileio import refuse_input
    from ...backbones.identity import weights_digest
    from ...compiler.adapter_files import FINGERPRINT_KEY, save_adapters
    from ...spec import load

    spec = load(args.spec)
    if args.output:
        refuse_input(args.output)  # -o the spec itself would replace it with the adapter file
    ref = args.backbone or spec.backbone
    # a warm cache holds the traced backbone and where its weights are: no transformers import
    snapshot = load_snapshot(ref, args.frontend, args.trust_code)
    model = compile_spec(spec, snapshot or args.backbone, frontend=args.frontend, trust_code=args.trust_code,
                         seed=args.seed)
    if snapshot is None:
        store_snapshot(ref, args.frontend, args.trust_code)
    report = compile_report(model)
    if args.output:  # a snapshot knows the backbone's fingerprint: saving need not load the backbone
        save_adapters(model, args.output, metadata={FINGERPRINT_KEY: weights_digest(snapshot)} if snapshot else None,
                      follow_link=True)  # a file the user named: a link to one is followed, as select -o does
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
        if args.graph:
            print(model.graph)
        if args.output:
            print(f"initial adapters saved to {args.output}")
    return 0


def compile_report(model) -> dict:
    info = model.adaptgraph
    edges = [{"name": e.name, "kind": e.kind, "src": e.src.name, "dst": e.dst.name,
              "src_shape": list(e.src.shape), "dst_shape": list(e.dst.shape), "rank": e.options.rank,
              "parameters": e.parameters, "flops_per_example": e.flops_per_example()}
             for e in info.plan.edges]
    return {"spec": info.spec.name, "backbone": info.backbone_ref, "frontend": info.frontend, "edges": edges,
            "train": list(info.plan.train), "passes": info.plan.passes, "trainable_parameters": info.trainable,
            "backbone_parameters": info.backbone_parameters,
            "trainable_share": info.trainable / max(1, info.backbone_parameters),
            "nodes_recomputed_per_extra_pass": info.recomputed_nodes, "spec_hash": info.spec.content_hash()}


def _print_report(r: dict) -> None:
    print(f"spec {r['spec'] or '(unnamed)'} on {r['backbone']} (traced with {r['frontend']})")
    rows = [("edge", "kind", "source -> destination", "shapes", "params", "extra FLOPs/example")]
    for e in r["edges"]:
        shapes = f"{_shape(e['src_shape'])} -> {_shape(e['dst_shape'])}"
        rows.append((e["name"], e["kind"], f"{e['src']} -> {e['dst']}", shapes, f"{e['parameters']:,}",
                     f"{e['flops_per_example']:,}"))
    _table(rows)
    if r["train"]:
        print(f"trained backbone modules: {', '.join(r['train'])}")
    print(f"trainable parameters: {r['trainable_parameters']:,} "
          f"({100 * r['trainable_share']:.3f}% of the backbone's {r['backbone_parameters']:,})")
    if r["passes"] > 1:
        print(f"forward passes: {r['passes']} (each extra pass recomputes {r['nodes_recomputed_per_extra_pass']} "
              "graph nodes; the shared prefix runs once)")


def _shape(shape) -> str:
    """``[2, 17, 64]`` -> ``Bx17x64``: the batch size of the example inputs means nothing to a reader."""
    return "x".join(["B", *map(str, shape[1:])]) if shape else "scalar"


def _table(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()
