"""Comments moved with their elements when a spec is printed another way (loops unrolled)."""
from __future__ import annotations

from dataclasses import replace

from .comments import END, Comments, Notes
from .expand import statement_sizes
from .models import Loop, Spec


def expanded_comments(spec: Spec, comments: Comments) -> Comments:
    """The comments keyed for ``spec.expanded()``: an edge's keep their place; a loop's (its body's
    included) go above the first edge it unrolls to, in source order, or further down if it makes none."""
    out = Comments({k: v for k, v in comments.items() if not k.startswith("edges[")})
    pending, offset = [], 0
    for i, (st, size) in enumerate(zip(spec.edges, statement_sizes(spec.edges))):
        key = f"edges[{i}]"
        if isinstance(st, Loop):
            pending += [replace(c, blank_after=False) for c in comments.under(key)]  # one block above
        else:
            for k, notes in comments.items():
                if k == key or k.startswith(key + "."):
                    out[f"edges[{offset}]" + k[len(key):]] = Notes(notes.before[:], notes.after[:],
                                                                   notes.open[:], notes.end[:])
        if pending and size:
            first = out.setdefault(f"edges[{offset}]", Notes())
            first.before = sorted(pending + first.before, key=lambda c: c.line)
            pending = []
        offset += size
    if pending:  # loops that unroll to no edge at the end: their comments go before what follows
        target = "train" if spec.train else END
        notes = out.setdefault(target, Notes())
        notes.before = sorted(pending + notes.before, key=lambda c: c.line)
    return out
