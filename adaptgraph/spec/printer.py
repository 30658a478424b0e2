"""Spec -> canonical ``.adapt`` text. ``loads(dumps(spec)) == spec`` and printing is idempotent.

With ``comments`` (from ``loads_with_comments``), each comment is printed with the element it
annotates: own-line comments above it, a trailing comment after it; an option block that holds
comments is printed one option per line.
"""
from __future__ import annotations

from .comments import END, HEAD, Comment, Comments
from .models import Edge, Loop, Options, Spec

INDENT = "  "


def dumps(spec: Spec, expand: bool = False, comments: Comments | None = None) -> str:
    """The canonical text of ``spec``; ``expand=True`` unrolls loops."""
    c = _Used(comments or {})
    if expand and c:
        from .comment_keys import expanded_comments

        c = _Used(expanded_comments(spec, c))
    sections = [_header(spec, c), _templates(spec, c), _edges(spec, expand, c), _train(spec, c)]
    # comments of elements this spec does not have (it was changed after loading) are not lost: at the end
    orphans = [x for k, notes in c.items() if k not in c.used and k not in (HEAD, END) for x in notes.all()]
    end = _own_lines(sorted(orphans, key=lambda x: x.line) + c.notes(END).before, "")
    text = "\n\n".join(s for s in [*sections, end] if s)
    head = c.notes(HEAD).before  # above everything, as far from it as it was from the first statement
    if head:
        gap = "\n\n" if head[-1].blank_after else "\n"
        text = _own_lines(head, "") + (gap + text if text else "")
    return text + "\n"


class _Used(Comments):
    """Comments that remember which elements' notes the printer asked for."""

    def __init__(self, comments):
        super().__init__(comments)
        self.used: set[str] = set()

    def notes(self, key: str):
        self.used.add(key)
        return super().notes(key)


def _header(spec: Spec, c: Comments) -> str:
    lines = []
    if spec.name is not None:
        lines.append(_line("name", f"spec {spec.name}", c))
    if spec.backbone is not None:
        lines.append(_line("backbone", f"backbone {quote(spec.backbone)}", c))
    if spec.stream is not None:
        lines.append(_line("stream", f"stream {spec.stream}", c))
    if spec.passes != 2:
        lines.append(_line("passes", f"passes {spec.passes}", c))
    return "\n".join(lines)


def _templates(spec: Spec, c: Comments) -> str:
    lines = []
    if spec.defaults.items() or "defaults" in c:  # an empty `defaults {}` is kept when it holds comments
        lines.append(_with_options("defaults", "defaults", spec.defaults, "defaults", c, 0))
    lines += [_with_options(f"templates.{name}", f"adapter {name}", opts, f"templates.{name}", c, 0)
              for name, opts in spec.templates.items()]
    return "\n".join(lines)


def _edges(spec: Spec, expand: bool, c: Comments) -> str:
    statements = spec.expanded() if expand else spec.edges
    return "\n".join(_statement(st, f"edges[{i}]", 0, c) for i, st in enumerate(statements))


def _train(spec: Spec, c: Comments) -> str:
    return _line("train", f"train {', '.join(spec.train)}", c) if spec.train else ""


def _statement(st, key: str, depth: int, c: Comments) -> str:
    pad = INDENT * depth
    if isinstance(st, Loop):
        rng = f"{st.start}..{st.stop}" if st.values is None else "[" + ", ".join(map(str, st.values)) + "]"
        inner = [_statement(s, f"{key}.body[{i}]", depth + 1, c) for i, s in enumerate(st.body)]
        return _block(key, f"for {st.var} in {rng}", inner, c, depth, empty="{}")
    return _with_options(key, edge_text(st, with_options=False), st.options, f"{key}.options", c, depth,
                         skip_empty=True)


def _with_options(key: str, head: str, opts: Options, prefix: str, c: Comments, depth: int,
                  skip_empty: bool = False) -> str:
    """A statement ending in an option block: on one line, or one option per line when comments need it."""
    commented = c.notes(key).inline() or any(f"{prefix}.{name}" in c for name, _ in opts.items())
    if not commented:
        block = options_text(opts) if opts.items() or not skip_empty else ""
        return _line(key, f"{head} {block}".rstrip(), c, depth)
    inner = [_line(f"{prefix}.{name}", f"{name} = {value_text(v)}", c, depth + 1) for name, v in opts.items()]
    return _block(key, head, inner, c, depth, empty="{}")


def _block(key: str, head: str, inner: list[str], c: Comments, depth: int, empty: str) -> str:
    """``head { ... }`` over several lines, with the block's own comments after '{' and before '}'."""
    notes, pad = c.notes(key), INDENT * depth
    end = _own_lines(notes.end, INDENT * (depth + 1))
    body = "\n".join(x for x in [*inner, end] if x)
    before = _own_lines(sorted(notes.before + notes.after[:-1], key=lambda x: x.line), pad, keep_last_blank=True)
    if not body and not notes.open:
        first = f"{pad}{head} {empty}{_trailing(notes.after[-1:])}"
    else:
        opening = f"{pad}{head} {{{_trailing(notes.open)}"
        first = f"{opening}\n{body}\n{pad}}}{_trailing(notes.after[-1:])}" if body else \
            f"{opening}\n{pad}}}{_trailing(notes.after[-1:])}"
    return f"{before}\n{first}" if before else first


def _line(key: str, text: str, c: Comments, depth: int = 0) -> str:
    """One line of code with its comments: own lines above it, the last trailing one after it."""
    notes, pad = c.notes(key), INDENT * depth
    extra = notes.open + notes.end  # an element printed on one line has no block: above it, in order
    before = _own_lines(sorted(notes.before + notes.after[:-1] + extra, key=lambda x: x.line), pad,
                        keep_last_blank=True)
    line = f"{pad}{text}{_trailing(notes.after[-1:])}"
    return f"{before}\n{line}" if before else line


def _own_lines(comments: list[Comment], pad: str, keep_last_blank: bool = False) -> str:
    out = []
    for i, comment in enumerate(comments):
        out.append(pad + comment.text)
        if comment.blank_after and (keep_last_blank or i < len(comments) - 1):
            out.append("")
    return "\n".join(out)


def _trailing(comments: list[Comment]) -> str:
    return "".join("  " + x.text for x in comments)


def edge_text(edge: Edge, with_options: bool = True) -> str:
    """One edge statement, using the `parallel M` / `sequential M` sugar where it applies."""
    head = _sugar(edge) or f"{edge.kind} {edge.src} -> {edge.dst}"
    if edge.name is not None:
        head += f" as {edge.name}"
    if edge.template is not None:
        head += f" : {edge.template}"
    if with_options and edge.options.items():
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
