"""Grammar loading and parsing, with Lark's errors turned into user-grade ones.

The grammar is a data file (``grammar/adapt.lark``), loaded once into a cached
LALR parser. Syntax errors name ``file:line:col``, show the line with a caret,
say in words what was expected, and add a hint for the common slips.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources

from lark import Lark, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import Problem, Span, did_you_mean
from .edge_facts import SPEC_KINDS
from .limits import text_problem
from .models import OPTION_NAMES

KEYWORDS = ("spec", "backbone", "defaults", "adapter", *SPEC_KINDS, "for", "train", "stream", "passes")

_WORDS = {
    "NAME": "a name", "PATH": "a module path", "STREAM_POINT": "a stream point such as @3", "NODE": "a %node",
    "INT": "an integer", "NUMBER": "a number", "STRING": 'a "string"', "_SEP": "a new line or ';'",
    "_OPTSEP": "',' or a new line", "LBRACE": "'{'", "RBRACE": "'}'", "ARROW": "'->'", "EQUAL": "'='",
    "COLON": "':'", "AS": "'as'", "IN": "'in'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "EDGE_KW": "an edge kind", "SUGAR": "an edge kind", "$END": "the end of the file", "DOTDOT": "'..'",
}
_STATEMENT_TERMINALS = {"SPEC", "BACKBONE", "DEFAULTS", "ADAPTER", "EDGE_KW", "SUGAR", "FOR", "TRAIN",
                        "STREAM", "PASSES"}
_POINT_TERMINALS = {"PATH", "STREAM_POINT", "NODE"}


@lru_cache(maxsize=1)
def grammar_text() -> str:
    """The grammar, read from the package (installed wheel or editable checkout)."""
    return resources.files("adaptgraph").joinpath("grammar/adapt.lark").read_text(encoding="utf-8")


# Comments are ignored by the grammar; while a caller collects them (the formatter), the lexer
# hands each one to this list. Per context, since the parser is shared.
_COMMENT_SINK: ContextVar[list | None] = ContextVar("adapt_comment_sink", default=None)


def _on_comment(token) -> None:
    sink = _COMMENT_SINK.get()
    if sink is not None:
        sink.append(token)


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False, lexer_callbacks={"COMMENT": _on_comment})


def parse_tree_with_comments(text: str, file: str, collect: bool = True) -> tuple[Tree | None, list[Problem], list]:
    """``parse_tree``, plus the COMMENT tokens of the text (with their lines and columns) if ``collect``."""
    if not collect:
        return (*parse_tree(text, file), [])
    sink: list = []
    reset = _COMMENT_SINK.set(sink)
    try:
        tree, problems = parse_tree(text, file)
    finally:
        _COMMENT_SINK.reset(reset)
    return tree, problems, sink


MAX_SYNTAX_ERRORS = 20


def parse_tree(text: str, file: str) -> tuple[Tree | None, list[Problem]]:
    """Parse ``text`` (decoded, BOM stripped) into a Lark tree, recovering from syntax errors.

    After an error, the offending line is blanked and parsing starts again, so that every
    broken statement of a file is reported in one run. Returns the tree of what remains
    (None if nothing parses) and the syntax problems found. Recovery stops once it has
    re-parsed about 20 KB, so that no input is slow to reject.
    """
    too_big = text_problem(text, file)
    if too_big is not None:
        return None, [too_big]
    problems: list[Problem] = []
    lines = text.split("\n")
    budget = 20_000  # characters re-parsed before recovery gives up: no input is slow to reject
    while True:
        current = "\n".join(lines)  # blanked lines keep every line number, so spans stay right
        sink = _COMMENT_SINK.get()
        if sink is not None:
            sink.clear()  # only the last attempt's comments are the text's
        try:
            return parser().parse(current), problems
        except UnexpectedInput as e:
            problems.append(_problem(e, current, file))
            line = problems[-1].span.line if problems[-1].span else 0
            budget -= sum(len(x) + 1 for x in lines[:line])
            if _stop_recovering(e, problems, budget) or not 0 < line <= len(lines) or not lines[line - 1]:
                return None, problems
            _blank_statement(lines, line - 1)
        except (LarkError, RecursionError) as e:  # defensive: never let a Lark internal escape
            problems.append(Problem(f"cannot parse this file ({type(e).__name__})", Span(file, 1, 1)))
            return None, problems


def _blank_statement(lines: list[str], i: int) -> None:
    """Blank line ``i`` and, if it opens a block it does not close (a broken `for` header), the
    block's body too: its lines would otherwise be reported again as errors out of context."""
    depth = _brace_balance(lines[i])
    lines[i] = ""
    j = i + 1
    while depth > 0 and j < len(lines):
        depth += _brace_balance(lines[j])
        lines[j] = ""
        j += 1


