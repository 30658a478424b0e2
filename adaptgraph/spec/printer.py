"""Spec -> canonical ``.adapt`` text. ``loads(dumps(spec)) == spec`` and printing is idempotent."""
from __future__ import annotations

from .models import Edge, Loop, Options, Spec

INDENT = "  "


def dumps(spec: Spec, expand: bool = False) -> str:
    """The canonical text of ``spec``; ``expand=True`` unrolls loops."""
    sections = [_header(spec), _templates(spec), _edges(spec, expand), _train(spec)]
    return "\n\n".join(s for s in sections if s) + "\n"


def _header(spec: Spec) -> str:
    lines = []
    if spec.name is not None:
        lines.append(f"spec {spec.name}")
    if spec.backbone is not None:
        lines.append(f"backbone {quote(spec.backbone)}")
    if spec.stream is not None:
        lines.append(f"stream {spec.stream}")
    if spec.passes != 2:
        lines.append(f"passes {spec.passes}")
    return "\n".join(lines)


def _templates(spec: Spec) -> str:
    lines = []
    if spec.defaults.items():
        lines.append(f"defaults {options_text(spec.defaults)}")
    lines += [f"adapter {name} {options_text(opts)}" for name, opts in spec.templates.items()]
    return "\n".join(lines)


def _edges(spec: Spec, expand: bool) -> str:
    statements = spec.expanded() if expand else spec.edges
    return "\n".join(_statement(st, 0) for st in statements)


def _train(spec: Spec) -> str:
    return f"train {', '.join(spec.train)}" if spec.train else ""


def _statement(st, depth: int) -> str:
    pad = INDENT * depth
    if isinstance(st, Loop):
        rng = f"{st.start}..{st.stop}" if st.values is None else "[" + ", ".join(map(str, st.values)) + "]"
        body = "\n".join(_statement(inner, depth + 1) for inner in st.body)
        return f"{pad}for {st.var} in {rng} {{\n{body}\n{pad}}}" if body else f"{pad}for {st.var} in {rng} {{}}"
    return pad + edge_text(st)


def edge_text(edge: Edge) -> str:
    """One edge statement, using the `parallel M` / `sequential M` sugar where it applies."""
    head = _sugar(edge) or f"{edge.kind} {edge.src} -> {edge.dst}"
    if edge.name is not None:
        head += f" as {edge.name}"
    if edge.template is not None:
        head += f" : {edge.template}"
    if edge.options.items():
        head += f" {options_text(edge.options)}"
    return head


def _sugar(edge: Edge) -> str | None:
    ports = {"parallel": (".in", ".out"), "sequential": (".out", ".out")}.get(edge.kind)
    if ports and edge.src.endswith(ports[0]) and edge.dst.endswith(ports[1]):
        module = edge.src[: -len(ports[0])]
        # a module path ending in a port name would read back as a point: keep such edges explicit
        if edge.dst[: -len(ports[1])] == module and not module.endswith((".in", ".out")):
            return f"{edge.kind} {module}"
    return None


def options_text(opts: Options) -> str:
    items = opts.items()
    return "{ " + ", ".join(f"{k} = {value_text(v)}" for k, v in items) + " }" if items else "{}"


def value_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
