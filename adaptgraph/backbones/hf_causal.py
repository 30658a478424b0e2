"""Causal language-model folders as users have them: ``*ForCausalLM`` / ``*LMHeadModel``.

Such a folder is loaded with ``AutoModelForCausalLM``; the feature module is its bare
decoder (``model.base_model``: ``LlamaModel``, ``GPT2Model``), so module paths are the
same as for a folder of the bare model (``layers.0.self_attn.q_proj``, ``h.0.attn.c_attn``),
and the LM head is kept beside it as the submodule ``lm_head`` (the embedding tensor
itself when the config ties them). The forward does not call it: ``lm:`` tasks use it as
their head, and ``train lm_head`` trains it (``graph.traced.BESIDE``).
:func:`causal_model` puts the two back together as the ``*ForCausalLM`` class, for
``merge`` and for checking hand-offs.
"""
from __future__ import annotations

import torch
from torch import nn

CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
HEAD = "lm_head"


def causal_architecture(config) -> str | None:
    """The ``*ForCausalLM`` / ``*LMHeadModel`` class a folder's checked config (``HfConfig``) names, or None."""
    names = (config.architectures if config is not None else None) or []
    return names[0] if names and names[0].endswith(CAUSAL_SUFFIXES) else None


def split_causal(model: nn.Module) -> nn.Module:
    """The bare decoder of a causal LM, with the LM head attached as its submodule ``lm_head``.

    Only a head that is one linear map of the decoder's last hidden states (``model.lm_head``) is kept;
    a model whose head does more (BERT's ``cls.predictions`` transform) gives its bare decoder alone."""
    base, head = model.base_model, model.get_output_embeddings()
    if base is model:
        return model
    if isinstance(head, nn.Linear) and getattr(model, HEAD, None) is head:
        base.add_module(HEAD, head)
    return base


def causal_head(module: nn.Module) -> nn.Linear | None:
    """The LM head :func:`split_causal` attached, or None (encoders, bare-model folders)."""
    head = module._modules.get(HEAD) if isinstance(module, nn.Module) else None
    return head if isinstance(head, nn.Linear) else None


def causal_class_name(module: nn.Module) -> str | None:
    """The ``*ForCausalLM`` class a feature module with an attached head came from, or None."""
    names = getattr(getattr(module, "config", None), "architectures", None) or []
    return names[0] if causal_head(module) is not None and names and names[0].endswith(CAUSAL_SUFFIXES) else None


def is_tied(module: nn.Module) -> bool:
    """Whether the attached head's weight is the input embedding's tensor (the same memory)."""
    head = causal_head(module)
    return head is not None and head.weight.data_ptr() == module.get_input_embeddings().weight.data_ptr()


def causal_model(base: nn.Module) -> nn.Module:
    """The ``*ForCausalLM`` model around ``base`` (a plain Hugging Face class, no feature subclass) and its
    attached head, sharing their modules. Built on the meta device, so no second copy of the weights is drawn.
    The head is detached from ``base``; the config ties them exactly when they are one tensor.
    """
    import transformers

    tied = is_tied(base)
    head = base._modules.pop(HEAD)
    base.config.tie_word_embeddings = tied
    if getattr(base.config, "get_text_config", None) is not None:
        base.config.get_text_config().tie_word_embeddings = tied
    with torch.device("meta"):
        model = getattr(transformers, base.config.architectures[0])(base.config)
    setattr(model, model.base_model_prefix, base)
    model.set_output_embeddings(head)
    return model.eval()
