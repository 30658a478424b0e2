"""Loop expansion: ``for`` statements unrolled, ``{EXPR}`` holes replaced by integers.

Expressions are integers, loop variables, ``+ - * // %`` and parentheses. They are
evaluated by a small walker over Python's ``ast`` restricted to those nodes, with
bounds so that hostile input cannot make it slow.
"""
from __future__ import annotations

import ast
import re
from typing import Iterator, Mapping

from ..errors import Problem, did_you_mean

_HOLE = re.compile(r"\{([^{}]*)\}")
_MAX_EXPR = 200
_MAX_VALUE = 10**9
MAX_EDGES = 100_000


class ExprError(ValueError):
    """An ``{EXPR}`` that cannot be evaluated; the message is user-facing."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def eval_expr(text: str, env: Mapping[str, int]) -> int:
    """Evaluate one integer expression with the loop variables in ``env``."""
    if len(text) > _MAX_EXPR:
        raise ExprError(f"expression longer than {_MAX_EXPR} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        raise ExprError(f"{{{text}}} is not an integer expression",
                        "use integers, loop variables, + - * // % and parentheses") from None
    return _eval(tree.body, env, text)


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
        if node.id not in env:
            raise ExprError(f"unknown loop variable {node.id!r} in {{{text}}}",
                            did_you_mean(node.id, env) or _vars_hint(env))
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env, text)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _eval(node.left, env, text), _eval(node.right, env, text)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
            raise ExprError(f"division by zero in {{{text}}}")
        return _bounded(_BINOPS[type(node.op)](a, b), text)
    raise ExprError(f"{{{text}}} is not an integer expression",
                    "use integers, loop variables, + - * // % and parentheses (no '/', '**' or calls)")


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
    return _HOLE.sub(lambda m: str(eval_expr(m.group(1), env)), text)


def walk(statements, env: Mapping[str, int] | None = None, path: str = "edges",
         problems: list[Problem] | None = None) -> Iterator[tuple[str, object]]:
    """Yield ``(source_path, Edge)`` for every expanded edge; record problems instead of raising."""
    env = dict(env or {})
    problems = problems if problems is not None else []
    for i, st in enumerate(statements):
        here = f"{path}[{i}]"
        if hasattr(st, "var"):  # a Loop
            if st.var in env:
                problems.append(Problem(f"loop variable {st.var!r} shadows the enclosing loop's variable",
                                        path=f"{here}.var", hint="give the inner loop another variable name"))
                continue
            for v in st.iter_values():
                yield from walk(st.body, {**env, st.var: v}, f"{here}.body", problems)
            continue
        try:
            yield here, st.model_copy(update={
                f: interpolate(getattr(st, f), env)
                for f in ("src", "dst", "name") if getattr(st, f) is not None
            })
        except ExprError as e:
            problems.append(Problem(str(e), path=here, hint=e.hint))


def expanded_size(statements) -> int:
    """How many edges the statements expand to, computed without expanding them."""
    total = 0
    for st in statements:
        if hasattr(st, "var"):
            n = len(st.values) if st.values is not None else st.stop - st.start + 1
            total += n * expanded_size(st.body)
        else:
            total += 1
        if total > MAX_EDGES:
            return total
    return total


def expand_edges(statements) -> tuple:
    """All edges with loops unrolled; raises ``ValueError`` on the first bad expression."""
    if expanded_size(statements) > MAX_EDGES:
        raise ValueError(f"loops expand to more than {MAX_EDGES} edges")
    problems: list[Problem] = []
    out = [edge for _, edge in walk(statements, problems=problems)]
    if problems:
        raise ValueError(problems[0].message)
    return tuple(out)
