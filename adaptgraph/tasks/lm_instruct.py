"""``lm:FILE.jsonl?prompt=KEY&response=KEY`` or ``?messages=KEY``: instruction data, the loss on the responses.

Each JSON line is one example, tokenized by the backbone's tokenizer into one sequence:

- ``prompt=KEY&response=KEY``: the prompt's tokens (with the tokenizer's own leading
  special tokens: Llama's BOS), then the response's (without them) and the tokenizer's
  end-of-sequence token when it has one. The two texts are tokenized apart and joined,
  so write any separator (a space, a newline) into the texts themselves;
- ``messages=KEY``: a conversation, a list of ``{"role": ..., "content": ...}``, rendered
  by the tokenizer's chat template; every assistant turn (its content and the template's
  end-of-turn tokens) is scored. A tokenizer without a chat template is refused.

Only response (assistant) tokens are scored: the loss, the perplexity and the next-token
accuracy count them alone; prompt tokens and padding are targets no loss counts. A
sequence longer than ``block`` (default 128) tokens is cut to its first ``block``; one left
with no response token is refused. Batches are right-padded to their longest sequence.
The examples are split in file order by count (``split``, default 90/5/5); ``max_blocks=N``
keeps the first N examples of each split.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import TaskError
from .base import SPLITS, split_index, split_sizes
from .data import Scored
from .data_files import read_jsonl_values, text_value
from .lm_head import BoundLMTask
from .refs import TaskRef, int_option, split_fractions

INSTRUCT_OPTIONS = ("prompt", "response", "messages")
_NO_LIMIT = 1 << 20  # a tokenizer-call limit, not a cut: ``block`` cuts

Record = tuple[str, tuple]  # ("FILE:LINE", the prompt and response texts, or the conversation)


@dataclass(frozen=True, eq=False)
class InstructTask:
    """Instruction examples in three splits; ``for_backbone`` tokenizes them for one backbone."""

    name: str
    form: str  # "prompt" (prompt and response) or "messages"
    splits: tuple[tuple[Record, ...], tuple[Record, ...], tuple[Record, ...]]
    block: int
    max_blocks: int | None = None
    modality: str = "text"
    class_names: tuple[str, ...] = ()
    num_classes: int = 0  # the vocabulary, known once bound
    _bound: dict = field(default_factory=dict, repr=False)

    def examples(self, split: str) -> list:
        raise TaskError(f"task '{self.name}' is a language-model task: its examples are token sequences of one "
                        f"backbone's tokenizer", hint="call task.for_backbone(backbone).examples(split)")

    def fingerprint(self) -> str:
        """``NAME|HASH`` over every example of every split, the form and the options."""
        digest = hashlib.sha256(f"{self.form}|block={self.block}|max_blocks={self.max_blocks}".encode())
        for name, records in zip(SPLITS, self.splits):
            digest.update(f"|{name}|".encode() + json.dumps([values for _, values in records]).encode())
        return f"{self.name}|{digest.hexdigest()[:16]}"

    def for_backbone(self, backbone) -> "InstructExamples":
        """The token sequences of every split under ``backbone``'s tokenizer (cached per backbone)."""
        key = (getattr(backbone, "ref", None), id(getattr(backbone, "tokenizer", None)))
        if key not in self._bound:
            from .lm import check_positions
            from .lm_head import lm_head

            head = lm_head(backbone)
            check_positions(backbone, self.block, self.name)
            encode = _encoder(backbone, self.form, self.name)
            splits = tuple(tuple(self._example(encode, record) for record in records) for records in self.splits)
            self._bound[key] = InstructExamples(self, splits, head.num_classes, backbone)
        return self._bound[key]

    def _example(self, encode, record: Record) -> Scored:
        where, values = record
        ids, scored = encode(where, values)
        scored[0] = False  # the first token has nothing before it to be predicted from
        if not any(scored[: self.block]):
            before = scored.index(True) if any(scored) else len(ids)
            raise TaskError(f"{where}: the example's first response token is token {before + 1}, so none of the "
                            f"response fits in block={self.block}",
                            hint="use a larger block=N (up to the backbone's positions) or a shorter prompt")
        ids, scored = ids[: self.block], scored[: self.block]
        return Scored(torch.tensor(ids, dtype=torch.long), torch.tensor(scored, dtype=torch.bool))


