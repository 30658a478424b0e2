"""Hand-written eager references for the zoo ViT: the edge semantics of language.md section 4,
computed without any graph rewriting, to check the compiler against."""
from __future__ import annotations

import torch


def vit_with_adapters(vit, pixels, forward_edges, recurrent_edges=(), passes=1, taps=None):
    """Run the zoo ViT with adapters on stream points.

    ``forward_edges`` / ``recurrent_edges``: lists of ``(src_k, dst_k, module)`` on stream indices.
    ``taps``: optional {name: (point_k, module)} adapters reading extra values are not needed here.
    """
    def run(recurrent_in):
        values = {}

        def point(k, value):
            total = value
            for s, d, m in forward_edges:
                if d == k:
                    total = total + m(value if s == k else values[s])
            total = total + recurrent_in.get(k, 0)
            values[k] = total
            return total

        x = vit.patch_embed(pixels)
        x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + vit.pos_embed
        x = point(0, x)
        for b, blk in enumerate(vit.blocks):
            x = point(2 * b + 1, x + blk.attn(blk.norm1(x)))
            x = point(2 * b + 2, x + blk.mlp(blk.norm2(x)))
        return vit.norm(x), values

    out, values = run({})
    for _ in range(2, passes + 1):
        incoming = {}
        for s, d, m in recurrent_edges:
            incoming[d] = incoming.get(d, 0) + m(values[s])
        out, values = run(incoming)
    return out