def _brace_balance(line: str) -> int:
    clean = re.sub(r'"(?:[^"\\]|\\.)*"', "", line).split("#", 1)[0]
    clean = re.sub(r"\{[^{}\n]*\}", "", clean)  # `{EXPR}` holes and one-line blocks are balanced
    return clean.count("{") - clean.count("}")


def _stop_recovering(e: UnexpectedInput, problems: list[Problem], budget: int) -> bool:
    at_end = isinstance(e, UnexpectedEOF) or getattr(getattr(e, "token", None), "type", "") == "$END"
    # An unclosed `{` makes every later line look wrong: one report of it is enough.
    unclosed = "never closed" in problems[-1].hint
    return at_end or unclosed or budget < 0 or len(problems) >= MAX_SYNTAX_ERRORS


def span_at(text: str, file: str, line: int, col: int, width: int = 1) -> Span:
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    return Span(file, line, col, src, width)


def _problem(e: UnexpectedInput, text: str, file: str) -> Problem:
    line, col = max(getattr(e, "line", 1) or 1, 1), max(getattr(e, "column", 1) or 1, 1)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        line, col = _end_position(text)
        expected = getattr(e, "expected", None) or e.accepts or set()
        found, got_type = "end of file", "$END"
    elif isinstance(e, UnexpectedToken):
        expected = e.accepts or e.expected
        found, got_type = _describe_token(e.token), e.token.type
    else:  # UnexpectedCharacters
        expected = e.allowed or set()
        found, got_type = _describe_chars(text, e.pos_in_stream), "CHARS"
    word = _word_at(text, e) if got_type != "$END" else ""
    span = span_at(text, file, line, col, max(1, len(word)))
    message = f"unexpected {found}; expected {_expected_words(expected)}"
    hint = _open_block_hint(text, line, got_type == "$END") or _hint(expected, got_type, found, word, text)
    return Problem(message, span, hint=hint)


def _open_block_hint(text: str, line: int, at_eof: bool) -> str:
    """A `{` left open is the likeliest cause of an error at the end of the file, or of one further
    down while an option block is still open (a `for` body legitimately spans lines)."""
    lines = text.split("\n")
    opened = _unclosed_brace("\n".join(lines if at_eof else lines[: line - 1]))
    if opened is None:
        return ""
    brace_line, brace_col = opened
    loop_body = re.search(r"(\.\.\s*-?[0-9]+|\])\s*$", lines[brace_line - 1][: brace_col - 1])
    if loop_body and not at_eof:
        return ""
    return f"the '{{' opened at line {brace_line}, column {brace_col} is never closed"


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _describe_token(tok) -> str:
    if tok.type in ("_SEP", "_OPTSEP") and tok.value != ";" and tok.value != ",":
        return "end of line"
    value = str(tok.value)
    if value.startswith("{"):  # the catch-all lexer read a block as a `{EXPR}` path segment
        return "'{'"
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _describe_chars(text: str, pos: int) -> str:
    ch = text[pos] if pos < len(text) else ""
    if ch == "\n":
        return "end of line"
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*|\S", text[pos:pos + 80])
    return repr(word.group(0)) if word else repr(ch)


def _word_at(text: str, e: UnexpectedInput) -> str:
    pos = getattr(e, "pos_in_stream", None)
    if pos is None and isinstance(e, UnexpectedToken):
        pos = e.token.start_pos
    if pos is None or pos >= len(text):
        return ""
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[pos:pos + 80])
    return m.group(0) if m else ""


