"""Numerical ranks of every edge from per-point matrices: the inertia of K_i - tau D_j^-1, no cores.

With the destination's factor Delta_j = B_j Q_j^T (B_j upper triangular, N x N, the QL factor of
``pairwise.factor_rows``; N tokens < d_j features) and D_j = Delta_j Delta_j^T = B_j B_j^T, the squared
singular values of G_ij = H_i^T Delta_j are the eigenvalues of M_ij = B_j^T K_i B_j, K_i = H_i H_i^T the
source's token Gram. The congruence by B_j^-1 keeps the inertia (Sylvester's law), so

    #{eigenvalues of M_ij above tau} = #{positive eigenvalues of X_ij = K_i - tau E_j},   E_j = D_j^-1.

X_ij is formed in N^2 from two matrices made once per point, so an edge costs ONE LDL^T (N^3 / 3 flops,
``inertia.positive_count``) where the cores path (``ranks``) needs a core, its Gram and an LDL^T (N^3 with
triangular factors). tau = rtol^2 lambda_max(M_ij); lambda_max comes from Lanczos on M_ij applied in factored
form (B_j, K_i, B_j^T: three batched products per step for all n^2 edges), certified as in
``ranks.top_eigenvalue`` with lambda_2 <= trace(M_ij) - theta, trace(M_ij) = <K_i, D_j> (the gradient's
squared Frobenius norm), or by a Cholesky factorisation of c E_j - K_i, which is positive definite exactly
when lambda_max < c.

Precision. Inverting D_j is where this can lose what the cores path keeps, so an edge is counted here only
when two measures, both cheap, say the rounding stays far below what a count may move anyway (``ranks``'
width N eps / rtol^2, relative to tau):

* kappa_j = ||S E_j S||_F ||S^-1 D_j S^-1||_F (S = diag(E_j)^-1/2), the condition number of E_j with its
  diagonal scaled to one, per destination: N eps kappa_j <= ``ROUNDING_MARGIN`` * width. Ill-conditioning
  that comes from the scales of tokens (rows of Delta_j) costs nothing: the factorisations pivot on those rows
  and the congruence by B_j maps their errors back down; mixtures of tokens that Delta_j lacks do cost;
* rho_ij = ||S K_i S||_F ||S^-1 D_j S^-1||_F / lambda_max(M_ij) <= ``ALIGNMENT_LIMIT``, per edge: how much
  larger the two terms of the scaled X_ij are than the largest eigenvalue they make. It is at least 1, and
  large when H_i loads mixtures of tokens that Delta_j lacks, where K_i and tau E_j are both huge and cancel.
  Real gradients and activations share their top directions: rho_ij <= 13 on ViT-B and <= 3.7e3 on MiniLM.

Both limits are measured, not proved (``benchmarks/score_pencil_precision.py``, counts at thresholds lambda
(1 +- delta) around every squared singular value near tau, against ``svdvals``): on every real destination
the pencil's counts drifted by at most 1e-8 of tau (ViT-B: 1e-9), a thousandth of the width; on
destinations made ill-conditioned on purpose along a token mixture that the activations load (``--synthetic``),
the 73 edges inside both limits drifted by at most 0.3% of the width, the 26 past rho's limit (left to the
cores) by up to a quarter of it. Before rho's limit and the QL factor, such an edge drifted by 20 widths and
its rank was wrong (found in review; ``tests/score/test_pencil.py``).
Destinations past the first limit, edges past the second, destinations whose B_j is singular and edges whose
lambda_max is not certified are left to the cores path. B_j is the QL factor, not a Cholesky factor of
y y^T: forming D_j squares Delta_j's conditioning.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .inertia import EPS64, count_width, positive_count
from .pairwise import factor_rows, mapper, small_gram

ROUNDING_MARGIN = 1e5
"""N eps kappa_j may reach this multiple of ranks' width N eps / rtol^2 (module docstring)."""
ALIGNMENT_LIMIT = 1e4
"""rho_ij, how much larger the scaled terms of X_ij are than lambda_max(M_ij), may reach this (module docstring)."""
MAX_STEPS = 30
"""Lanczos steps before an edge's lambda_max is left to the cores path."""


