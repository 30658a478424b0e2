"""adaptgraph.generate and `adaptgraph generate`: the key-value cache against full recomputation, batching,
sampling, the fallback notice and the errors a user can cause."""
from __future__ import annotations

import json
import random
import warnings

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.cli import main
from adaptgraph.errors import TaskError
from adaptgraph.generation import FullRecomputationWarning, generate
from adaptgraph.tasks import lm_head
from adaptgraph.train import TrainConfig, train_spec
from tests.interop.tiny_hf import save_word_level_lms

transformers = pytest.importorskip("transformers")

WORDS = "the cat sat on a mat while dogs ran far away and birds sang over green hills".split()
PROMPTS = ["the cat sat on", "dogs", "birds sang over green hills and"]  # three lengths: left padding
# Edges whose points the hooks reach in three ways: a block's output (@2), a merge that no module
# returns (@1, @3: written through the attention's output), module ports (the MLPs), a self-edge, and
# (GPT-2) a trained LayerNorm, which the cached model takes from the compiled one.
SPECS = {"gpt2": "edge @0 -> @1\nedge @1 -> @3 { rank = 4 }\nsequential @2 -> @2\nparallel h.*.mlp { rank = 4 }\n"
                 "train h.0.ln_2",
         "llama": "edge @0 -> @1\nedge @1 -> @3 { rank = 4 }\nsequential @2 -> @2\nparallel layers.*.mlp { rank = 4 }"}


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("gen") / "text.txt"
    path.write_text("\n\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(200)))
    return path


@pytest.fixture(scope="module")
def folders(text, tmp_path_factory):
    """A GPT-2 (tied head) and a Llama (untied head) folder with a word-level tokenizer of the text."""
    root = tmp_path_factory.mktemp("hf-gen")
    save_word_level_lms(root, text)
    return root


@pytest.fixture(scope="module")
def runs(folders, text, tmp_path_factory):
    """One trained lm: run per folder (adapters far from their zero start)."""
    out = tmp_path_factory.mktemp("gen-runs")
    config = TrainConfig(steps=30, lr=1e-2, batch_size=8, device="cpu")
    for name, spec in SPECS.items():
        train_spec(adaptgraph.loads(f'backbone "hf:{folders / name}"\n{spec}'), f"lm:{text}?block=32&max_blocks=40",
                   config=config, out=out / name, progress=False)
    return out


def trained(runs, name):
    return adaptgraph.load_adapters(runs / name / "adapters.safetensors")


def step_by_step(model, bb, prompt: str, n: int) -> list[int]:
    """Greedy decoding by full recomputation, written out: the whole sequence through the compiled model
    and the LM head for every token."""
    ids = torch.tensor([prompt if isinstance(prompt, list) else bb.tokenizer.tokenizer(prompt)["input_ids"]])
    head, new = lm_head(bb, model), []  # the model's own lm_head when its spec trains it
    with torch.no_grad():
        for _ in range(n):
            token = head(model(ids, torch.ones_like(ids)))[0, -1].argmax()
            new.append(int(token))
            ids = torch.cat([ids, token.view(1, 1)], dim=1)
    return new


def token_ids(generation) -> list[list[int]]:
    return [o.token_ids for o in generation.outputs]


@pytest.mark.hf
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_cached_greedy_equals_step_by_step_full_recomputation(runs, name):
    model = trained(runs, name)
    bb = get_backbone(model.adaptgraph.backbone_ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FullRecomputationWarning)  # these edges must take the cache
        out = generate(model, PROMPTS, max_new_tokens=12, eos_token_id=None)
    assert out.cache and out.notice == "" and out.new_tokens == 36
    assert token_ids(out) == [step_by_step(model, bb, p, 12) for p in PROMPTS]
    untrained = adaptgraph.compile(model.adaptgraph.spec, bb)
    assert token_ids(out) != token_ids(generate(untrained, PROMPTS, max_new_tokens=12, eos_token_id=None))


@pytest.mark.hf
@pytest.mark.parametrize("name", ["gpt2", "llama"])  # a tied head (trained with the embedding) and an untied one
def test_a_trained_lm_head_is_the_head_generation_uses(folders, name):
    """`train lm_head` on a *ForCausalLM folder: generation must use the run's head, not the folder's."""
    model = adaptgraph.compile(adaptgraph.loads("train lm_head"), f"hf:{folders / name}")
    with torch.no_grad():  # a trained head: far from the folder's
        model.lm_head.weight.add_(torch.randn(model.lm_head.weight.shape, generator=torch.Generator().manual_seed(0)))
    bb = get_backbone(model.adaptgraph.backbone_ref)
    prompts = [[4, 12, 17, 6], [10]]
    for cache in (True, False):
        out = generate(model, prompts, max_new_tokens=8, eos_token_id=None, cache=cache)
        assert out.cache == cache and token_ids(out) == [step_by_step(model, bb, p, 8) for p in prompts]
    assert token_ids(out) != token_ids(generate(adaptgraph.compile(adaptgraph.loads(""), bb), prompts,
                                                max_new_tokens=8, eos_token_id=None))


@pytest.mark.hf
@pytest.mark.parametrize("cache", [True, False])
def test_a_left_padded_batch_continues_each_prompt_as_alone(runs, cache):
    model = trained(runs, "llama")
    batched = generate(model, PROMPTS, max_new_tokens=10, eos_token_id=None, cache=cache)
    alone = [generate(model, [p], max_new_tokens=10, eos_token_id=None, cache=cache).outputs[0] for p in PROMPTS]
    assert token_ids(batched) == [o.token_ids for o in alone]
    assert [o.text for o in batched.outputs] == [o.text for o in alone]


@pytest.mark.hf
def test_a_pad_token_outside_the_models_vocabulary_still_pads(folders, tmp_path):
    """A pad token added to the tokenizer alone (its id is the model's vocabulary size): the left padding
    is masked, so it takes an id the embedding holds instead of failing with an IndexError. (The token is
    added to the loaded tokenizer: a folder saved so may fail to load before generation, see the report.)"""
    import shutil

    folder = shutil.copytree(folders / "llama", tmp_path / "llama-pad")
    model = adaptgraph.compile(adaptgraph.loads("parallel layers.*.self_attn.v_proj"), f"hf:{folder}")
    tokenizer = get_backbone(f"hf:{folder}").tokenizer.tokenizer
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    assert tokenizer.pad_token_id == lm_head(get_backbone(f"hf:{folder}")).num_classes
    for cache in (True, False):
        batched = generate(model, PROMPTS, max_new_tokens=5, eos_token_id=None, cache=cache)
        alone = [generate(model, [p], max_new_tokens=5, eos_token_id=None).outputs[0].token_ids for p in PROMPTS]
        assert batched.cache == cache and token_ids(batched) == alone


def _with_added_pad(folders, tmp_path, eos: bool = True):
    """The Llama folder with a pad token added to its tokenizer alone (its id is the vocabulary size)."""
    import shutil

    folder = shutil.copytree(folders / "llama", tmp_path / "llama-pad-saved")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if not eos:
        tokenizer.eos_token = None
    tokenizer.save_pretrained(folder)
    return folder, tokenizer.pad_token_id


@pytest.mark.hf
def test_a_saved_pad_token_the_model_lacks_pads_with_eos(folders, tmp_path):
    """Such a folder failed at load with an IndexError (exit 3); it pads with EOS, as a tokenizer without a
    pad token does, and generates what the folder without the added token generates."""
    folder, _ = _with_added_pad(folders, tmp_path)
    spec = 'parallel layers.*.self_attn.v_proj'
    ours = generate(adaptgraph.compile(adaptgraph.loads(spec), f"hf:{folder}"), PROMPTS, max_new_tokens=5)
    plain = generate(adaptgraph.compile(adaptgraph.loads(spec), f"hf:{folders / 'llama'}"), PROMPTS, max_new_tokens=5)
    assert ours.cache and token_ids(ours) == token_ids(plain)


@pytest.mark.hf
def test_a_pad_token_the_model_lacks_without_eos_is_refused_by_name(folders, tmp_path, capsys):
    folder, pad = _with_added_pad(folders, tmp_path, eos=False)
    spec = tmp_path / "pad.adapt"
    spec.write_text(f'backbone "hf:{folder}"\n')
    assert main(["generate", str(spec), "--prompt", "the cat"]) == 1
    assert capsys.readouterr().err == (
        f"error: backbone hf:{folder}: its tokenizer gives token id {pad} (its pad token), and the model's input "
        f"embedding has {pad} rows (ids 0..{pad - 1})\n    hint: a token was added to the tokenizer alone: call "
        "model.resize_token_embeddings(len(tokenizer)) before save_pretrained, or save the tokenizer without it\n")


def test_zoo_gpt_recomputes_batches_by_length_and_says_so():
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:gpt-tiny"\nparallel h.*.mlp'))
    with pytest.warns(FullRecomputationWarning, match="backbone 'zoo:gpt-tiny' has no key-value cache of its own"):
        batched = generate(model, ["the cat sat", "a dog", "far away and over"], max_new_tokens=4)
    with pytest.warns(FullRecomputationWarning):
        alone = generate(model, ["a dog"], max_new_tokens=4)
    assert not batched.cache and batched.outputs[1].token_ids == alone.outputs[0].token_ids
    ids = batched.outputs[0].token_ids
    assert len(ids) == 4 and batched.outputs[0].text == " ".join(f"<{i}>" for i in ids)  # hashed words: ids


@pytest.mark.hf
def test_with_zero_adapters_the_cache_gives_what_transformers_generate_gives(folders):
    model = adaptgraph.compile(adaptgraph.loads("parallel layers.*.mlp"), f"hf:{folders / 'llama'}")
    ids = [3, 5, 7, 2]
    ours = generate(model, [ids], max_new_tokens=8, eos_token_id=None)
    reference = transformers.AutoModelForCausalLM.from_pretrained(folders / "llama").eval()
    prompt = torch.tensor([ids])
    theirs = reference.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False,
                                pad_token_id=0, eos_token_id=None)
    assert ours.cache and ours.outputs[0].token_ids == theirs[0, 4:].tolist()


