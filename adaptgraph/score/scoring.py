"""``score_edges``: gradient scores of every candidate edge of a backbone on a task.

One forward and one backward pass per batch of the unmodified traced backbone,
probed at every point (``probes``), accumulated over batches (``accumulate``), then
the spectra of all n^2 pairs G_ij = H_i^T Delta_j (``pairwise``) and their metrics.
Token rows at padding positions (attention mask 0) are dropped: their gradient is
zero, so they add nothing to any G_ij, only to the token count.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from typing import Iterator, Optional, Sequence, Union

import torch

from adaptgraph.backbones import Backbone, get_backbone
from adaptgraph.arguments import resolve_device
from adaptgraph.errors import ScoreError, did_you_mean, some_names
from adaptgraph.progress import bar as progress_bar
from adaptgraph.graph import PointInfo, Traced, resolve_point, stream_points, trace_backbone
from adaptgraph.weights.sharing import share_weights
from adaptgraph.tasks import HEADS, bind_task, fit_probe, load_task, make_head, make_loader
from adaptgraph.tasks.base import check_task
from adaptgraph.tasks.data import check_fits

from .accumulate import PairwiseAccumulator
from .config import ScoreConfig
from .edge_scores import EdgeScores, check_metric, freeze_matrix
from .metrics import METRICS
from .pairwise import score_matrices, top_spectra
from .ranks import warn_saturated

SPECTRAL = {"erank", "nuclear"}
"""Metrics that need every singular value of every edge."""
from .probes import Probed, probe


def score_edges(backbone: Union[str, Backbone, torch.nn.Module], task, config: Optional[ScoreConfig] = None, *,
                progress: Optional[bool] = None, traced: Optional[Traced] = None) -> EdgeScores:
    """Scores (rank, erank, fro, nuclear, or those of ``config.metrics``) of all ordered pairs of points of
    ``backbone`` on ``task``.

    ``config`` (a ``ScoreConfig``; default: its defaults) says which points (default: every stream
    point), how many batches of which size are accumulated, which head gives the loss, the rank
    tolerance and the memory of the accumulation. ``traced``: the backbone already traced (reused).
    """
    c = config or ScoreConfig()
    started = time.perf_counter()
    times: dict[str, float] = {}
    bb = get_backbone(backbone)
    task_obj = load_task(task, seed=c.seed)
    check_task(task_obj)
    check_fits(task_obj, bb)
    task_obj = bind_task(task_obj, bb)
    _check_head(c.head)
    metrics = _metrics(c.metrics)
    dev = _device(c.device)

    tic = time.perf_counter()
    traced = traced or trace_backbone(bb)
    # the backbone may be shared (get_backbone caches it): score a view of it (own modules and flags, the
    # backbone's tensors), so that moving it to the device and freezing it leaves the traced graph alone
    with _moved(share_weights(traced.gm), dev) as gm:
        gm.eval().requires_grad_(False)
        infos = _points(traced, c.points, c.stream)
        times["trace"] = time.perf_counter() - tic

        train = task_obj.examples("train")
        if not train:
            raise ScoreError(f"task '{task_obj.name}' has no training examples to score on")
        loader = make_loader(train, bb, batch_size=c.batch_size, max_length=c.max_length, shuffle=True, seed=c.seed)
        scored = list(itertools.islice(loader, c.batches))

        tic = time.perf_counter()
        task_head = _head(gm, bb, train, scored[0], task_obj, c, dev)
        times["head"] = time.perf_counter() - tic

        acc = PairwiseAccumulator([_width(p) for p in infos], groups=[_token_shape(p) for p in infos],
                                  store=c.store, tokens_per_batch=c.tokens_per_batch, seed=c.seed)
        tic = time.perf_counter()
        for batch in progress_bar(scored, desc="score: probing", unit="batch", progress=progress):
            probed = _probe_batch(gm, task_head, batch.to(dev), infos)
            hs, ds = _real_tokens(probed, batch.attention_mask, infos)
            _check_finite(hs, ds, infos, acc.batches + 1)
            acc.add(hs, ds)
        times["probe"] = time.perf_counter() - tic

        matrices, kept = _edge_metrics(acc, metrics, c.rtol, times, progress)
        times["total"] = time.perf_counter() - started
        return EdgeScores(
            points=tuple(p.name for p in infos), nodes=tuple(p.node for p in infos),
            orders=tuple(p.order for p in infos), shapes=tuple(p.shape for p in infos),
            feature_dims=tuple(p.feature_dim for p in infos), widths=tuple(_width(p) for p in infos),
            tokens=acc.tokens, **{m: freeze_matrix(matrices[m]) for m in metrics}, rtol=c.rtol,
            batches=acc.batches, head=c.head, task=task if isinstance(task, str) else task_obj.name,
            backbone=bb.ref, stream=c.stream if c.points is None else None,
            timings=tuple((k, round(v, 4)) for k, v in times.items()), spectra=kept,
        )


def _edge_metrics(acc: PairwiseAccumulator, metrics: tuple[str, ...], rtol, times: dict, progress):
    """The n x n matrix of each metric, and the kept top spectra (None when none were computed); each stage timed.

    erank and nuclear need every edge's spectrum (``spectra`` stage, which gives the ranks too); without them the
    ranks are counted without spectra (``rank`` stage, ``score.ranks``), and the norms never need any (``fro``).
    """
    matrices, kept = {}, None
    precise = rtol is not None and rtol < 1e-6
    if SPECTRAL & set(metrics):
        tic = time.perf_counter()
        with progress_bar(desc="score: edge spectra", total=acc.n_points, unit="point", progress=progress) as bar:
            spectra = acc.spectra(precise=precise, tick=lambda: bar.update(1))
        matrices = score_matrices(spectra, rtol)
        kept = top_spectra(spectra)
        times["spectra"] = time.perf_counter() - tic
    elif "rank" in metrics:
        tic = time.perf_counter()
        with progress_bar(desc="score: edge ranks", total=acc.n_points, unit="point", progress=progress) as bar:
            ranks = acc.ranks(rtol, precise=precise, tick=lambda: bar.update(1))
        warn_saturated(ranks, acc.tokens, acc.widths, stacklevel=4)
        matrices["rank"] = [[None if r is None else float(r) for r in row] for row in ranks]
        times["rank"] = time.perf_counter() - tic
    if "fro" in metrics:
        tic = time.perf_counter()
        matrices["fro"] = acc.fro()  # equal to the spectral one, without spectra (score.norms); timed on its own
        times["fro"] = time.perf_counter() - tic
    return matrices, kept


def _metrics(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` checked (ScoreError with a hint for an unknown one), deduplicated, in ``METRICS`` order."""
    for name in names:
        check_metric(name)
    return tuple(m for m in METRICS if m in names)


