"""The search command's choices, written out to keep torch out of the parser, match the registries."""
from adaptgraph.commands import search_commands
from adaptgraph.searcher import EXECUTORS, STRATEGIES


def test_choices_match_the_registries():
    assert set(search_commands.STRATEGIES) == set(STRATEGIES)
    assert set(search_commands.EXECUTORS) == set(EXECUTORS)