class Pencil:
    """What the counts of one group of aligned points need: K_i, B_j, E_j, the traces, kappa_j, the terms of
    rho_ij, and per edge ``[i, j]`` its tolerance, its width and whether its destination may be used."""

    def __init__(self, h: Sequence[torch.Tensor], d: Sequence[torch.Tensor], rtol: torch.Tensor):
        """``h``, ``d``: the points' token rows (N x d_i, N < d_i); ``rtol``: (n, n) relative tolerances
        ``[i, j]``, all > 0."""
        n, size = len(h), h[0].shape[0]
        self.k, self.b, self.e, grams = (h[0].new_empty(n, size, size, dtype=torch.float64) for _ in range(4))
        kappa = self.k.new_empty(n)

        def point(j: int) -> None:  # into preallocated slices, one point per thread: no copies to stack
            self.k[j] = small_gram(h[j].to(torch.float64).T)  # by panels below the diagonal: 2/3 of a matmul
            kappa[j] = _destination(d[j], self.b[j], self.e[j], grams[j])

        mapper(h)(point, range(n))  # LAPACK on N ~ 400 runs best single-threaded
        self.trace = self.k.flatten(1) @ grams.flatten(1).T  # [i, j]: ||G_ij||_F^2 = trace(M_ij)
        w = 1.0 / self.e.diagonal(dim1=-2, dim2=-1)  # S_j^2: the scales that give E_j a unit diagonal
        d_scaled = torch.linalg.matrix_norm(grams / (w.sqrt()[:, :, None] * w.sqrt()[:, None, :]))  # ||S^-1 D S^-1||
        k_scaled = torch.stack([((w @ self.k[i].square()) * w).sum(-1) for i in range(n)]).clamp_min(0).sqrt()
        self.scaled_terms = k_scaled * d_scaled[None, :]  # [i, j]: ||S K_i S||_F ||S^-1 D_j S^-1||_F
        self.rtol = rtol.to(torch.float64)
        self.width = count_width(size, self.rtol)
        self.kappa = kappa  # per destination (module docstring)
        self.usable = torch.isfinite(kappa)[None, :] & (size * EPS64 * kappa[None, :] <= ROUNDING_MARGIN * self.width)


def _destination(y: torch.Tensor, b: torch.Tensor, e: torch.Tensor, d: torch.Tensor) -> float:
    """Fill B (upper triangular, y = B Q^T: the QL factor, backward stable in y), E = (B B^T)^-1 and D = B B^T
    for one destination's token rows y, and return kappa (module docstring). A zero on B's diagonal (y of
    lower rank than its tokens) gives an infinite kappa: E then holds the identity and is never used (B stays,
    for the cores path).
    D is never formed from y y^T and factored: that squares y's conditioning where it matters (see
    ``benchmarks/score_pencil_precision.py``)."""
    b.copy_(factor_rows(y, upper=True))
    d.copy_(small_gram(b.T.flip(-2, -1), upper=True).flip(-2, -1))  # B B^T = J C^T C J, C = J B^T J upper triangular
    if bool((b.diagonal() == 0).any()):
        e.copy_(torch.eye(b.shape[0], dtype=b.dtype, device=b.device))
        return float("inf")
    e.copy_(torch.cholesky_inverse(b.flip(-2, -1)).flip(-2, -1))  # LAPACK potri on J B J (lower): 2 N^3 / 3 flops
    s = e.diagonal().clamp_min(0).sqrt()
    scale = s[:, None] * s[None, :]
    return float(torch.linalg.matrix_norm(e / scale) * torch.linalg.matrix_norm(d * scale))


LANCZOS_BYTES = 2 ** 28
"""Memory for the Lanczos bases of one batch of destinations (about three copies of (steps, N, n) per
destination): the destinations run in batches that fit, so that many points (n^2 edges) do not need n^2 bases."""


