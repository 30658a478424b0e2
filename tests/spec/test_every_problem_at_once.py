"""Field rules run statement by statement: a bad statement is reported and left out, and the
whole-spec checks still run on the statements that passed, at the paths the user wrote."""
import pytest
from pydantic import ValidationError

import adaptgraph.spec as S
from adaptgraph.errors import SpecError
from adaptgraph.spec.formats import from_data_text

SEVERAL = """\
spec several
edge blocks.0.attn -> @2
edge @1 -> @2 { rank = 0 }
for i in 0..1 {
  edge @{i} -> @{i + 1} { act = gelo }
  edge %x -> blocks.{i}.mlp
  sequential @{i} -> @{i + 3}
}
edge @1 -> @2
parallel @1 -> @5
"""

EXPECTED = [  # (line, path, start of the message)
    (2, "edges[0].src", "'blocks.0.attn' is not a point"),
    (3, "edges[1].options.rank", "rank = 0 is not allowed"),
    (5, "edges[2].body[0]", "duplicate edge @1 -> @2 (first at line 3)"),
    (5, "edges[2].body[0].options.act", "act = 'gelo' is not allowed"),
    (6, "edges[2].body[1].dst", "'blocks.{i}.mlp' is not a point"),
    (7, "edges[2].body[2].kind", "`sequential @0 -> @3` does not fit: these points make a longrange edge"),
    (9, "edges[3]", "duplicate edge @1 -> @2 (first at line 3)"),
    (10, "edges[4].kind", "`parallel @1 -> @5` does not fit"),
]


def _problems(call) -> list:
    with pytest.raises(SpecError) as info:
        call()
    return info.value.problems


def test_a_file_with_several_bad_statements_reports_every_problem_at_the_statement_written():
    problems = _problems(lambda: S.loads(SEVERAL, "several.adapt"))
    got = [(p.span.line, p.path, p.message) for p in problems]
    assert len(got) == len(EXPECTED), "\n".join(map(str, got))
    for (line, path, message), (want_line, want_path, start) in zip(got, EXPECTED):
        # statements after a rejected one keep the paths written (edges[4], not edges[3])
        assert (line, path) == (want_line, want_path) and message.startswith(start), (line, path, message)
    assert not any("invalid" in p.message for p in problems)  # no placeholder value reaches a message


YAML = """\
edges:
  - {src: blocks.0.attn, dst: '@2'}
  - {src: '@1', dst: '@2', options: {rank: 0}}
  - var: i
    start: 0
    stop: 1
    body:
      - {src: '%x', dst: 'blocks.{i}.mlp'}
      - {kind: sequential, src: '@{i}', dst: '@{i + 3}'}
  - {src: '@1', dst: '@2'}
passes: 1
colour: red
"""


def test_the_yaml_form_reports_the_same_problems_with_their_positions():
    problems = _problems(lambda: from_data_text(YAML, "several.adapt.yaml", "yaml"))
    got = [(p.span.line if p.span else None, p.path) for p in problems]
    assert got == [(2, "edges[0].src"), (3, "edges[1].options.rank"), (8, "edges[2].body[0].dst"),
                   (9, "edges[2].body[1].kind"), (10, "edges[3]"), (11, "passes"), (12, "colour")]
    assert problems[-1].message == "unknown field 'colour' in a spec"


def test_a_spec_built_from_python_reports_the_same_problems_as_the_file():
    edges = [{"src": "blocks.0.attn", "dst": "@2"}, {"src": "@1", "dst": "@2", "options": {"rank": 0}},
             {"var": "i", "start": 0, "stop": 1, "body": [
                 {"src": "@{i}", "dst": "@{i + 1}", "options": {"act": "gelo"}},
                 {"src": "%x", "dst": "blocks.{i}.mlp"},
                 {"kind": "sequential", "src": "@{i}", "dst": "@{i + 3}"}]},
             {"src": "@1", "dst": "@2"}, {"kind": "parallel", "src": "@1", "dst": "@5"}]
    with pytest.raises(SpecError) as info:
        S.Spec(name="several", edges=edges)
    assert sorted(p.path for p in info.value.problems) == sorted(path for _, path, _ in EXPECTED)
    with pytest.raises(ValidationError) as raised:  # pydantic's entry point raises pydantic's error ...
        S.Spec.model_validate({"name": "several", "edges": edges})
    assert info.value.format() in str(raised.value)  # ... with the same problems


def test_a_template_with_bad_options_is_still_defined_for_its_uses():
    problems = _problems(lambda: S.loads("adapter t { rank = 0 }\nedge @1 -> @2 : t\nedge @2 -> @3 : u\n"))
    assert [(p.path, p.hint) for p in problems] == [("templates.t.rank", ""),
                                                    ("edges[1].template", "templates defined: t")]


def test_train_paths_are_kept_once_from_python_and_from_text():
    assert S.Spec(train=("a.b", "c", "a.b")).train == ("a.b", "c")
    assert S.loads("train a.b, c, a.b").train == ("a.b", "c")
