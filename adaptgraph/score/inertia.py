"""The number of positive eigenvalues of symmetric matrices, from one LDL^T each (Sylvester's law of inertia)."""
from __future__ import annotations

import torch

EPS64 = float(torch.finfo(torch.float64).eps)
MAX_WIDTH = 1e-3
"""The widest bracket on lambda_max a count accepts, whatever the tolerance (``count_width``)."""


def count_width(size, rtol):
    """How precisely lambda_max of an N x N Gram (``size`` N) must be known, relative to it, for the count of its
    eigenvalues above rtol^2 lambda_max: N eps64 / rtol^2, the rounding those eigenvalues carry anyway, at most
    ``MAX_WIDTH``. ``rtol`` a float or a tensor of them."""
    width = size * EPS64 / rtol ** 2
    return width.clamp_max(MAX_WIDTH) if isinstance(width, torch.Tensor) else min(width, MAX_WIDTH)


def positive_count(x: torch.Tensor) -> torch.Tensor:
    """Positive eigenvalues of each symmetric ``x[b]`` (its lower triangle is read), from one Bunch-Kaufman
    factorisation x = L D L^T (``torch.linalg.ldl_factor_ex``, LAPACK sytrf, about N^3 / 3 flops): a positive
    1x1 pivot of D is one positive eigenvalue, and each 2x2 pivot block, whose determinant Bunch-Kaufman keeps
    negative, is one positive and one negative."""
    ld, pivots, _ = torch.linalg.ldl_factor_ex(x)
    one = pivots > 0  # a 2x2 block has both of its pivot entries negative (LAPACK sytrf)
    positive = (ld.diagonal(dim1=-2, dim2=-1) > 0) & one
    return positive.sum(-1) + (~one).sum(-1) // 2

