"""lm:PATH: next-token training through the backbone's own LM head, perplexity reproduced by eval, scoring."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.errors import AdaptGraphError, TaskError
from adaptgraph.score import ScoreConfig, score_edges
from adaptgraph.tasks import bind_task, load_task, make_loader
from adaptgraph.train import TrainConfig, evaluate, evaluate_run, train_spec
from tests.interop.tiny_hf import save_word_level_lms


U32 = 2.0 ** -24  # float32 unit roundoff


def same_loss(got: torch.Tensor, want: torch.Tensor, tokens: int, width: int) -> bool:
    """Equal up to float32 summation order. A mean of ``tokens`` positive losses summed in another
    order moves by at most (tokens - 1) * u of itself; each logit is a dot product over ``width``
    terms whose order may differ too, and a loss moves by at most twice its largest logit error.
    Hence a relative bound of 2 * (tokens + width) * u (about 1e-5 here), independent of the CPU."""
    return torch.allclose(got, want, rtol=2 * (tokens + width) * U32, atol=0)


CONFIG = TrainConfig(epochs=2, lr=3e-3, batch_size=16, eval_batch_size=32, device="cpu")
WORDS = "the cat sat on a mat while dogs ran far away and birds sang over green hills".split()


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """A small generated text: 200 paragraphs of 40 words drawn from a 17-word vocabulary."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("lm") / "text.txt"
    path.write_text("\n\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(200)))
    return path


def test_blocks_split_in_file_order_without_padding(text):
    task = load_task(f"lm:{text}?block=32&split=80/10/10")
    paragraphs = text.read_text().split("\n\n")
    assert sum(task.splits, ()) == tuple(paragraphs)  # in file order, each paragraph once
    starts = [sum(map(len, paragraphs[:k])) for k in range(len(paragraphs))]  # characters before paragraph k
    total, n_train = sum(map(len, paragraphs)), len(task.splits[0])
    assert starts[n_train - 1] < 0.8 * total <= starts[n_train]  # cut where 80% of the characters pass
    bound = bind_task(task, load_backbone("zoo:gpt-tiny"))
    train = bound.examples("train")
    assert all(block.shape == (32,) and label == 0 for block, label in train)
    assert len(train) == (n_train * 42) // 32  # [CLS] 40 words [SEP] per paragraph, the rest dropped
    assert bound.num_classes == 1000 and bound.fingerprint() == task.fingerprint()
    assert len(bind_task(load_task(f"lm:{text}?block=32&max_blocks=5"), load_backbone("zoo:gpt-tiny"))
               .examples("train")) == 5


def test_windows_and_unix_copies_of_a_text_are_the_same_task(text, tmp_path):
    crlf, cr = tmp_path / "crlf.txt", tmp_path / "cr.txt"
    crlf.write_bytes(text.read_bytes().replace(b"\n", b"\r\n"))
    cr.write_bytes(text.read_bytes().replace(b"\n", b"\r"))
    tasks = [load_task(f"lm:{p}?block=32") for p in (text, crlf, cr)]
    assert tasks[0].splits == tasks[1].splits == tasks[2].splits
    assert not any("\r" in p for p in sum(tasks[1].splits, ()))
    assert len({t.fingerprint().rsplit("|", 1)[1] for t in tasks}) == 1  # the name holds the path; the hash the text


@pytest.mark.parametrize("ref, message", [
    ("lm:", "task 'lm:' names no file"),
    ("lm:missing.txt", "text file not found: missing.txt"),
    ("lm:{text}?per_class=3", "option per_class of task 'lm:{text}?per_class=3' has no meaning for a "
                              "language-model task"),
    ("lm:{text}?block=1", "option block=1 of task 'lm:{text}?block=1' must be an integer >= 2 and <= 65536"),
    ("lm:{text}?field=body", "option field of task 'lm:{text}?field=body' names a key of a .jsonl file, but "
                             "{text} is plain text"),  # not silently ignored
    ("lm:{text}?blocks=8", "unknown option 'blocks' for lm tasks (options: block, field, max_blocks, prompt, "
                           "response, messages, per_class, split)"),
])
def test_reference_errors(text, ref, message):
    with pytest.raises(TaskError) as err:
        load_task(ref.format(text=text))
    assert err.value.problems[0].message == message.format(text=text)


def test_a_jsonl_without_the_text_key_names_the_field_option(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"body": "the cat sat"}\n')
    with pytest.raises(TaskError) as err:
        load_task(f"lm:{path}")
    problem = err.value.problems[0]
    assert problem.message == f"{path}:1: no field key 'text'; the keys are body"
    assert problem.hint == "name the field key with ?field=NAME"  # the lm option (there is no ?text=)
    assert load_task(f"lm:{path}?field=body").splits[0] == ("the cat sat",)


def test_blocks_longer_than_the_positions_are_refused(text):
    with pytest.raises(TaskError) as err:
        bind_task(load_task(f"lm:{text}?block=200"), load_backbone("zoo:gpt-tiny"))
    assert str(err.value) == (f"error: task 'lm:{text}?block=200' has blocks of 200 tokens but backbone "
                              "'zoo:gpt-tiny' has positions for 128\n    hint: use block=128 or less")


def test_encoders_are_refused(text):
    task = load_task(f"lm:{text}")
    with pytest.raises(AdaptGraphError, match="has no LM head"):
        bind_task(task, load_backbone("zoo:bert-tiny"))

    class Bidirectional(nn.Module):  # has a wte, but every token sees every other
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(50, 8)

        def forward(self, input_ids, attention_mask):
            h = self.wte(input_ids)
            return h + h.mean(dim=1, keepdim=True)

    bb = load_backbone(Bidirectional(), example_inputs=(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.long)))
    with pytest.raises(TaskError, match="is not a causal decoder"):
        bind_task(task, bb)


