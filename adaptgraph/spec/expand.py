"""Loop expansion: ``for`` statements unrolled, ``{EXPR}`` holes replaced by integers.

Expressions are integers, loop variables, ``+ - * // %`` and parentheses. They are
evaluated by a small walker over Python's ``ast`` restricted to those nodes, with
bounds so that hostile input cannot make it slow. Each expression text is parsed
once (cached): a loop body is expanded thousands of times.
"""
from __future__ import annotations

import ast
import keyword
import re
from functools import lru_cache
from typing import Iterator, Mapping

from ..errors import Problem, did_you_mean

_HOLE = re.compile(r"\{([^{}]*)\}")
_MAX_EXPR = 200
_MAX_VALUE = 10**9
MAX_EDGES = 10_000
# Loop iterations plus edges made: what expanding costs. Bounded apart from the edges, since loops that
# make no edge (an empty body, a body of rejected statements) would otherwise run 10^8 times unnoticed.
MAX_STEPS = 100_000
# Expanding stops once this many problems are found: a loop can repeat one mistake for every value.
MAX_PROBLEMS = 1000
_NOT_AN_EXPR_HINT = "use integers, loop variables, + - * // % and parentheses (no '/', '**' or calls)"


class ExprError(ValueError):
    """An ``{EXPR}`` that cannot be evaluated; the message is user-facing."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def eval_expr(text: str, env: Mapping[str, int]) -> int:
    """Evaluate one integer expression with the loop variables in ``env``."""
    tree = _parse_expr(text)
    if isinstance(tree, ExprError):
        raise tree
    return _eval(tree, env, text)


@lru_cache(maxsize=4096)
def _parse_expr(text: str) -> ast.AST | ExprError:
    """The expression's syntax tree, or the error to raise (cached, so returned, not raised)."""
    if len(text) > _MAX_EXPR:
        return ExprError(f"expression longer than {_MAX_EXPR} characters", "split the expression or simplify it")
    try:  # loop variables may be Python keywords (`for in in 0..3`): rename them for Python's parser
        return ast.parse(_WORD.sub(_mangle, text.strip()), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return ExprError(f"{{{text}}} is not an integer expression", _NOT_AN_EXPR_HINT)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MANGLED = "_adapt_kw_"


def _mangle(m: re.Match) -> str:
    word = m.group(0)
    return _MANGLED + word if keyword.iskeyword(word) or word.startswith(_MANGLED) else word


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def _eval(node: ast.AST, env: Mapping[str, int], text: str) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _bounded(node.value, text)
    if isinstance(node, ast.Name):
        name = node.id.removeprefix(_MANGLED)
        if name not in env:
            raise ExprError(f"unknown loop variable {name!r} in {{{text}}}", did_you_mean(name, env) or _vars_hint(env))
        return env[name]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env, text)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _eval(node.left, env, text), _eval(node.right, env, text)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
            raise ExprError(f"division by zero in {{{text}}}", "check the divisor for every value of the loop")
        return _bounded(_BINOPS[type(node.op)](a, b), text)
    raise ExprError(f"{{{text}}} is not an integer expression", _NOT_AN_EXPR_HINT)


def _bounded(v: int, text: str) -> int:
    if abs(v) > _MAX_VALUE:
        raise ExprError(f"{{{text}}} is out of range (|value| > {_MAX_VALUE})")
    return v


def _vars_hint(env: Mapping[str, int]) -> str:
    if not env:
        return "expressions can only use variables of an enclosing for loop"
    return "loop variables here: " + ", ".join(sorted(env))


def interpolate(text: str, env: Mapping[str, int]) -> str:
    """Replace every ``{EXPR}`` in ``text``."""
    if "{" not in text:
        return text
    return _HOLE.sub(lambda m: str(eval_expr(m.group(1), env)), text)


_EXPANDED_FIELDS = ("src", "dst", "name")


