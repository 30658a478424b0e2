"""A hostile Hugging Face folder: its code never runs without --trust-code, and nothing prompts.

The folder's config.json names, in ``auto_map``, a Python file that would create a marker file
when imported. Left to itself transformers asks on stdin whether to run it, so stdin here
always answers "yes": the answer must never be read.
"""
from __future__ import annotations

import io
import re
import json
import sys

import pytest

from adaptgraph.backbones import hf_trust, load_backbone
from adaptgraph.cli import main
from adaptgraph.errors import BackboneError

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")

REFUSED = "(auto_map), so it is refused without trust"


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    folder, marker = tmp_path / "model", tmp_path / "ran"
    folder.mkdir()
    code = f"open({str(marker)!r}, 'w').write('the folder code ran')\n"
    (folder / "evil.py").write_text(code + "from transformers import PretrainedConfig\n"
                                    "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n")
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "evil", "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}}))
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n" * 10))  # whatever asks, the answer is "yes"
    return folder, marker


def test_refused_without_trust_names_the_file_and_the_flag(hostile):
    folder, marker = hostile
    with pytest.raises(BackboneError) as err:
        load_backbone(f"hf:{folder}")
    assert str(err.value) == (
        f"error: backbone hf:{folder}: config.json in the folder names Python code of its own {REFUSED}\n"
        f"    hint: {hf_trust.TRUST_HINT}")
    assert not marker.exists() and sys.stdin.read() == "yes\n" * 10  # nothing was read from stdin


def test_transformers_itself_is_told_not_to_trust(hostile, monkeypatch):
    """Even past our own check (a model in the cache, a config we do not read), transformers is
    given trust_remote_code=False, so it refuses instead of prompting."""
    folder, marker = hostile
    monkeypatch.setattr(hf_trust, "code_configs", lambda folder: [])
    with pytest.raises(BackboneError, match="needs its own Python code, so it is refused without trust"):
        load_backbone(f"hf:{folder}")
    assert not marker.exists() and sys.stdin.read() == "yes\n" * 10


def test_tokenizer_config_asking_for_code_is_refused(hostile):
    folder, marker = hostile
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["evil.Tok", None]}}))
    with pytest.raises(BackboneError, match=f"tokenizer_config.json in the folder names .* {re.escape(REFUSED)}"):
        load_backbone(f"hf:{folder}")
    assert not marker.exists()


def test_cli_exits_1_without_running_or_prompting(hostile, tmp_path, capsys):
    folder, marker = hostile
    spec = tmp_path / "s.adapt"
    spec.write_text(f'backbone "hf:{folder}"\nedge @0 -> @1\n')
    assert main(["compile", str(spec)]) == 1
    err = capsys.readouterr().err
    assert REFUSED in err and "--trust-code" in err and "internal error" not in err
    assert not marker.exists() and sys.stdin.read() == "yes\n" * 10


def test_trust_decision_reaches_every_transformers_load(hostile, monkeypatch):
    """With --trust-code the decision is passed on (True), never left for transformers to ask."""
    folder, _ = hostile
    (folder / "tokenizer.json").write_text("{}")
    seen = []

    def record(what):
        def from_pretrained(source, **kwargs):
            seen.append((what, kwargs.get("trust_remote_code", "unset")))
            raise ValueError("stop here")
        return from_pretrained

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", record("model"))
    with pytest.raises(BackboneError):
        load_backbone(f"hf:{folder}", trust_code=True)
    from adaptgraph.backbones import hf_source

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record("tokenizer"))
    assert hf_source._auto_tokenizer(transformers, folder, True) is None
    assert seen == [("model", True), ("tokenizer", True)]