@contextlib.contextmanager
def _moved(module: torch.nn.Module, device: torch.device) -> Iterator[torch.nn.Module]:
    """``module`` on ``device`` inside the block, then back on the device it was on."""
    home = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
    try:
        yield module.to(device)
    finally:
        module.to(home)


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ScoreError(f"unknown head mode {head!r}; choose one of {', '.join(HEADS)}",
                         hint=did_you_mean(head, HEADS))


def _device(device: str) -> torch.device:
    return resolve_device(device)  # UsageError for a device this machine does not have


def _points(traced: Traced, points: Optional[Sequence[str]], stream: Optional[str]) -> list[PointInfo]:
    """Stream points by default, else the user's points; deduplicated and in topological order."""
    infos = stream_points(traced, stream) if points is None else [resolve_point(traced, t, stream) for t in points]
    unique = {p.name: p for p in infos}
    if not unique:
        raise ScoreError("no points to score", hint="give point names, or leave points unset for stream points")
    return sorted(unique.values(), key=lambda p: p.order)


def _width(p: PointInfo) -> int:
    return int(p.shape[p.feature_dim])


def _token_shape(p: PointInfo) -> tuple[int, ...]:
    """The non-feature dims: points whose rows line up (so that an edge between them fits) share it."""
    fd = p.feature_dim % len(p.shape)
    return tuple(s for k, s in enumerate(p.shape) if k != fd)


def _head(gm, bb, train, first_batch, task, c: ScoreConfig, dev):
    if hasattr(task, "make_head"):  # an lm: task scores under the next-token loss of the backbone's own head
        return task.make_head(bb).to(dev)
    with torch.no_grad():
        features = gm(*first_batch.to(dev).inputs)
    head = make_head(features, task.num_classes, c.pooling, c.seed)
    if c.head == "probe":
        loader = make_loader(train[:c.probe_examples], bb, batch_size=64, max_length=c.max_length, shuffle=False)
        fit_probe(head, gm, loader, steps=c.probe_steps)
    return head.requires_grad_(False)


def _probe_batch(gm, head, batch, infos: Sequence[PointInfo]) -> Probed:
    mask = batch.attention_mask
    loss = lambda out: head.per_example_loss(head(out, mask).float(), batch).mean()  # noqa: E731
    return probe(gm, [p.node for p in infos], batch.inputs, loss, [p.feature_dim for p in infos])


def _check_finite(hs, ds, infos: Sequence[PointInfo], number: int) -> None:
    """ScoreError naming the points whose activations or gradients hold an inf or a NaN: no score of them
    means anything, and the linear algebra after them would fail far from the cause."""
    for rows, what in ((hs, "activations"), (ds, "gradients")):
        if all(bool(torch.isfinite(x.sum())) for x in rows):  # a finite sum has only finite terms
            continue
        bad = [p.name for p, x in zip(infos, rows) if not bool(torch.isfinite(x).all())]
        if bad:
            raise ScoreError(f"the {what} of batch {number} are not finite (inf or NaN) at {some_names(bad)}",
                             hint="the backbone's weights or the inputs make them (a damaged checkpoint, a float16 "
                                  "overflow); load it in float32, or check the model")


def _real_tokens(probed: Probed, mask: Optional[torch.Tensor], infos: Sequence[PointInfo]):
    """H and Delta without rows at padding positions (for (B, T, D) points that the mask covers)."""
    hs, ds = list(probed.activations), list(probed.gradients)
    if mask is None:
        return hs, ds
    keep = mask.reshape(-1).to(hs[0].device) > 0
    for k, (shape, p) in enumerate(zip(probed.shapes, infos)):
        if len(shape) == 3 and p.feature_dim in (-1, 2) and tuple(shape[:2]) == tuple(mask.shape):
            hs[k], ds[k] = hs[k][keep], ds[k][keep]
    return hs, ds

