"""A Spec built from Python fails as one read from a file does: SpecError with field paths."""
import pytest

import adaptgraph
from adaptgraph.errors import SpecError
from adaptgraph.spec import Edge, Spec


def _error(**fields) -> str:
    with pytest.raises(SpecError) as info:
        Spec(**fields)
    assert isinstance(info.value, ValueError)  # what a caller catching pydantic's error caught before
    return str(info.value)


def test_bad_field_names_its_path():
    assert _error(edges=[{"src": "@1", "dst": "@2", "options": {"rank": 0}}]) == (
        "error: rank = 0 is not allowed; rank is an integer from 1 to 1000000 (edges[0].options.rank)")


def test_every_problem_at_once_fields_and_whole_spec_checks():
    message = _error(passes=1, edges=(Edge(kind="parallel", src="@1", dst="@5"),))
    assert "passes = 1 is not allowed" in message and "(passes)" in message
    assert "`parallel @1 -> @5` does not fit: these points make a longrange edge (edges[0].kind)" in message


def test_the_public_name_is_the_same_class():
    with pytest.raises(SpecError, match=r"unknown template 't' \(edges\[0\]\.template\)"):
        adaptgraph.Spec(edges=(Edge(src="@1", dst="@2", template="t"),))


def test_a_valid_spec_from_python_equals_the_parsed_one():
    spec = Spec(backbone="zoo:vit-tiny", edges=(Edge(src="@1", dst="@3"),))
    assert spec == adaptgraph.loads('backbone "zoo:vit-tiny"\nedge @1 -> @3')


def test_the_spec_checks_the_form_of_a_backbone_reference_not_its_scheme():
    # Schemes are the backbone registry's: one added with register_scheme must work in a spec.
    assert adaptgraph.loads('backbone "mine:x"').backbone == "mine:x"
    assert "has no scheme (backbone)" in _error(backbone="vit-tiny")