def walk(statements, env: Mapping[str, int] | None = None, path: str = "edges",
         problems: list[Problem] | None = None) -> Iterator[tuple[str, object]]:
    """Yield ``(source_path, Edge)`` for every expanded edge; record problems instead of raising.

    A problem in an expression is recorded with the path of the field that holds it
    (``edges[0].body[1].dst``), once per field even when the loop repeats it.
    """
    env = dict(env or {})
    problems = problems if problems is not None else []
    for i, st in enumerate(statements):
        if len(problems) >= MAX_PROBLEMS:
            return
        here = f"{path}[{i}]"
        if hasattr(st, "var"):  # a Loop
            if st.var in env:
                problems.append(Problem(f"loop variable {st.var!r} shadows the enclosing loop's variable",
                                        path=f"{here}.var", hint="give the inner loop another variable name"))
                continue
            for v in st.iter_values():
                if len(problems) >= MAX_PROBLEMS:
                    return
                yield from walk(st.body, {**env, st.var: v}, f"{here}.body", problems)
            continue
        edge = _expand_edge(st, env, here, problems)
        if edge is not None:
            yield here, edge


def _expand_edge(edge, env: Mapping[str, int], here: str, problems: list[Problem]):
    update, ok = {}, True
    for f in _EXPANDED_FIELDS:
        value = getattr(edge, f)
        if value is None or "{" not in value:
            continue
        try:
            update[f] = _checked(f, value, interpolate(value, env), env)
        except ExprError as e:
            ok = False
            problem = Problem(str(e), path=f"{here}.{f}", hint=e.hint)
            if problem not in problems[-3:]:  # a loop repeats the same problem once per value
                problems.append(problem)
    if not ok:
        return None
    return edge.model_copy(update=update) if update else edge


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked(field: str, written: str, value: str, env: Mapping[str, int]) -> str:
    """The expanded text must still be a point (or a name): a negative value can make `blocks.-1.in`."""
    valid = _NAME.match(value) if field == "name" else _is_point(value)
    if valid:
        return value
    values = ", ".join(f"{k} = {v}" for k, v in env.items())
    what = "name" if field == "name" else "point"
    raise ExprError(f"{written!r} becomes {value!r} for {values}, which is not a valid {what}",
                    "keep the values in module paths and names non-negative (negative values are fine after @)")


def _is_point(text: str) -> bool:
    from .points import check_point_text

    try:
        check_point_text(text)
    except ValueError:
        return False
    return True


def statement_sizes(statements) -> list[int]:
    """How many edges each statement expands to, computed without expanding (capped just above MAX_EDGES)."""
    return [_size(st) for st in statements]


def _size(st) -> int:
    if not hasattr(st, "var"):
        return 1
    inner = min(sum(_size(s) for s in st.body), MAX_EDGES + 1)
    return min(_count(st) * inner, MAX_EDGES + 1)


def _count(loop) -> int:
    return len(loop.values) if loop.values is not None else max(0, loop.stop - loop.start + 1)


def statement_steps(statements) -> list[int]:
    """How many loop iterations and edges each statement costs to expand (capped just above MAX_STEPS)."""
    return [_steps(st) for st in statements]


def _steps(st) -> int:
    if not hasattr(st, "var"):
        return 1
    inner = min(1 + sum(_steps(s) for s in st.body), MAX_STEPS + 1)  # each iteration costs one step
    return min(_count(st) * inner, MAX_STEPS + 1)


def expanded_size(statements) -> int:
    """How many edges the statements expand to (capped just above MAX_EDGES)."""
    return min(sum(statement_sizes(statements)), MAX_EDGES + 1)


def expand_edges(statements) -> tuple:
    """All edges with loops unrolled; raises ``ValueError`` on the first bad expression."""
    if expanded_size(statements) > MAX_EDGES:
        raise ValueError(f"loops expand to more than {MAX_EDGES} edges")
    if sum(statement_steps(statements)) > MAX_STEPS:
        raise ValueError(f"loops run more than {MAX_STEPS} iterations")
    problems: list[Problem] = []
    out = [edge for _, edge in walk(statements, problems=problems)]
    if problems:
        raise ValueError(problems[0].message)
    return tuple(out)