@dataclass(frozen=True, eq=False)
class InstructExamples(BoundLMTask):
    """An :class:`InstructTask` bound to one backbone: examples are ``(Scored, 0)`` pairs."""

    task: InstructTask
    splits: tuple[tuple[Scored, ...], ...]
    num_classes: int  # the vocabulary
    backbone: object
    modality: str = "text"
    class_names: tuple[str, ...] = ()

    def examples(self, split: str) -> list[tuple[Scored, int]]:
        return [(example, 0) for example in self.splits[split_index(split)]]

    def scored_tokens(self, split: str) -> int:
        """How many tokens of ``split`` the loss counts (the response tokens)."""
        return sum(int(example.scored.sum()) for example in self.splits[split_index(split)])


def load_instruct(ref: TaskRef, path: Path, block: int) -> InstructTask:
    """The instruction task of ``ref`` (an ``lm:`` reference with prompt/response or messages options)."""
    form = _form(ref)
    if path.suffix != ".jsonl":
        raise TaskError(f"task '{ref.text}' reads instruction data from {path}, which is not a .jsonl file",
                        hint="write one JSON object per line to a .jsonl file")
    records = _prompt_records(path, ref) if form == "prompt" else _message_records(path, ref.get("messages"))
    fractions = split_fractions(ref) if ref.get("split") is not None else (0.9, 0.05, 0.05)
    return InstructTask(name=ref.canonical(), form=form, splits=_file_order_split(records, fractions, ref.text),
                        block=block, max_blocks=int_option(ref, "max_blocks", None))


def _form(ref: TaskRef) -> str:
    given = {key for key in INSTRUCT_OPTIONS + ("field",) if ref.get(key) is not None}
    if given == {"prompt", "response"}:
        return "prompt"
    if given == {"messages"}:
        return "messages"
    raise TaskError(f"task '{ref.text}' gives {', '.join(sorted(given))}: instruction data takes prompt=KEY and "
                    f"response=KEY together, or messages=KEY alone (and field= is for plain text)",
                    hint="e.g. lm:chat.jsonl?prompt=question&response=answer or lm:chat.jsonl?messages=messages")


def _prompt_records(path: Path, ref: TaskRef) -> list[Record]:
    keys = (("prompt", ref.get("prompt")), ("response", ref.get("response")))
    records = []
    for line, values in read_jsonl_values(path, keys):
        where = f"{path}:{line}"
        prompt, response = (text_value(where, role, key, value) for (role, key), value in zip(keys, values))
        if not response.strip():
            raise TaskError(f"{where}: the response '{keys[1][1]}' is empty",
                            hint="every example needs a response to learn; remove the line or give it one")
        records.append((where, (prompt, response)))
    return records


def _message_records(path: Path, key: str) -> list[Record]:
    records = []
    for line, (messages,) in read_jsonl_values(path, (("messages", key),)):
        where = f"{path}:{line}"
        records.append((where, tuple(_checked_messages(where, key, messages))))
    return records


def _checked_messages(where: str, key: str, messages) -> list[tuple[str, str]]:
    example = 'e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]'
    if not isinstance(messages, list) or not messages:
        raise TaskError(f"{where}: the messages '{key}' must be a non-empty list of {{\"role\", \"content\"}} "
                        f"objects", hint=example)
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) < {"role", "content"}:
            raise TaskError(f"{where}: {key}[{i}] must be an object with \"role\" and \"content\"", hint=example)
        role = text_value(where, "role", f"{key}[{i}].role", message["role"])
        content = text_value(where, "content", f"{key}[{i}].content", message["content"])
        if role == "assistant" and not content.strip():
            raise TaskError(f"{where}: {key}[{i}].content is an empty assistant response",
                            hint="remove the turn or give it some text")
        out.append((role, content))
    if not any(role == "assistant" for role, _ in out):
        raise TaskError(f"{where}: the messages '{key}' have no assistant turn, so nothing would be scored",
                        hint='the responses to learn are the messages with "role": "assistant"')
    return out


