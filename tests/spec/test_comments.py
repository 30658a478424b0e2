"""Comments survive `fmt` and `convert`: each stays with the statement or option it annotates.

The property test over generated specs is in test_roundtrip.py; these are the cases a reader checks by eye.
"""
from __future__ import annotations

import pytest

import adaptgraph.spec as S
from adaptgraph.spec.formats import from_data_text

COMMENTED = """\
# MiniLM with four adapters
# (the paper's placement)

spec gga   # its name
backbone "hf:minilm"
train encoder.layer.5.output.LayerNorm  # the last norm

# every edge's options
defaults {
  rank = 8  # the paper's rank
  # a gelu between the projections
  act = gelu
  # nothing else
}
recurrent @12 -> @1 { rank = 4 }  # back to the start
# long range
edge @3 -> @9
for i in 0..1 {  # two layers
  # beside the expansion
  parallel encoder.layer.{i}.intermediate { rank = 2 }  # small
  # end of the body
}  # the loop

# the end
"""

CANONICAL = """\
# MiniLM with four adapters
# (the paper's placement)

spec gga  # its name
backbone "hf:minilm"

# every edge's options
defaults {
  rank = 8  # the paper's rank
  # a gelu between the projections
  act = gelu
  # nothing else
}

recurrent @12 -> @1 { rank = 4 }  # back to the start
# long range
edge @3 -> @9
for i in 0..1 {  # two layers
  # beside the expansion
  parallel encoder.layer.{i}.intermediate { rank = 2 }  # small
  # end of the body
}  # the loop

train encoder.layer.5.output.LayerNorm  # the last norm

# the end
"""


def _comments(text: str) -> list[str]:
    return sorted(line[line.index("#"):] for line in text.splitlines() if "#" in line)


def test_fmt_keeps_every_comment_with_its_statement():
    spec, comments = S.loads_with_comments(COMMENTED)
    assert S.dumps(spec, comments=comments) == CANONICAL
    assert _comments(CANONICAL) == _comments(COMMENTED)


def test_comments_change_neither_the_spec_nor_its_hash():
    plain = S.loads(S.dumps(S.loads(COMMENTED)))
    spec, _ = S.loads_with_comments(COMMENTED)
    assert spec == plain and spec.content_hash() == plain.content_hash()
    assert S.dumps(spec) == S.dumps(plain) and "#" not in S.dumps(spec)  # without comments=, none printed


def test_the_canonical_text_is_a_fixed_point():
    spec, comments = S.loads_with_comments(CANONICAL)
    assert S.dumps(spec, comments=comments) == CANONICAL


def test_an_option_block_opens_up_to_hold_a_comment_and_closes_again_without():
    spec, comments = S.loads_with_comments("parallel m { rank = 2,  # narrow\n act = gelu }\n")
    assert S.dumps(spec, comments=comments) == ("parallel m {\n  rank = 2  # narrow\n  act = gelu\n}\n")
    assert S.dumps(spec) == "parallel m { rank = 2, act = gelu }\n"


@pytest.mark.parametrize("text, expected", [
    ("parallel m {  # why\n}\n", "parallel m {  # why\n}\n"),  # an empty block holding a comment stays
    ("for i in 0..1 {\n  # later\n}\n", "for i in 0..1 {\n  # later\n}\n"),
    ("defaults {\n  # none yet\n}\n", "defaults {\n  # none yet\n}\n"),
    ("edge @1 -> @2 ; edge @2 -> @3  # the second\n", "edge @1 -> @2\nedge @2 -> @3  # the second\n"),
    ("# only a comment\n", "# only a comment\n"),
    ('backbone "x:a#b"  # a \'#\' in a string is not a comment\n', 'backbone "x:a#b"  # a \'#\' in a string is not a comment\n'),
])
def test_edge_cases(text, expected):
    spec, comments = S.loads_with_comments(text)
    assert S.dumps(spec, comments=comments) == expected
    assert S.loads(expected) == spec


def test_merged_train_statements_keep_each_comment_once():
    text = "train a  # first\nfor i in 0..1 {\n  train b.{i}  # in the loop\n}\ntrain c  # last\n"
    spec, comments = S.loads_with_comments(text)
    out = S.dumps(spec, comments=comments)
    assert out == "for i in 0..1 {}\n\n# first\n# in the loop\ntrain a, b.0, b.1, c  # last\n"


def test_expand_moves_a_loops_comments_above_its_first_edge():
    spec, comments = S.loads_with_comments(COMMENTED)
    out = S.dumps(spec, expand=True, comments=comments)
    assert _comments(out) == _comments(COMMENTED)
    assert ("# two layers\n# beside the expansion\n# small\n# end of the body\n# the loop\n"
            "parallel encoder.layer.0.intermediate { rank = 2 }\n") in out
    assert S.loads(out).content_hash() == spec.content_hash()


def test_yaml_keeps_the_comments_on_their_own_lines():
    spec, comments = S.loads_with_comments(COMMENTED)
    text = S.dumps(spec, format="yaml", comments=comments)
    assert _comments(text) == _comments(COMMENTED)
    assert "# every edge's options\ndefaults:\n  # the paper's rank\n  rank: 8\n" in text
    assert from_data_text(text, "x.adapt.yaml", "yaml") == spec
    again, kept = S.loads_with_comments(S.dumps(spec, comments=comments))
    from adaptgraph.spec.yaml_comments import from_data_text_with_comments
    back, back_comments = from_data_text_with_comments(text, "x.adapt.yaml")
    assert back == spec and sorted(back_comments.texts()) == _comments(COMMENTED)
    assert S.dumps(back, format="yaml", comments=back_comments) == text  # fmt on the YAML file: a fixed point


def test_yaml_comments_inside_scalars_are_text():
    text = "name: x  # its name\nbackbone: 'x:a #b'\nedges:\n  # one edge\n  - {src: '@1', dst: '@2'}\n"
    from adaptgraph.spec.yaml_comments import from_data_text_with_comments
    spec, comments = from_data_text_with_comments(text, "x.adapt.yaml")
    assert spec.backbone == "x:a #b"
    assert S.dumps(spec, comments=comments) == 'spec x  # its name\nbackbone "x:a #b"\n\n# one edge\nedge @1 -> @2\n'
    assert S.dumps(spec, format="json", comments=comments) == S.dumps(spec, format="json")  # JSON has none


def test_comments_of_elements_a_changed_spec_no_longer_has_go_to_the_end():
    spec, comments = S.loads_with_comments("edge @1 -> @2  # first\nedge @2 -> @3  # second\n")
    shorter = spec.model_copy(update={"edges": spec.edges[:1]})
    assert S.dumps(shorter, comments=comments) == "edge @1 -> @2  # first\n\n# second\n"
