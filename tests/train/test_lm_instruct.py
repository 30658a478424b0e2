"""lm:FILE.jsonl?prompt=&response= / ?messages=: only response tokens are scored, by loss and perplexity alike."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.backbones.hash_tokenizer import CLS_ID, SEP_ID, HashTokenizer
from adaptgraph.cli import main
from adaptgraph.errors import TaskError
from adaptgraph.tasks import bind_task, load_task, make_loader
from adaptgraph.tasks.data import IGNORE_INDEX
from adaptgraph.train import TrainConfig, evaluate

U32 = 2.0 ** -24  # float32 unit roundoff
PAIRS = [("what sat on the mat", "the cat sat"), ("where did dogs run", "far away over green hills and back"),
         ("who sang", "birds"), ("what is green", "the hills are green"), ("say a word", "mat"),
         ("tell me about cats", "a cat sat on a mat while dogs ran"), ("and birds", "birds sang far away"),
         ("one more", "the end")]


def write_jsonl(path, rows) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


@pytest.fixture
def pairs(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", [{"q": p, "a": r} for p, r in PAIRS])


def test_only_the_response_tokens_are_scored(pairs):
    task = bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&split=6/1/1"), load_backbone("zoo:gpt-tiny"))
    tok = HashTokenizer()
    examples = task.examples("train") + task.examples("validation") + task.examples("test")
    assert len(task.examples("train")) == 6 and len(examples) == len(PAIRS)  # file order, one example a line
    for (example, label), (prompt, response) in zip(examples, PAIRS):
        head = [CLS_ID] + [tok.word_id(w) for w in prompt.split()] + [SEP_ID]
        tail = [tok.word_id(w) for w in response.split()] + [SEP_ID]
        assert label == 0 and example.ids.tolist() == head + tail
        assert example.scored.tolist() == [False] * len(head) + [True] * len(tail)
    batch = next(iter(make_loader(task.examples("train"), task.backbone, batch_size=6, max_length=128,
                                  shuffle=False)))
    longest = max(len(e.ids) for e, _ in task.examples("train"))
    assert batch.inputs[0].shape == batch.targets.shape == (6, longest)  # right-padded to the longest
    for row, (example, _) in enumerate(task.examples("train")):
        n = len(example.ids)
        want = [i if s else IGNORE_INDEX for i, s in zip(example.ids.tolist(), example.scored.tolist())]
        assert batch.targets[row].tolist() == want + [IGNORE_INDEX] * (longest - n)  # padding never scored
        assert batch.attention_mask[row].tolist() == [1] * n + [0] * (longest - n)
    assert task.scored_tokens("train") == sum(len(r.split()) + 1 for _, r in PAIRS[:6])


def test_a_long_example_is_cut_to_the_block(pairs):
    task = bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&split=6/1/1&block=9"), load_backbone("zoo:gpt-tiny"))
    example = task.examples("train")[0][0]  # [CLS] what sat on the mat [SEP] | the cat sat [SEP], cut after "cat"
    assert len(example.ids) == 9 and example.scored.tolist() == [False] * 7 + [True] * 2


def by_hand(bb, task, split: str) -> tuple[float, int]:
    """The mean cross-entropy over the response tokens of ``split``, one example at a time, and their count."""
    total, count = 0.0, 0
    with torch.no_grad():
        for example, _ in task.examples(split):
            ids = example.ids[None]
            logits = bb.module(ids, torch.ones_like(ids)) @ bb.module.wte.weight.T
            ce = nn.functional.cross_entropy(logits[0, :-1], example.ids[1:], reduction="none")
            keep = example.scored[1:]
            total += float(ce[keep].double().sum())
            count += int(keep.sum())
    return total / count, count


def test_perplexity_is_exp_of_the_mean_loss_over_response_tokens(pairs):
    bb = load_backbone("zoo:gpt-tiny")
    task = bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&split=3/1/4"), bb)
    model = adaptgraph.compile(adaptgraph.loads("parallel h.*.mlp"), bb)  # zero-initialised: the backbone
    config = TrainConfig(eval_batch_size=3, device="cpu")  # batches of unequal lengths and padding
    got = evaluate(model, task.make_head(bb), bb, task, "test", config, progress=False)
    want, count = by_hand(bb, task, "test")
    assert got["tokens"] == count == task.scored_tokens("test") and got["n"] == 4
    # float32 logits summed in another order (batched, padded): a relative bound of 2 * (tokens + width) * u
    assert got["loss"] == pytest.approx(want, rel=2 * (count + 32) * U32, abs=0)
    assert got["perplexity"] == math.exp(got["loss"])


def test_the_cli_header_says_how_many_tokens_are_scored(pairs, tmp_path, capsys):
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:gpt-tiny"\nparallel h.*.mlp { rank = 2 }\n')
    ref = f"lm:{pairs}?prompt=q&response=a&split=6/1/1"
    assert main(["train", str(spec), "--task", ref, "--steps", "2", "--batch-size", "4", "--device", "cpu",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    counts = [sum(len(r.split()) + 1 for _, r in part) for part in (PAIRS[:6], PAIRS[6:7], PAIRS[7:])]
    out = capsys.readouterr().out
    assert f"scored tokens: {counts[0]} train, {counts[1]} validation, {counts[2]} test" in out
    assert "(vocabulary of 1,000 tokens, 6 training examples of at most 128 tokens)" in out  # not "blocks"
    assert main(["eval", str(tmp_path / "run")]) == 0
    assert f"1 examples, {counts[2]} scored tokens" in capsys.readouterr().out


@pytest.mark.parametrize("rows, ref, message", [
    ([{"q": "a", "a": "b"}, "{not json"], "prompt=q&response=a",
     "{f}:2: not valid JSON (Expecting property name enclosed in double quotes)"),
    ([{"q": "a", "a": "b"}, {"q": "a"}], "prompt=q&response=a", "{f}:2: no response key 'a'; the keys are q"),
    ([{"q": "a", "a": 3}], "prompt=q&response=a", "{f}:1: the response 'a' is a number; it must be text"),
    ([{"q": "a", "a": "b"}, "", {"q": "a", "a": "  "}], "prompt=q&response=a", "{f}:3: the response 'a' is empty"),
    ([{"q": None, "a": "b"}], "prompt=q&response=a", "{f}:1: the prompt 'q' is null"),
    ([{"m": "hi"}], "messages=m", "{f}:1: the messages 'm' must be a non-empty list of {{\"role\", \"content\"}} "
                                  "objects"),
    ([{"m": [{"role": "user"}]}], "messages=m", "{f}:1: m[0] must be an object with \"role\" and \"content\""),
    ([{"m": [{"role": "user", "content": ["x"]}]}], "messages=m", "{f}:1: the content 'm[0].content' is a list; "
                                                                  "it must be text"),
    ([{"m": [{"role": "user", "content": "x"}]}], "messages=m", "{f}:1: the messages 'm' have no assistant turn, "
                                                                "so nothing would be scored"),
    ([{"m": [{"role": "assistant", "content": ""}]}], "messages=m", "{f}:1: m[0].content is an empty assistant "
                                                                    "response"),
    ([{"q": "a", "a": "b"}], "prompt=q", "task '{ref}' gives prompt: instruction data takes prompt=KEY and "
                                         "response=KEY together, or messages=KEY alone (and field= is for plain text)"),
    ([{"q": "a", "a": "b"}], "prompt=q&response=a&split=1/1/1", "task '{ref}' has 1 examples, too few to give the "
                                                                "validation split any"),
    # a run needs validation and test numbers: a split without a share is refused before training
    ([{"q": "a", "a": "b"}] * 20, "prompt=q&response=a&split=100/0/0", "task '{ref}' gives the validation split "
                                                                      "no share; a run needs validation and test numbers"),
    ([{"q": "a", "a": "b"}] * 20, "prompt=q&response=a&split=90/10/0", "task '{ref}' gives the test split no "
                                                                      "share; a run needs validation and test numbers"),
])
def test_bad_files_name_the_line_and_the_field(tmp_path, rows, ref, message):
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    full = f"lm:{f}?{ref}"
    with pytest.raises(TaskError) as err:
        load_task(full)
    assert err.value.problems[0].message == message.format(f=f, ref=full)


def test_refusals_at_tokenization(tmp_path, pairs):
    bb = load_backbone("zoo:gpt-tiny")
    with pytest.raises(TaskError) as err:
        bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&block=4"), bb)
    assert err.value.problems[0].message == (f"{pairs}:1: the example's first response token is token 8, so none "
                                             "of the response fits in block=4")  # [CLS] 5 words [SEP], then "the"
    chat = write_jsonl(tmp_path / "c.jsonl", [{"m": [{"role": "user", "content": "x"},
                                                     {"role": "assistant", "content": "y"}]}] * 3)
    with pytest.raises(TaskError, match="has a tokenizer without one"):
        bind_task(load_task(f"lm:{chat}?messages=m"), bb)  # the zoo's tokenizer has no chat template
    text = tmp_path / "plain.txt"
    text.write_text("hello")
    with pytest.raises(TaskError, match="which is not a .jsonl file"):
        load_task(f"lm:{text}?prompt=q&response=a")


transformers = pytest.importorskip("transformers")
TEMPLATE = ("{% for m in messages %}{{ m.role }} : {{ m.content }} <eos> {% endfor %}"
            "{% if add_generation_prompt %}assistant : {% endif %}")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A tiny GPT-2 with a word-level tokenizer whose chat template writes ``role : content <eos>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    words = " ".join(p + " " + r for p, r in PAIRS) + " user assistant system :"
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=["<unk>", "<eos>"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    fast.chat_template = TEMPLATE
    folder = tmp_path_factory.mktemp("hf-chat") / "gpt2"
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=fast.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.mark.hf
def test_chat_messages_score_the_assistant_turns_of_the_template(gpt2_folder, tmp_path):
    talks = [[{"role": "system", "content": "say a word"}, {"role": "user", "content": p},
              {"role": "assistant", "content": r}, {"role": "user", "content": "one more"},
              {"role": "assistant", "content": "the end"}] for p, r in PAIRS[:3]]
    f = write_jsonl(tmp_path / "chat.jsonl", [{"talk": t} for t in talks])
    bb = load_backbone(f"hf:{gpt2_folder}")
    task = bind_task(load_task(f"lm:{f}?messages=talk&split=1/1/1&block=64"), bb)
    vocab = bb.tokenizer.tokenizer.get_vocab()
    for (example, _), talk in zip(task.examples("train") + task.examples("validation") + task.examples("test"), talks):
        ids, scored = [], []
        for m in talk:  # what the template writes, word by word; an assistant's content and <eos> are scored
            words = f"{m['role']} : {m['content']} <eos>".split()
            ids += [vocab[w] for w in words]
            scored += [False, False] + [m["role"] == "assistant"] * (len(words) - 2)
        assert example.ids.tolist() == ids and example.scored.tolist() == scored
    model = adaptgraph.compile(adaptgraph.loads("parallel h.*.mlp"), bb)
    got = evaluate(model, task.make_head(bb), bb, task, "test", TrainConfig(device="cpu"), progress=False)
    reference = transformers.AutoModelForCausalLM.from_pretrained(gpt2_folder).eval()
    example = task.examples("test")[0][0]
    labels = torch.where(example.scored, example.ids, IGNORE_INDEX)[None]
    with torch.no_grad():  # transformers' own loss with the prompt masked by the ignore index
        want = reference(input_ids=example.ids[None], labels=labels).loss
    count = int(example.scored.sum())
    assert got["tokens"] == count and got["loss"] == pytest.approx(float(want), rel=2 * (count + 32) * U32, abs=0)


@pytest.mark.hf
def test_prompt_and_response_with_a_transformers_tokenizer_end_with_its_eos(gpt2_folder, pairs):
    bb = load_backbone(f"hf:{gpt2_folder}")
    task = bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&split=6/1/1&block=64"), bb)
    hf = bb.tokenizer.tokenizer
    example = task.examples("train")[0][0]
    head, tail = hf(PAIRS[0][0])["input_ids"], hf(PAIRS[0][1])["input_ids"] + [hf.eos_token_id]
    assert example.ids.tolist() == head + tail
    assert example.scored.tolist() == [False] * len(head) + [True] * len(tail)


@pytest.mark.hf
def test_a_tokenizer_that_appends_its_eos_keeps_it_at_the_end_of_the_response_only(gpt2_folder, pairs, tmp_path):
    from tokenizers import processors

    hf = transformers.AutoTokenizer.from_pretrained(gpt2_folder)
    eos = hf.eos_token_id
    hf._tokenizer.post_processor = processors.TemplateProcessing(single="$A <eos>", special_tokens=[("<eos>", eos)])
    folder = tmp_path / "gpt2-eos"
    transformers.AutoModelForCausalLM.from_pretrained(gpt2_folder).save_pretrained(folder)
    hf.save_pretrained(folder)
    bb = load_backbone(f"hf:{folder}")
    assert bb.tokenizer.tokenizer(PAIRS[0][0])["input_ids"][-1] == eos  # the tokenizer appends <eos>
    example = bind_task(load_task(f"lm:{pairs}?prompt=q&response=a&split=6/1/1&block=64"), bb).examples("train")[0][0]
    plain = [bb.tokenizer.tokenizer(t, add_special_tokens=False)["input_ids"] for t in PAIRS[0]]
    assert example.ids.tolist() == plain[0] + plain[1] + [eos]  # prompt, response, one <eos>: none in between
    assert example.scored.tolist() == [False] * len(plain[0]) + [True] * (len(plain[1]) + 1)
