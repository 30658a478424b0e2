"""`plot`: a picture of a spec's placement on its backbone (matplotlib, the `plot` extra)."""
from __future__ import annotations

from . import TRUST_CODE_HELP

EXAMPLES = """examples:
  adaptgraph plot specs/minilm_gga4.adapt --out placement.png
  adaptgraph plot my.adapt --backbone zoo:vit-tiny --out placement.svg
  adaptgraph plot best.adapt --scores scores/scores.json --out best.png   # over the score heat map
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "plot", help="draw a spec's placement: adapters as arcs over the backbone's stream points",
        description="Draw the backbone's stream points @0..@N in order on a line and every adapter of the spec\n"
                    "as an arc from the point it reads to the point it writes: colour and line style give the\n"
                    "kind, line width the rank; recurrent edges run below the line, pointing back; an edge on a\n"
                    "module's ports sits at that module's place in the stream. With --scores, the score heat map\n"
                    "of `adaptgraph score` is drawn below, the spec's edges marked on it. See docs/language.md\n"
                    "('A first example'). Needs matplotlib: pip install 'adaptgraph[plot]'.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="a .adapt, .adapt.yaml or .json spec")
    p.add_argument("--out", required=True, metavar="FILE", help="the picture to write: FILE.png or FILE.svg")
    p.add_argument("--backbone", metavar="REF", help="override the spec's backbone")
    p.add_argument("--scores", metavar="SCORES_JSON", help="draw over this heat map (the scores.json of `adaptgraph score`, or its folder)")
    p.add_argument("--metric", default="rank", choices=("rank", "erank", "fro", "nuclear"),
                   help="the score shown with --scores (default rank)")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.set_defaults(run=run_plot)


def run_plot(args) -> int:
    from ...plot import plot_spec

    path = plot_spec(args.spec, args.backbone, args.out, scores=args.scores, metric=args.metric,
                     trust_code=args.trust_code)
    print(f"wrote {path}")
    return 0
