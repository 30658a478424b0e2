"""``py:MODULE:FACTORY`` references: import MODULE, call FACTORY() -> nn.Module.

This runs the user's code, so it is refused unless the caller trusts it
(``--trust-code`` on the command line, ``trust_code=True`` in Python).
Example inputs come from ``load_backbone(..., example_inputs=...)`` or from an
``example_inputs`` attribute of MODULE (a tuple of tensors, or a function returning one).
"""
from __future__ import annotations

import importlib

from torch import nn

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.module_source import as_input_tuple, wrap_module
from adaptgraph.backbones.registry import LoadOptions
from adaptgraph.errors import BackboneError, did_you_mean

FORM_HINT = "write py:MODULE:FACTORY, e.g. py:my_models:build_backbone"


def load_python(target: str, options: LoadOptions) -> Backbone:
    """Import MODULE, call FACTORY(), and wrap the module it returns."""
    ref = f"py:{target}"
    module_name, _, factory_name = target.rpartition(":")
    if not module_name or not factory_name:
        raise BackboneError(f"backbone reference {ref!r} does not name a module and a factory",
                            hint=FORM_HINT)
    if not options.trust_code:
        raise BackboneError(f"backbone {ref} runs Python code (it imports {module_name} and calls "
                            f"{factory_name}()), so it is refused without trust",
                            hint="if you trust this code, pass --trust-code on the command line "
                                 "or trust_code=True in Python")
    source = _import(ref, module_name)
    module = _call_factory(ref, source, factory_name)
    inputs = options.example_inputs
    if inputs is None:
        inputs = _module_example_inputs(ref, source)
    return wrap_module(module.eval(), inputs, ref)  # built here: ours to put in eval mode, as zoo: and hf: do


def _import(ref: str, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):  # not one it imports
            raise BackboneError(f"backbone {ref}: no module named {module_name!r}",
                                hint="put its folder on PYTHONPATH, or install its package") from None
        raise _failed(ref, f"importing {module_name}", exc) from exc
    except Exception as exc:  # the user's module raised while importing
        raise _failed(ref, f"importing {module_name}", exc) from exc


def _call_factory(ref: str, source, factory_name: str) -> nn.Module:
    factory = getattr(source, factory_name, None)
    if not callable(factory):
        names = [n for n in dir(source) if not n.startswith("_") and callable(getattr(source, n))]
        raise BackboneError(f"backbone {ref}: module {source.__name__!r} has no function {factory_name!r}",
                            hint=did_you_mean(factory_name, names) or FORM_HINT)
    try:
        module = factory()
    except Exception as exc:  # the user's factory: report whatever it raised
        raise _failed(ref, f"calling {factory_name}()", exc) from exc
    if not isinstance(module, nn.Module):
        raise BackboneError(f"backbone {ref}: {factory_name}() returned {type(module).__name__}, "
                            f"not a torch.nn.Module", hint="make the factory return the model")
    return module


def _module_example_inputs(ref: str, source) -> tuple:
    inputs = getattr(source, "example_inputs", None)
    if inputs is None:
        raise BackboneError(f"backbone {ref} has no example inputs",
                            hint=f"define example_inputs = (tensor, ...) in module {source.__name__}, "
                                 f"or pass example_inputs=... to load_backbone")
    if callable(inputs):
        try:
            inputs = inputs()
        except Exception as exc:
            raise _failed(ref, "calling example_inputs()", exc) from exc
    return as_input_tuple(inputs)


def _failed(ref: str, doing: str, exc: Exception) -> BackboneError:
    return BackboneError(f"backbone {ref} failed while {doing}: {type(exc).__name__}: {exc}",
                         hint="fix the error in that code (the traceback above shows where)")
