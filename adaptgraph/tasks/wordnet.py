"""``wordnet:SELECTION``: classify a WordNet gloss into its supersense.

Reads the WordNet 3.0 database files ``data.noun``, ``data.verb``, ``data.adj``
and ``data.adv`` (Debian package ``wordnet-base``) directly. Each synset's
lexicographer file number is its supersense (45 of them, ``noun.animal``,
``verb.motion``, ...) and its gloss is the text to classify.

SELECTION is a comma-separated list of items, each one of

- ``all``: all 45 supersenses;
- ``noun`` (26), ``verb`` (15), ``adj`` (3) or ``adv`` (1): all of one part of speech;
- a supersense name such as ``noun.food``.

So ``wordnet:noun``, ``wordnet:all`` and ``wordnet:noun.animal,noun.food,verb.motion``
are all valid. Labels follow the lexicographer file order, whatever order the
selection is written in. Options: ``per_class=N`` and ``split=A/B/C`` (see
``refs``). The database folder is ``$ADAPTGRAPH_WORDNET_DIR`` when set, else
``/usr/share/wordnet``.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from ..errors import TaskError, did_you_mean
from ..fileio import read_bytes
from .base import SplitTask, dedupe, stratified_split
from .refs import TaskRef, check_options, int_option, split_fractions

WORDNET_DIR_ENV = "ADAPTGRAPH_WORDNET_DIR"
DEFAULT_WORDNET_DIR = "/usr/share/wordnet"

# The standard WordNet ``lexnames`` list: index = lexicographer file number.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
POS_FILES = ("noun", "verb", "adj", "adv")  # the part of a lexname before the dot names its data file


def wordnet_dir() -> Path:
    """The folder searched for the database files."""
    return Path(os.environ.get(WORDNET_DIR_ENV) or DEFAULT_WORDNET_DIR)


def select_classes(selection: str) -> tuple[str, ...]:
    """The supersense names a selection stands for, in lexicographer file order."""
    if not selection:
        raise TaskError("task 'wordnet:' names no classes",
                        hint="write wordnet:noun, wordnet:all or a list such as wordnet:noun.animal,noun.food")
    chosen: set[str] = set()
    for item in (s.strip() for s in selection.split(",")):
        if item == "all":
            chosen.update(LEXNAMES)
        elif item in POS_FILES:
            chosen.update(n for n in LEXNAMES if n.split(".")[0] == item)
        elif item in LEXNAMES:
            chosen.add(item)
        else:
            hint = did_you_mean(item, LEXNAMES + POS_FILES + ("all",)) or \
                "use all, noun, verb, adj, adv or supersense names such as noun.food"
            raise TaskError(f"unknown WordNet class '{item}' in 'wordnet:{selection}'", hint=hint)
    return tuple(n for n in LEXNAMES if n in chosen)


def clean_gloss(gloss: str) -> str:
    """The definition part of a gloss: everything before the first quoted example.

    Examples follow the definition as ``; "..."``; a few glosses also carry
    attributions or unbalanced quotes after them, so cutting at the first
    ``; "`` is more robust than removing balanced quotes.
    """
    cut = gloss.find('; "')
    text = gloss if cut < 0 else gloss[:cut]
    return text.strip().rstrip(";").strip()


def parse_data_file(path: Path) -> list[tuple[str, int]]:
    """``(gloss, lexicographer file number)`` for every synset line of one ``data.*`` file."""
    out = []
    text = read_bytes(path, "data", error=TaskError, what="the WordNet file").decode("utf-8", errors="replace")
    for number, line in enumerate(io.StringIO(text, newline=None), 1):  # universal newlines, as open()
        if line.startswith("  ") or not line.strip():  # licence header
            continue
        fields, sep, gloss = line.partition(" | ")
        parts = fields.split()
        if not sep or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(LEXNAMES):
            raise TaskError(f"{path}:{number}: not a WordNet synset line",
                            hint="point ADAPTGRAPH_WORDNET_DIR at an unmodified WordNet 3.0 database")
        out.append((clean_gloss(gloss), int(parts[1])))
    return out


@lru_cache(maxsize=8)
def _read_pos(path: str, mtime: float) -> tuple[tuple[str, int], ...]:
    return tuple(parse_data_file(Path(path)))


def read_glosses(pos: str, folder: Path | None = None) -> tuple[tuple[str, int], ...]:
    """All ``(gloss, lexfile number)`` pairs of one part of speech; TaskError if the file is missing."""
    path = (folder or wordnet_dir()) / f"data.{pos}"
    if not path.is_file():
        there = "is not a regular file" if os.path.lexists(path) else "does not exist"  # a FIFO, a folder
        raise TaskError(f"WordNet database not found: {path} {there}",
                        hint=f"install it with `apt-get install wordnet-base`, or set {WORDNET_DIR_ENV} "
                             "to a folder holding data.noun, data.verb, data.adj and data.adv")
    return _read_pos(str(path), path.stat().st_mtime)


def load_wordnet(ref: TaskRef, seed: int) -> SplitTask:
    """Build the gloss -> supersense task a ``wordnet:`` reference describes."""
    check_options(ref, ())
    classes = select_classes(ref.body)
    per_class = int_option(ref, "per_class", None)
    fractions = split_fractions(ref)
    label_of = {LEXNAMES.index(name): label for label, name in enumerate(classes)}
    examples = []
    for pos in sorted({name.split(".")[0] for name in classes}, key=POS_FILES.index):
        examples += [(g, label_of[n]) for g, n in read_glosses(pos) if n in label_of and g]
    examples.sort(key=lambda e: (e[1], e[0]))  # independent of file order before the seeded shuffle
    kept, _ = dedupe(examples, key=lambda g: g)
    present = {y for _, y in kept}
    empty = [name for label, name in enumerate(classes) if label not in present]
    if empty:
        raise TaskError(f"WordNet class {empty[0]} has no glosses in {wordnet_dir()}",
                        hint="choose other classes or check the database files")
    splits = stratified_split(kept, classes, seed, fractions, per_class)
    return SplitTask(ref.canonical(_canonical_selection(ref.body, classes)), classes, "text", splits, seed)


def _canonical_selection(body: str, classes: tuple[str, ...]) -> str:
    """A group name as written (``noun``, ``all``); any other selection as its sorted class list."""
    return body if body in ("all",) + POS_FILES else ",".join(classes)