def _file_order_split(records: list[Record], fractions, ref: str) -> tuple[tuple[Record, ...], ...]:
    n_train, n_val, _ = split_sizes(len(records), fractions)
    splits = (records[:n_train], records[n_train:n_train + n_val], records[n_train + n_val:])
    for name, part, share in zip(SPLITS, splits, fractions):
        if not part and share == 0:  # a run needs validation and test numbers: never save one without
            raise TaskError(f"task '{ref}' gives the {name} split no share; a run needs validation and test "
                            f"numbers", hint="give every split a share, e.g. split=90/5/5")
        if not part:
            raise TaskError(f"task '{ref}' has {len(records)} examples, too few to give the {name} split any",
                            hint="give more examples (3 reach every split) or change split=A/B/C")
    return tuple(tuple(part) for part in splits)


def _encoder(backbone, form: str, name: str):
    """``encode(where, values) -> (ids, scored)`` for ``backbone``'s tokenizer."""
    tokenizer = getattr(backbone, "tokenizer", None)
    if tokenizer is None:
        raise TaskError(f"backbone '{backbone.ref}' has no tokenizer, so task '{name}' cannot be tokenized",
                        hint="use a backbone folder that holds its tokenizer files")
    hf = getattr(tokenizer, "tokenizer", None)
    hf = hf if hasattr(hf, "pad_token") else None  # a transformers tokenizer
    if form == "prompt":
        return lambda where, values: _prompt_response(tokenizer, hf, *values)
    if hf is None or not getattr(hf, "chat_template", None):
        raise TaskError(f"task '{name}' renders conversations with the tokenizer's chat template, but backbone "
                        f"'{backbone.ref}' has a tokenizer without one",
                        hint="use prompt=KEY&response=KEY, or a folder whose tokenizer_config.json (or "
                             "chat_template.jinja) has a chat template")
    return lambda where, values: _conversation(hf, where, [{"role": r, "content": c} for r, c in values])


def _prompt_response(tokenizer, hf, prompt: str, response: str) -> tuple[list[int], list[bool]]:
    if hf is not None:
        head = _with_leading_specials(hf, prompt)
        tail = hf(response, add_special_tokens=False, verbose=False)["input_ids"]
        tail += [hf.eos_token_id] if hf.eos_token_id is not None else []
    else:  # the zoo's tokenizer: [CLS] prompt [SEP] response [SEP]; the response's part follows the prompt's
        head = tokenizer([prompt], _NO_LIMIT)["input_ids"][0].tolist()
        tail = tokenizer([(prompt, response)], _NO_LIMIT)["input_ids"][0].tolist()[len(head):]
    return head + tail, [False] * len(head) + [True] * len(tail)


def _with_leading_specials(hf, text: str) -> list[int]:
    """``text``'s ids with the specials the tokenizer puts before it (Llama's BOS) but none after it:
    a tokenizer that also appends its EOS (``add_eos_token``) would end the prompt with an EOS
    and train the response to follow an end of sequence."""
    full = hf(text, verbose=False)["input_ids"]
    plain = hf(text, add_special_tokens=False, verbose=False)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return full[:start + len(plain)]
    return full  # the specials are not around the plain ids: keep what the tokenizer gives


def _conversation(hf, where: str, messages: list[dict]) -> tuple[list[int], list[bool]]:
    """The template's tokens of the whole conversation; each assistant turn's tokens are those between
    the conversation before it (with the generation prompt) and the conversation up to it."""
    ids = _render(hf, where, messages, False)
    scored = [False] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, upto = _render(hf, where, messages[:i], True), _render(hf, where, messages[:i + 1], False)
        start, end = len(before), len(upto)
        if upto != ids[:end] or before != upto[:start]:
            raise TaskError(f"{where}: the chat template does not render the conversation up to turn {i} as the "
                            f"beginning of the whole, so its assistant tokens cannot be told apart",
                            hint="use prompt=KEY&response=KEY with the texts the template would make")
        scored[start:end] = [True] * (end - start)
    return ids, scored


def _render(hf, where: str, messages: list[dict], generation_prompt: bool) -> list[int]:
    from jinja2 import TemplateError  # transformers renders chat templates with Jinja

    try:
        return list(hf.apply_chat_template(messages, tokenize=True, return_dict=False,
                                           add_generation_prompt=generation_prompt))
    except TemplateError as e:  # the template's own raise_exception (e.g. roles must alternate) or bad Jinja
        raise TaskError(f"{where}: the tokenizer's chat template refused the conversation ({e})",
                        hint="check the roles and their order against what the model's template expects") from None