def top_eigenvalues(p: Pencil) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda_max, certified), both (n, n) ``[i, j]``, of every M_ij = B_j^T K_i B_j (module docstring); only
    usable edges are certified, and only those whose rho_ij is within ``ALIGNMENT_LIMIT``.

    Lanczos with full reorthogonalisation on the edges of a batch of destinations at once (``[j]`` holds the
    (N, i) vectors of destination j). The top Ritz value theta is a Rayleigh quotient, so theta <= lambda_max;
    with the residual beta |y_k| of its Ritz vector and lambda_2 <= trace - theta, Kato-Temple bounds lambda_max
    from above. Where it cannot (flat tops), theta has stopped moving and the Cholesky test decides."""
    n, size = p.b.shape[0], p.b.shape[-1]
    start = p.k.diagonal(dim1=-2, dim2=-1).argmax(-1)
    u = p.k[torch.arange(n), :, start].T  # (N, i): each source's heaviest token column, one power step on K_i
    step = max(1, LANCZOS_BYTES // (3 * (MAX_STEPS + 1) * size * n * 8))
    parts = [_lanczos(p, u, lo, min(lo + step, n)) for lo in range(0, n, step)]
    lam, done = torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])  # [j, i]
    trace, width = p.trace.T, p.width.T
    flat = (p.usable.T & (trace > 0) & ~done).nonzero().tolist()  # c E_j - K_i > 0 proves lambda_max(M_ij) < c
    bounds = [(1 + width[j, i]) * lam[j, i] for j, i in flat]
    for (j, i), proved in zip(flat, mapper([p.k])(lambda m: _below(p, *flat[m], bounds[m]), range(len(flat)))):
        done[j, i] = proved
    zero = p.usable.T & (trace == 0)  # a zero gradient: rank 0
    aligned = p.scaled_terms.T <= ALIGNMENT_LIMIT * lam  # rho_ij: the scaled terms of X_ij against lambda_max
    return torch.where(zero, 0.0, lam).T, ((done & aligned) | zero).T


def _lanczos(p: Pencil, u: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(theta, certified by Kato-Temple), both ``[j - lo, i]``, for the destinations lo <= j < hi, from the
    start vectors B_j^T u_i."""
    k, b = p.k, p.b[lo:hi]
    q = _unit(b.mT @ u)  # [j] (N, i): B_j^T u_i, near the top of M_ij when K_i's top dominates
    trace, width = p.trace.T[lo:hi], p.width.T[lo:hi]  # [j, i] from here on
    lam = torch.zeros_like(trace)
    done = torch.zeros_like(trace, dtype=torch.bool)
    stalled = torch.zeros_like(done)
    live = p.usable.T[lo:hi] & (trace > 0)
    basis, alphas, betas = [q], [], []
    for _ in range(min(MAX_STEPS, b.shape[-1])):
        todo = live & ~done & ~stalled
        if not bool(todo.any()):
            break
        # [j] (N, i): M_ij q_ij, as B_j^T (K_i (B_j q_ij)); batches made contiguous, which BLAS reads fastest
        w = b.mT @ (k @ (b @ q).transpose(0, 2).contiguous()).transpose(0, 2).contiguous()
        alphas.append((q * w).sum(1))
        stack = torch.stack(basis)
        for _ in range(2):  # full reorthogonalisation, twice (classical Gram-Schmidt)
            w = w - (stack * (stack * w).sum(2, keepdim=True)).sum(0)
        beta = w.norm(dim=1)
        tri = torch.diag_embed(torch.stack(alphas, -1))
        if betas:
            off = torch.stack(betas, -1)
            tri = tri + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
        values, vectors = torch.linalg.eigh(tri)
        theta = values[..., -1]  # a Rayleigh quotient of the Ritz vector: <= lambda_max
        r2 = (beta * vectors[..., -1, -1]).square()  # ||M x - theta x||^2 of the unit Ritz vector x
        a = (trace - theta).clamp_min(0.0) + 4 * q.shape[1] * EPS64 * trace  # >= lambda_2
        ok = todo & (a < theta) & (r2 <= width * theta * (theta - a))
        stalled |= todo & ~ok & ((theta - lam <= width * theta / 16) | (beta <= EPS64 * theta))
        lam = torch.where(todo, theta, lam)
        done |= ok
        betas.append(beta)
        q = w / beta[:, None, :].clamp_min(torch.finfo(w.dtype).tiny)
        basis.append(q)
    return lam, done


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def _below(p: Pencil, j: int, i: int, c: torch.Tensor) -> bool:
    """lambda_max(M_ij) < c, proved by a Cholesky factorisation of c E_j - K_i (congruent to c I - M_ij)."""
    return bool(c > 0) and int(torch.linalg.cholesky_ex(c * p.e[j] - p.k[i]).info) == 0


def row_counts(p: Pencil, i: int, js: Sequence[int], tau: torch.Tensor) -> list[int]:
    """Eigenvalues of M_ij above ``tau[m]`` for each j = ``js[m]``: one LDL^T of K_i - tau E_j each. On a CPU each
    X is formed in one pass into one buffer (about one core's L2 cache at N ~ 400; batches of them ran slower);
    an accelerator takes the whole row as one batch."""
    if p.k.device.type != "cpu":
        return positive_count(p.k[i] - tau[:, None, None] * p.e[list(js)]).tolist() if len(js) else []
    x = p.k.new_empty(1, *p.k.shape[1:])
    out = []
    for j, t in zip(js, tau.tolist()):
        torch.add(p.k[i], p.e[j], alpha=-t, out=x[0])
        out.append(int(positive_count(x)))
    return out

