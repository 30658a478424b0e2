"""``--trust-code`` is the only gate for code that comes with a Hugging Face model folder.

A folder's ``config.json`` (or its tokenizer's or processor's config) may name Python
files of its own in ``auto_map``; transformers imports them when ``trust_remote_code``
is true, and when it is left unset it *asks on stdin*, so ``yes | adaptgraph ...``
would run them. So every transformers load here gets ``trust_remote_code`` set from the
caller's decision, and a folder that asks for code without it is refused before
transformers opens it, with a message that says which file asks and how to allow it.
"""
from __future__ import annotations

from pathlib import Path

from adaptgraph.errors import BackboneError
from adaptgraph.fileio import read_json

TRUST_HINT = ("the folder's own Python files would run; if you trust them, pass --trust-code on the command line "
              "or trust_code=True in Python")
# The files whose `auto_map` makes transformers import code from the folder.
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json")


def code_configs(folder: Path) -> list[str]:
    """The config files of ``folder`` that ask transformers to import the folder's own code."""
    return [name for name in CODE_CONFIGS if _asks_for_code(folder / name)]


def _asks_for_code(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        data = read_json(path, error=BackboneError, what="the model's config")
    except BackboneError as e:  # not a regular file, too large, not JSON: treat it as asking, and say why
        raise BackboneError(f"backbone folder {path.parent}: {e.problems[0].message}",
                            hint="the model folder is damaged; save it again with save_pretrained()") from None
    return isinstance(data, dict) and bool(data.get("auto_map"))


def refuse_untrusted_code(source: Path | str, ref: str, trust: bool) -> None:
    """A ``BackboneError`` when ``source`` is a folder that ships code and the caller does not trust it."""
    if trust or not isinstance(source, Path):
        return
    asking = code_configs(source)
    if asking:
        raise BackboneError(f"backbone {ref}: {', '.join(asking)} in the folder names Python code of its own "
                            f"(auto_map), so it is refused without trust", hint=TRUST_HINT)


def untrusted_error(exc: BaseException, ref: str) -> BackboneError | None:
    """transformers' refusal (``trust_remote_code=False`` met custom code, e.g. a cached model), as ours."""
    if "trust_remote_code" not in str(exc):
        return None
    return BackboneError(f"backbone {ref}: the model needs its own Python code, so it is refused without trust",
                         hint=TRUST_HINT)