def test_the_loss_is_next_token_cross_entropy_through_the_tied_embedding(text):
    bb = load_backbone("zoo:gpt-tiny")
    task = bind_task(load_task(f"lm:{text}?block=16"), bb)
    head = task.make_head(bb)
    batch = next(iter(make_loader(task.examples("test"), bb, batch_size=4, max_length=16, shuffle=False)))
    with torch.no_grad():
        hidden = bb.module(*batch.inputs)
        logits = hidden @ bb.module.wte.weight.T
        want = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 1000), batch.inputs[0][:, 1:].reshape(-1))
        got = head.per_example_loss(head(hidden), batch).mean()
    assert head.weight.data_ptr() == bb.module.wte.weight.data_ptr()  # the backbone's own tensor, no copy
    # equal blocks: the mean of block means is the token mean
    assert same_loss(got, want, batch.inputs[0][:, 1:].numel(), head.weight.shape[1])


def test_zoo_gpt_trains_and_eval_reproduces_the_perplexity(text, tmp_path):
    ref = f"lm:{text}?block=32"
    spec = adaptgraph.loads('backbone "zoo:gpt-tiny"\nparallel h.*.mlp { rank = 4 }')
    result = train_spec(spec, ref, config=CONFIG, out=tmp_path / "run", progress=False)
    metrics = result.metrics
    assert metrics["trainable_parameters"]["head"] == 0  # the LM head is the backbone's, frozen
    assert metrics["test_perplexity"] == metrics["test"]["perplexity"] == math.exp(metrics["test"]["loss"])
    again = evaluate_run(tmp_path / "run", progress=False)
    assert again["perplexity"] == metrics["test_perplexity"] and again["accuracy"] == metrics["test"]["accuracy"]
    bb = load_backbone("zoo:gpt-tiny")
    untrained = adaptgraph.compile(spec, bb)
    task = load_task(ref)
    before = evaluate(untrained, task.for_backbone(bb).make_head(bb), bb, task, "validation", CONFIG)
    assert metrics["validation"]["loss"] < before["loss"]  # adapters lower the next-token loss


def test_scores_under_the_lm_loss(text):
    scores = score_edges("zoo:gpt-tiny", f"lm:{text}?block=16", ScoreConfig(batches=2, batch_size=4), progress=False)
    assert len(scores.points) == 9 and scores.head == "probe"
    rank = torch.tensor([[v if v is not None else -1.0 for v in row] for row in scores.rank])
    assert (rank[torch.triu(torch.ones(9, 9, dtype=torch.bool))] > 0).all()  # every forward pair has a gradient


transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_folders(text, tmp_path_factory):
    """A GPT-2 (tied head) and a Llama (saved lm_head) folder with a word-level tokenizer of the text."""
    root = tmp_path_factory.mktemp("hf-lm")
    save_word_level_lms(root, text)
    return root


@pytest.mark.hf
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_the_lm_loss_is_the_causal_lm_models_own(hf_folders, text, name):
    bb = load_backbone(f"hf:{hf_folders / name}")
    task = bind_task(load_task(f"lm:{text}?block=16"), bb)
    head = task.make_head(bb)
    batch = next(iter(make_loader(task.examples("test"), bb, batch_size=4, max_length=16, shuffle=False)))
    reference = transformers.AutoModelForCausalLM.from_pretrained(hf_folders / name).eval()
    with torch.no_grad():
        got = head.per_example_loss(head(bb.module(*batch.inputs)), batch).mean()
        want = reference(input_ids=batch.inputs[0], labels=batch.inputs[0]).loss
    assert same_loss(got, want, batch.inputs[0][:, 1:].numel(), head.weight.shape[1])


