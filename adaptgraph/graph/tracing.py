"""``trace``: turn an eager backbone into a checked, editable fx graph (``Traced``)."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import fx, nn

from ..errors import PassError, TraceError, did_you_mean, first_line
from ..passes import TIDY_PASSES, TraceContext, run_passes
from ..registry import Registry
from ..weights.sharing import eval_mode, share_weights
from .trace_export import export_graph
from .trace_fx import fx_graph
from .traced import Traced


def _fx(work: nn.Module, inputs: tuple, leaf_modules: tuple[str, ...]):
    gm, auto = fx_graph(work, len(inputs), leaf_modules)
    notes = [f"fx made these submodules leaves (their code is not traceable): {', '.join(auto)}"] if auto else []
    return gm, notes, "batch", auto


def _export(work: nn.Module, inputs: tuple, leaf_modules: tuple[str, ...]):
    gm, level, failures = export_graph(work, inputs)
    return gm, [f"export fell back: {f}" for f in failures], level, ()


# The tracing frontends: name -> (module, inputs, leaf modules) -> (gm, notes, dynamic, auto leaves), where
# ``dynamic`` names what may vary ("static", "batch", "batch+seq"). "auto" tries them in registration
# order. A new frontend is one registration.
FRONTENDS = Registry("tracing frontend", TraceError)
FRONTENDS.register("fx", _fx)
FRONTENDS.register("export", _export)
AUTO = "auto"


def frontend_names() -> tuple[str, ...]:
    """Every value ``trace(frontend=...)`` accepts: the registered frontends and "auto"."""
    return (*FRONTENDS.names(), AUTO)


def trace(module: nn.Module, example_inputs: tuple, frontend: str = "auto",
          leaf_modules: tuple[str, ...] = (), atol: float = 1e-5) -> Traced:
    """Trace ``module`` on ``example_inputs`` with ``frontend`` ("fx", "export" or "auto").

    The graph is traced from ``module`` itself, in eval mode for the time of tracing, and
    holds its own module objects over ``module``'s parameters and buffers (shared storage,
    see ``adaptgraph.weights.sharing``): the caller's module, its mode and its flags are never changed, and no
    weight is copied. It returns the model's first output tensor. Its outputs are compared
    with the eager model's on one example (another batch size than the example inputs, so
    the dynamic batch dimension is exercised; the example inputs for a static graph); a
    mismatch larger than ``atol`` raises ``TraceError``. "auto" tries fx (with
    automatic leaf modules for untraceable submodules) and export only when fx fails;
    ``frontend="export"`` may see inside fx's automatic leaves (a note says so).
    The passes of ``adaptgraph.passes.TIDY_PASSES`` then tidy the graph: safe in-place ops are made
    out-of-place (points are node values), and device constants follow the inputs, so
    ``gm.to("cuda")`` works. ``Traced.notes`` says what had to be done.
    """
    if frontend not in frontend_names():
        raise TraceError(f"unknown tracing frontend {frontend!r}; choose one of {', '.join(frontend_names())}",
                         hint=did_you_mean(frontend, frontend_names()))
    inputs = tuple(example_inputs)
    if frontend != AUTO:
        try:
            return _trace_with(frontend, module, inputs, leaf_modules, atol)
        except _FrontendFailed as failed:
            raise TraceError(f"could not trace the model with {frontend}: {failed}", hint=_HINT) from None
    return _trace_auto(module, inputs, leaf_modules, atol)


def _trace_auto(module: nn.Module, inputs: tuple, leaf_modules: tuple[str, ...], atol: float) -> Traced:
    """The first frontend that works, in table order (the cheapest first): one trace, not one per frontend."""
    reasons: list[str] = []
    for name in FRONTENDS:
        try:
            traced = _trace_with(name, module, inputs, leaf_modules, atol)
        except _FrontendFailed as failed:
            reasons.append(f"{name}: {failed}")
            continue
        if traced.auto_leaves:
            others = [n for n in FRONTENDS if n != name]
            note = f"{' or '.join(repr(n) for n in others)} may see inside the automatic leaves: pass frontend= to try"
            traced = replace(traced, notes=traced.notes + (note,))
        return traced
    raise TraceError("could not trace the model with any frontend:\n  " + "\n  ".join(reasons), hint=_HINT)


_HINT = ("check that the example inputs fit the model's forward; for fx, name untraceable "
         "submodule classes in leaf_modules; compare with frontend='export'")


class _FrontendFailed(Exception):
    """One frontend could not produce a matching graph; the message is one line."""


def _trace_with(name: str, module: nn.Module, inputs: tuple, leaf_modules: tuple[str, ...], atol: float) -> Traced:
    # No copy of the model: the frontend reads ``module`` (in eval mode meanwhile), and the graph then
    # gets its own module objects over the same tensors, so the passes below never reach the caller's.
    reference, on = _reference(module, inputs)
    _check_finite(reference)
    with eval_mode(module):
        gm, notes, dynamic, auto = _run_frontend(name, module, inputs, leaf_modules)
        gm = share_weights(gm).eval()  # fx graphs call the module's own submodules: copy them in eval mode
    gm, tidy_notes = _tidy(gm, reference, inputs, name, module)
    check_outputs(gm, module, inputs, on, _first_tensor(reference), atol, dynamic)
    return Traced(gm=gm, frontend=name, module_paths=_paths(module), module_types=_types(module),
                  containers=_containers(module), example_inputs=inputs, notes=(*notes, *tidy_notes),
                  auto_leaves=auto)


def _run_frontend(name: str, work: nn.Module, inputs: tuple, leaf_modules: tuple[str, ...]):
    """Run one frontend; return ``(gm, notes, dynamic, auto leaves)``."""
    try:
        return FRONTENDS.lookup(name)(work, inputs, leaf_modules)
    except Exception as exc:  # noqa: BLE001 - every tracing failure becomes one line of the report
        raise _FrontendFailed(first_line(exc)) from exc


def _tidy(gm: fx.GraphModule, reference: object, inputs: tuple, name: str,
          module: nn.Module) -> tuple[fx.GraphModule, list[str]]:
    """Run ``TIDY_PASSES`` (``adaptgraph.passes``) on a fresh trace; returns the graph and its notes."""
    try:
        gm, results = run_passes(gm, TIDY_PASSES, TraceContext(module, inputs, reference, name))
    except (TraceError, PassError) as exc:  # this frontend's graph is unusable; "auto" may try the next
        raise _FrontendFailed(exc.problems[0].message) from exc
    return gm, [r.note for r in results.values() if r.note]


def _reference(module: nn.Module, inputs: tuple) -> tuple[object, tuple]:
    """The eager output (in eval mode) on the first example alone, or on all ``inputs`` when it rejects one."""
    with eval_mode(module), torch.no_grad():
        try:
            probe = one_row(inputs, shorter=False)
            return module(*probe), probe
        except Exception:  # noqa: BLE001 - some models want the example batch as it is
            pass
        try:
            return module(*inputs), inputs
        except Exception as exc:  # the inputs do not fit the model: no frontend can help
            raise TraceError(f"the eager model fails on the example inputs: {first_line(exc)}") from exc


def _check_finite(reference: object) -> None:
    """TraceError when the eager model's own output holds an inf or a NaN: no graph can be checked against it
    (every comparison would read "max abs difference nan"), and nothing trained on it would mean anything."""
    out = _first_tensor(reference)
    if isinstance(out, torch.Tensor) and out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise TraceError("the model's own output on its example inputs is not finite (inf or NaN)",
                         hint="its weights are damaged (a broken checkpoint?) or overflow in their dtype; "
                              "load it in float32, or check the model")


def check_outputs(gm: fx.GraphModule, eager: nn.Module, inputs: tuple, on: tuple, reference: torch.Tensor,
                  atol: float, dynamic: str) -> None:
    """Compare the finished ``gm`` with ``reference``, the eager output on ``on``: one example, or ``inputs``.

    One example is another batch size than the example inputs, so the dynamic batch dimension
    is exercised by the same run that compares the values. A static graph is compared on
    ``inputs`` (the eager model runs them when ``on`` is one example), and a graph with a
    dynamic sequence also on one example one position shorter.
    """
    if dynamic == "static" and on is not inputs:
        on, reference = inputs, _eager_tensor(eager, inputs)
    _compare(_run_graph(gm, on), reference, atol, on)
    if dynamic == "batch+seq":
        shorter = one_row(inputs, shorter=True)
        want = _eager_tensor(eager, shorter, missing_ok=True)
        if want is not None:
            _compare(_run_graph(gm, shorter), want, atol, shorter)


def _eager_tensor(eager: nn.Module, batch: tuple, missing_ok: bool = False) -> torch.Tensor | None:
    with eval_mode(eager), torch.no_grad():
        try:
            return _first_tensor(eager(*batch))
        except Exception:  # noqa: BLE001 - the eager model itself rejects this batch
            if missing_ok:
                return None
            raise


def _run_graph(gm: fx.GraphModule, batch: tuple) -> object:
    with torch.no_grad():
        try:
            return gm(*batch)
        except Exception as exc:  # noqa: BLE001
            raise _FrontendFailed(f"the traced graph fails on a batch of shape {_shapes(batch)}: {first_line(exc)}") from exc


def _compare(got: object, want: torch.Tensor, atol: float, batch: tuple) -> None:
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise _FrontendFailed(f"the traced graph returns {shape} where the eager model returns {tuple(want.shape)}")
    diff = (got.float() - want.float()).abs().max().item() if want.numel() else 0.0
    if not diff <= atol:  # also catches NaN
        raise _FrontendFailed(f"the traced graph does not match the eager model: max abs difference "
                              f"{diff:.3g} > atol {atol:g} on inputs of shape {_shapes(batch)}")


def one_row(inputs: tuple, shorter: bool) -> tuple:
    """The first example of ``inputs`` (and, when ``shorter``, one position fewer for token inputs)."""
    out = []
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            x = x[:1]
            if shorter and x.dim() == 2 and not x.is_floating_point() and x.shape[1] > 2:
                x = x[:, :-1]
        out.append(x)
    return tuple(out)


def _first_tensor(output: object) -> torch.Tensor:
    from torch.utils import _pytree as pytree
    return next(x for x in pytree.tree_leaves(output) if isinstance(x, torch.Tensor))


def _shapes(batch: tuple) -> str:
    return ", ".join(str(tuple(x.shape)) if isinstance(x, torch.Tensor) else repr(x) for x in batch)


def _paths(module: nn.Module) -> tuple[str, ...]:
    return tuple(p for p, _ in module.named_modules() if p)


def _types(module: nn.Module) -> dict[str, str]:
    return {p: f"{type(m).__module__}.{type(m).__qualname__}" for p, m in module.named_modules()}


def _containers(module: nn.Module) -> tuple[str, ...]:
    return tuple(p for p, m in module.named_modules() if isinstance(m, (nn.ModuleList, nn.Sequential)))
