"""What the package exports is documented: every name in an ``__all__`` is a word of docs/*.md or README.md.

``__all__`` lists the public API; a helper only adaptgraph's own modules use is imported from the module that
defines it and is left out. At least ``SHARE`` of the exported names must appear in the docs (today all do).
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import adaptgraph

ROOT = Path(__file__).resolve().parents[1]
SHARE = 0.9


def _modules() -> list[str]:
    names = ["adaptgraph"]
    for info in pkgutil.walk_packages(adaptgraph.__path__, "adaptgraph."):
        if not info.name.endswith("__main__"):  # running it would run the command line
            names.append(info.name)
    return names


def exported() -> dict[str, list[str]]:
    """Every name in an ``__all__`` of adaptgraph -> the modules that list it."""
    found: dict[str, list[str]] = {}
    for module in _modules():
        for name in getattr(importlib.import_module(module), "__all__", ()):
            found.setdefault(name, []).append(module)
    return found


def documented_words() -> set[str]:
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(p.read_text(encoding="utf-8") for p in pages)))


def test_the_exported_names_are_documented():
    names, words = exported(), documented_words()
    missing = sorted(f"{name} ({', '.join(modules)})" for name, modules in names.items() if name not in words)
    share = 1 - len(missing) / len(names)
    assert share >= SHARE, (f"{len(missing)} of {len(names)} exported names appear nowhere in docs/ or README.md "
                            f"({share:.0%} documented, at least {SHARE:.0%} wanted); document them in docs/api.md "
                            "or leave them out of __all__:\n" + "\n".join(missing))


def test_the_reader_finds_names():
    # the check above means something only if both sides are found
    names, words = exported(), documented_words()
    assert len(names) > 100 and {"compile", "load_adapters", "train_spec", "claim_folder"} <= names.keys()
    assert "resolve" in words and "not_a_name_anywhere" not in words