@pytest.mark.hf
def test_sampling_is_reproducible_by_seed(runs):
    model = trained(runs, "gpt2")

    def sample(seed, **options):
        return token_ids(generate(model, PROMPTS, max_new_tokens=10, eos_token_id=None, seed=seed, **options))

    hot = {"temperature": 2.0}
    assert sample(1, **hot) == sample(1, **hot)
    assert sample(1, **hot) != sample(2, **hot)
    greedy = token_ids(generate(model, PROMPTS, max_new_tokens=10, eos_token_id=None))
    assert sample(1, temperature=2.0, top_p=1e-6) == greedy  # a nucleus of one token is the argmax


@pytest.mark.hf
def test_cli_json_and_text(runs, capsys):
    run = str(runs / "gpt2")
    assert main(["generate", run, "--prompt", PROMPTS[0], "--prompt", PROMPTS[1], "--max-new-tokens", "5",
                 "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert captured.err == ""
    assert [sorted(o) for o in printed["outputs"]] == [["prompt", "text", "token_ids"]] * 2
    assert [o["prompt"] for o in printed["outputs"]] == PROMPTS[:2] and printed["cache"] is True
    api = generate(trained(runs, "gpt2"), PROMPTS[:2], max_new_tokens=5)
    assert [o["token_ids"] for o in printed["outputs"]] == token_ids(api)
    assert [o["text"] for o in printed["outputs"]] == [o.text for o in api.outputs]
    assert main(["generate", run, "--prompt", PROMPTS[0], "--max-new-tokens", "5", "--temperature", "1.5",
                 "--top-p", "0.9", "--seed", "4", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["outputs"]
    main(["generate", run, "--prompt", PROMPTS[0], "--max-new-tokens", "5", "--temperature", "1.5", "--top-p", "0.9",
          "--seed", "4", "--json"])
    assert json.loads(capsys.readouterr().out)["outputs"] == first
    assert main(["generate", run, "--prompt", PROMPTS[1], "--max-new-tokens", "3"]) == 0
    three = generate(trained(runs, "gpt2"), [PROMPTS[1]], max_new_tokens=3).outputs[0].text
    assert capsys.readouterr().out == f"{PROMPTS[1]}\n  -> {three}\n"


@pytest.mark.hf
def test_recurrent_edges_fall_back_with_a_one_line_notice(folders, tmp_path, capsys):
    spec = tmp_path / "rec.adapt"
    spec.write_text(f'backbone "hf:{folders / "gpt2"}"\nrecurrent @4 -> @1\n')
    assert main(["generate", str(spec), "--prompt", "the cat", "--max-new-tokens", "4", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ("note: generating without a key-value cache (each token recomputes the whole sequence): "
                            "recurrent edges (s4__s1) need a second pass over the whole sequence\n")
    assert json.loads(captured.out)["cache"] is False


@pytest.mark.parametrize("argv, message", [
    (["zoo.adapt", "--prompt", "a", "--max-new-tokens", "0"],
     "error: --max-new-tokens: must be an integer from 1 to 1000000000 (got 0)"),
    (["zoo.adapt", "--prompt", "a", "--temperature", "-1"], "error: --temperature: must be 0 or more (got -1.0)"),
    (["zoo.adapt", "--prompt", "a", "--temperature", "1", "--top-p", "1.5"],
     "error: top_p must be a number in (0, 1], not 1.5"),
    (["zoo.adapt", "--prompt", "a", "--top-p", "0.5"],
     "error: top_p=0.5 needs sampling, and temperature 0 is greedy decoding\n"
     "    hint: give a temperature above 0 as well (e.g. --temperature 0.8 --top-p 0.9)"),
    (["zoo.adapt", "--prompt", "a", "--max-new-tokens", "200"],
     "error: the longest prompt has 3 tokens, and 3 + 200 new tokens is more than the 128 positions of backbone "
     "'zoo:gpt-tiny'\n    hint: use --max-new-tokens 125 or less, or a shorter prompt"),
    (["zoo.adapt", "--prompt", " ".join(["cat"] * 130), "--max-new-tokens", "1"],
     "error: the longest prompt has 132 tokens, and backbone 'zoo:gpt-tiny' has 128 positions, so no new token "
     "fits after it\n    hint: shorten the prompt to 127 tokens or fewer"),
    (["bert.adapt", "--prompt", "a"], "error: backbone 'zoo:bert-tiny' has no LM head"),
    (["missing", "--prompt", "a"], "error: missing: no such run folder, adapter file or spec"),
])
def test_bad_input_is_a_clear_error(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zoo.adapt").write_text('backbone "zoo:gpt-tiny"\n')
    (tmp_path / "bert.adapt").write_text('backbone "zoo:bert-tiny"\n')
    assert main(["generate", *argv]) == (2 if "(got" in message else 1)  # the CLI's own number checks: usage
    assert capsys.readouterr().err.startswith(message)


def test_no_prompt_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "runs/x"])
    assert exit_.value.code == 2 and "the following arguments are required: --prompt" in capsys.readouterr().err
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:gpt-tiny"'))
    for prompts, message in [([], "generate needs at least one prompt"), ([[5, 1000]], "outside the vocabulary 0..999"),
                             ([("a", "b")], "a prompt must be a string or a list of token ids, not tuple")]:
        with pytest.raises(TaskError, match=message):
            generate(model, prompts)
    with pytest.raises(TaskError, match="max_new_tokens must be a positive integer, not 0"):
        generate(model, ["a"], max_new_tokens=0)


def test_a_classification_run_is_refused(tmp_path, capsys):
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 4 }\n')
    assert main(["train", str(spec), "--task", "wordnet:noun.animal,noun.food?per_class=20", "--steps", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "run"), "--prompt", "a"]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'run'} was trained on task 'wordnet:noun.animal,noun.food?per_class=20' (a classification "
        "head of 2 classes), not on a language-model task\n    hint: generate continues text with a run of an lm: "
        "task (or a spec on a decoder)\n")


def test_the_training_doc_example_runs_on_zoo_gpt(text, tmp_path, monkeypatch, capsys):
    """docs/training.md's Python example, on a run of zoo:gpt-tiny at the path it names."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "adaptgraph.generate" in b)
    monkeypatch.chdir(tmp_path)
    train_spec(adaptgraph.loads('backbone "zoo:gpt-tiny"\nparallel h.*.mlp { rank = 4 }'), f"lm:{text}?block=32",
               config=TrainConfig(steps=2, batch_size=8, device="cpu"), out="runs/book", progress=False)
    with pytest.warns(FullRecomputationWarning):
        exec(compile(code, "docs/training.md", "exec"), {"__name__": "docs_example"})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["In the beginning", "And he said"]
    assert all(len(re.findall(r"<\d+>", line.split(" -> ")[1])) == 30 for line in lines)


@pytest.mark.hf
def test_hooks_that_disagree_with_the_compiled_model_are_not_trusted(folders, monkeypatch):
    """Each block's MLP adapter called in the other block's hook: the check on the prompts catches it."""
    import dataclasses

    from adaptgraph.generation import api, edge_hooks

    model = adaptgraph.compile(adaptgraph.loads("parallel h.*.mlp"), f"hf:{folders / 'gpt2'}")
    with torch.no_grad():
        for p in model.adapters.parameters():
            p.normal_(0, 0.5)

    def swapped(*args):
        sites = edge_hooks.plan_hooks(*args).sites
        other = {"adapters.h_0_mlp": "adapters.h_1_mlp", "adapters.h_1_mlp": "adapters.h_0_mlp"}
        for site in sites.values():
            site.own_writes[:] = [dataclasses.replace(w, adapter=other[w.adapter]) for w in site.own_writes]
        return edge_hooks.HookPlan(sites)

    monkeypatch.setattr(api, "plan_hooks", swapped)
    with pytest.warns(FullRecomputationWarning, match="the hooked model's logits differ from the compiled model's by"):
        out = generate(model, PROMPTS, max_new_tokens=6, eos_token_id=None)
    assert not out.cache
    assert token_ids(out) == token_ids(generate(model, PROMPTS, max_new_tokens=6, eos_token_id=None, cache=False))
