from pathlib import Path

import pytest
from train_fixtures import write_wordnet

from adaptgraph.errors import TaskError
from adaptgraph.tasks import load_task
from adaptgraph.tasks.wordnet import LEXNAMES, clean_gloss, select_classes
from adaptgraph.tasks.wordnet import parse_data_file

ANIMAL, FOOD, TOPS, MOTION = 5, 13, 3, 38


@pytest.fixture
def wordnet(tmp_path, monkeypatch):
    noun = [(ANIMAL, f'animal number {i}; "the animal {i} ran"') for i in range(12)]
    noun += [(FOOD, f"food number {i}") for i in range(12)]
    noun += [(TOPS, f"top number {i}") for i in range(4)]
    noun += [(ANIMAL, "animal number 0"), (ANIMAL, "shared gloss"), (FOOD, "shared gloss")]
    verb = [(MOTION, f'move number {i}; "he moved"; "she moves"') for i in range(5)]
    folder = write_wordnet(tmp_path / "wn", noun, verb)
    monkeypatch.setenv("ADAPTGRAPH_WORDNET_DIR", str(folder))
    return folder


def test_clean_gloss_removes_examples_and_attributions():
    assert clean_gloss('cause to be alert; "Coffee stimulates me"; "This does not"  ') == "cause to be alert"
    assert clean_gloss("facing the apex") == "facing the apex"
    assert clean_gloss('a notice of an event; "a notice of sale') == "a notice of an event"
    assert clean_gloss('the trait of being serious; "a sober face"- Robert Rice') == "the trait of being serious"
    assert clean_gloss('as in "carrot and stick";') == 'as in "carrot and stick"'


def test_parse_skips_licence_and_reads_lexfile(wordnet):
    rows = parse_data_file(wordnet / "data.verb")
    assert rows == [(f"move number {i}", MOTION) for i in range(5)]


def test_parse_rejects_a_line_that_is_not_a_synset(tmp_path):
    bad = tmp_path / "data.noun"
    bad.write_text("hello world\n")
    with pytest.raises(TaskError) as e:
        parse_data_file(bad)
    assert str(e.value) == (f"error: {bad}:1: not a WordNet synset line\n"
                            "    hint: point ADAPTGRAPH_WORDNET_DIR at an unmodified WordNet 3.0 database")


def test_selection_forms():
    assert len(select_classes("all")) == 45 and select_classes("all") == LEXNAMES
    assert len(select_classes("noun")) == 26
    assert len(select_classes("verb")) == 15
    assert select_classes("adj") == ("adj.all", "adj.pert", "adj.ppl")
    assert select_classes("verb.motion,noun.food,noun.animal") == ("noun.animal", "noun.food", "verb.motion")
    assert select_classes("noun.food,noun") == select_classes("noun")


def test_unknown_class_suggests_the_closest():
    with pytest.raises(TaskError) as e:
        load_task("wordnet:noun.animals")
    assert str(e.value) == ("error: unknown WordNet class 'noun.animals' in 'wordnet:noun.animals'\n"
                            "    hint: did you mean 'noun.animal' or 'noun.time' or 'noun.quantity'?")


def test_fixture_task(wordnet):
    task = load_task("wordnet:noun.food,noun.animal,verb.motion")
    assert task.name == "wordnet:noun.animal,noun.food,verb.motion"
    assert task.class_names == ("noun.animal", "noun.food", "verb.motion")
    assert task.modality == "text" and task.num_classes == 3
    everything = [ex for s in ("train", "validation", "test") for ex in task.examples(s)]
    texts = [t for t, _ in everything]
    assert len(texts) == len(set(texts)), "splits overlap or repeat a gloss"
    assert "shared gloss" not in texts  # seen with two labels: ambiguous, dropped
    assert not any('"' in t for t in texts)
    counts = {lab: sum(1 for _, y in everything if y == lab) for lab in range(3)}
    assert counts == {0: 12, 1: 12, 2: 5}  # the repeated "animal number 0" is kept once
    for split in ("validation", "test"):  # stratified: every class in every held-out split
        assert {y for _, y in task.examples(split)} == {0, 1, 2}
    assert sorted(len(task.examples(s)) for s in ("train", "validation", "test")) == [3, 3, 23]


def test_a_selected_class_without_glosses_is_an_error(wordnet):
    with pytest.raises(TaskError) as e:  # the fixture has glosses for 3 of the 26 noun classes
        load_task("wordnet:noun")
    assert str(e.value) == (f"error: WordNet class noun.act has no glosses in {wordnet}\n"
                            "    hint: choose other classes or check the database files")


def test_splits_stable_under_seed_and_change_with_it(wordnet):
    ref = "wordnet:noun.animal,noun.food"
    a, b, c = load_task(ref, seed=1), load_task(ref, seed=1), load_task(ref, seed=2)
    assert a.examples("train") == b.examples("train") and a.fingerprint() == b.fingerprint()
    assert a.examples("test") != c.examples("test") and a.fingerprint() != c.fingerprint()
    assert a.fingerprint().startswith("wordnet:noun.animal,noun.food|seed=1|")


def test_per_class_caps_before_the_split(wordnet):
    task = load_task("wordnet:noun.animal,noun.food?per_class=10&split=60/20/20")
    sizes = [len(task.examples(s)) for s in ("train", "validation", "test")]
    assert sizes == [12, 4, 4]


def test_missing_database_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTGRAPH_WORDNET_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(TaskError) as e:
        load_task("wordnet:noun")
    assert str(e.value) == (
        f"error: WordNet database not found: {tmp_path / 'nowhere' / 'data.noun'} does not exist\n"
        "    hint: install it with `apt-get install wordnet-base`, or set ADAPTGRAPH_WORDNET_DIR to a folder "
        "holding data.noun, data.verb, data.adj and data.adv")


def test_only_the_needed_files_are_read(wordnet):
    (Path(wordnet) / "data.noun").unlink()
    assert load_task("wordnet:verb.motion").num_classes == 1


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="wordnet-base not installed")
def test_installed_wordnet(monkeypatch):
    monkeypatch.delenv("ADAPTGRAPH_WORDNET_DIR", raising=False)
    task = load_task("wordnet:noun?per_class=200")
    assert task.num_classes == 26
    assert task.class_names[0] == "noun.Tops" and task.class_names[-1] == "noun.time"
    train, val, test = (task.examples(s) for s in ("train", "validation", "test"))
    assert len(train) > 2000
    assert not {t for t, _ in train} & {t for t, _ in test}
    assert {y for _, y in test} == set(range(26))
    glosses = dict((t, y) for t, y in train + val + test)
    assert all('"' not in t[:1] for t in glosses)