@pytest.mark.hf
def test_hf_gpt2_trains_eval_reproduces_and_generates_like_transformers(hf_folders, text, tmp_path):
    ref, folder = f"lm:{text}?block=32&max_blocks=40", hf_folders / "gpt2"
    spec = adaptgraph.loads(f'backbone "hf:{folder}"\nparallel h.*.mlp {{ rank = 4 }}')
    metrics = train_spec(spec, ref, config=CONFIG, out=tmp_path / "run", progress=False).metrics
    assert evaluate_run(tmp_path / "run", progress=False)["perplexity"] == metrics["test_perplexity"]
    bb = load_backbone(f"hf:{folder}")
    model = adaptgraph.compile(adaptgraph.loads("parallel h.*.mlp"), bb)  # zero-initialised: the backbone
    prompt = torch.tensor([[3, 5, 7, 2]])
    ours = adaptgraph.generate(model, prompt.tolist(), max_new_tokens=6, eos_token_id=None)
    reference = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    theirs = reference.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False,
                                pad_token_id=0, eos_token_id=None)
    assert ours.outputs[0].token_ids == theirs[0, 4:].tolist()


def test_search_places_adapters_for_the_lm_loss(text):
    from adaptgraph.searcher import SearchConfig, search
    from adaptgraph.searcher.settings import Fidelity, Scoring

    config = SearchConfig(strategy="gga", fidelity=Fidelity(steps=2), scoring=Scoring(batches=1, batch_size=4),
                          train=TrainConfig(steps=2, batch_size=8, lr=3e-3, device="cpu"), plot=False)
    result = search(f"lm:{text}?block=32&max_blocks=40", "zoo:gpt-tiny", config, progress=False)
    assert [t.status for t in result.trials] == ["ok"] * len(result.trials)
    assert result.best.test_accuracy is not None  # the next-token accuracy of the retrained best spec


def test_a_split_without_a_block_is_refused_before_training(tmp_path):
    """A long text without blank lines is one paragraph: it all lands in 'train', and a run of it would be
    saved with validation and test null. The count of every split is in the message."""
    one = tmp_path / "one.txt"
    one.write_text(" ".join(["the cat sat on the mat"] * 400))
    with pytest.raises(TaskError) as err:
        bind_task(load_task(f"lm:{one}?block=32"), load_backbone("zoo:gpt-tiny"))
    message = err.value.problems[0]
    assert message.message.startswith(f"task 'lm:{one}?block=32' has no block of 32 tokens in split 'validation' "
                                      "and 'test': train 75 blocks (2402 tokens, 1 paragraph), validation 0 blocks "
                                      "(0 tokens, 0 paragraphs), test 0 blocks (0 tokens, 0 paragraphs)")
    assert "more paragraphs" in message.hint
    few = tmp_path / "few.txt"
    few.write_text("\n\n".join(["the cat sat on the mat " * 12] * 20))
    with pytest.raises(TaskError) as err:
        bind_task(load_task(f"lm:{few}?block=128"), load_backbone("zoo:gpt-tiny"))
    assert "block=74 fits every split" in err.value.problems[0].hint
    assert bind_task(load_task(f"lm:{few}?block=74"), load_backbone("zoo:gpt-tiny")).examples("test")


def test_train_refuses_before_writing_a_run(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text(" ".join(["the cat sat on the mat"] * 400))
    spec = adaptgraph.loads('backbone "zoo:gpt-tiny"\nparallel h.*.mlp { rank = 2 }')
    with pytest.raises(TaskError, match="has no block of 32 tokens in split 'validation' and 'test'"):
        train_spec(spec, f"lm:{one}?block=32", config=TrainConfig(steps=1), out=tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_spec_without_adapters_gives_the_frozen_base_models_numbers(text, tmp_path, capsys):
    """No adapters and no `train`: nothing requires grad, so no step is taken; train and eval both report
    the frozen backbone's perplexity, exactly what evaluate gives on the backbone itself."""
    from adaptgraph.cli import main

    spec = tmp_path / "base.adapt"
    spec.write_text('backbone "zoo:gpt-tiny"\n')
    ref = f"lm:{text}?block=32"
    assert main(["train", str(spec), "--task", ref, "--epochs", "2", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "nothing trains (no adapters, no `train` modules): the frozen model's numbers" in printed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 0 and metrics["epochs"] == 0 and metrics["trainable_parameters"]["total"] == 0
    bb = load_backbone("zoo:gpt-tiny")
    task = load_task(ref)
    base = adaptgraph.compile(adaptgraph.loads('backbone "zoo:gpt-tiny"'), bb)
    for split in ("validation", "test"):
        want = evaluate(base, task.for_backbone(bb).make_head(bb), bb, task, split, TrainConfig())
        assert metrics[split]["perplexity"] == want["perplexity"]
    assert main(["eval", str(tmp_path / "run"), "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["perplexity"] == metrics["test_perplexity"]