def _expected_words(expected) -> str:
    names = set(expected)
    if names & _STATEMENT_TERMINALS and len(names & _STATEMENT_TERMINALS) >= 5:
        rest = sorted({_WORDS.get(n, _literal(n)) for n in names - _STATEMENT_TERMINALS})
        return " or ".join(["a statement (" + ", ".join(KEYWORDS) + ")"] + rest)
    if names & _POINT_TERMINALS and "STREAM_POINT" in names:  # PATH alone is a module path or a name
        names = (names - _POINT_TERMINALS) | {"POINT"}
    words = sorted({"a point (PATH.in, PATH.out, @K or %NODE)" if n == "POINT" else _WORDS.get(n, _literal(n))
                    for n in names})
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else (words[0] if words else "nothing")


def _literal(name: str) -> str:
    return f"'{name.lower()}'" if name.isalpha() else name


def _hint(expected, got: str, found: str, word: str, text: str) -> str:
    expected = set(expected)
    if "STREAM_POINT" in expected and found in ("'@'", "'%'"):
        return ("a stream point is @ and an integer (@3, @-1, or @{EXPR} inside a for loop); "
                "a graph node is % and a name (%add_2)")
    if expected == {"NAME"} and found == "'{'":
        return "a name is missing before '{' (`adapter NAME { OPTIONS }`, or `: TEMPLATE` after an edge)"
    if "STRING" in expected and got != "STRING":
        return 'write it in double quotes, as in backbone "hf:minilm"'
    if "PATH" in expected and found.startswith("'\""):
        return "module paths are written without quotes (only `backbone` and `stream` take a string)"
    if expected == {"LBRACE"}:
        return "a block in braces is expected here, as in `for i in 0..3 { ... }` or `defaults { rank = 8 }`"
    if "_OPTSEP" in expected and got in ("NAME", "PATH"):
        return "separate options with ',' or a new line: `{ rank = 8, act = gelu }`"
    if (got in _STATEMENT_TERMINALS or word in KEYWORDS) and "_SEP" in expected:
        return "put each statement on its own line, or separate them with ';'"
    if found == "'}'" and "RBRACE" not in expected:
        return "this '}' closes no '{'"
    if "ARROW" in expected and got in _POINT_TERMINALS:
        return "missing '->' between the two points: an edge is written SRC -> DST"
    if "ARROW" in expected:
        return "an edge needs two points: SRC -> DST (or use `parallel MODULE` for MODULE.in -> MODULE.out)"
    if "EQUAL" in expected and found == "':'":
        return "options are written NAME = VALUE (with '='), not NAME: VALUE"
    if expected & _STATEMENT_TERMINALS and word:
        return keyword_hint(word)
    if "EQUAL" in expected:
        return "options are written NAME = VALUE"
    if got in ("_SEP", "_OPTSEP") and "RBRACE" in expected:
        return "separate options with ',' or new lines, and close the block with '}'"
    return ""


# Words from other adapter libraries, answered with what adaptgraph writes instead.
_FOREIGN_WORDS = {
    "lora": "a LoRA is `parallel MODULE { act = none, bias = false }` (rank = r, scale = lora_alpha / r); "
            "see docs/peft.md",
    "target_modules": "name the modules in the edge: `parallel **.query` adapts every module ending in .query",
}
KEYWORD_CUTOFF = 0.75  # close typos only: 'paralel' -> 'parallel', while 'rank' is not taken for 'train'


def keyword_hint(word: str) -> str:
    """The hint for a word where a statement should start: a close keyword, or what a foreign term means here."""
    if word.lower() in _FOREIGN_WORDS:
        return _FOREIGN_WORDS[word.lower()]
    if word in OPTION_NAMES:
        return f"options go in braces: `defaults {{ {word} = ... }}` for every edge, or after one edge"
    return (did_you_mean(word, KEYWORDS, cutoff=KEYWORD_CUTOFF)
            or "a statement starts with one of: " + ", ".join(KEYWORDS))


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """Line and column of the last '{' that is never closed (comments and strings skipped)."""
    stack: list[tuple[int, int]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        clean = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " " * len(m.group(0)), line).split("#", 1)[0]
        for m in re.finditer(r"\{[^{}\n]*\}|[{}]", clean):  # `{EXPR}` holes inside paths are balanced
            if m.group(0) == "{":
                stack.append((lineno, m.start() + 1))
            elif m.group(0) == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None
