"""`check`, `fmt`, `convert`, `schema`: commands on spec files alone (no torch imported)."""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from ...errors import AdaptGraphError, SpecError, UsageError
from ..parser import debug_enabled
from ...fileio import read_bytes, write_text_atomic
from ...spec import dumps, load
from ...spec.api import YAML_SUFFIXES, load_with_comments
from ...spec.edge_facts import has_glob
from ...spec.models import Spec

CHECK_EXAMPLES = """examples:
  adaptgraph check specs/*.adapt
  adaptgraph check --json my.adapt other.adapt.yaml
"""
FMT_EXAMPLES = """examples:
  adaptgraph fmt my.adapt              # print the canonical form
  adaptgraph fmt --write specs/*.adapt # rewrite files in place (atomically)
  adaptgraph fmt --check specs/*.adapt # exit 1 if any file is not canonical
  adaptgraph fmt --expand my.adapt     # unroll for loops
"""


def register(sub) -> None:
    p = sub.add_parser("check", help="validate spec files and report every error",
                       description="Validate .adapt, .adapt.yaml and .json spec files. Prints one line per "
                                   "valid file, or every error of every file; exits 1 if any file is invalid.",
                       epilog=CHECK_EXAMPLES, formatter_class=_raw())
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_check)

    p = sub.add_parser("fmt", help="print specs in canonical form",
                       description="Print each spec in its one canonical form (same format as the input). "
                                   "Comments stay with the statements they annotate: own-line comments above, "
                                   "trailing comments after (docs/language.md, 'Canonical form').",
                       epilog=FMT_EXAMPLES, formatter_class=_raw())
    p.add_argument("files", nargs="+", metavar="FILE")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a file is not in canonical form")
    mode.add_argument("--write", action="store_true",
                      help="rewrite the files in place, atomically (a link stays; the file it names is rewritten)")
    p.add_argument("--expand", action="store_true", help="unroll for loops")
    p.set_defaults(run=run_fmt)

    p = sub.add_parser("convert", help="convert a spec between .adapt, YAML and JSON",
                       description="Write FILE's spec in another of its three forms: the .adapt language, YAML "
                                   "or JSON (the same fields; `adaptgraph schema` prints their JSON Schema). "
                                   "The output is the target form's canonical text. Comments are kept in .adapt "
                                   "and YAML (each on its own line there); JSON has no comments, so they are left "
                                   "out, with a note on stderr.",
                       epilog="example:\n  adaptgraph convert my.adapt --to yaml -o my.adapt.yaml",
                       formatter_class=_raw())
    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", required=True, choices=("adapt", "yaml", "json"))
    p.add_argument("-o", "--output", metavar="OUT", help="write here (atomically) instead of stdout")
    p.add_argument("--expand", action="store_true", help="unroll for loops")
    p.set_defaults(run=run_convert)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec's YAML/JSON form",
                       description="Print the JSON Schema of a spec's YAML and JSON form: every "
                                   "field, its type and default. Editors use it to complete and check .adapt.yaml "
                                   "and .json specs.",
                       epilog="example:\n  adaptgraph schema > adapt.schema.json")
    p.set_defaults(run=run_schema)


def _raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def summary(spec: Spec) -> str:
    try:
        edges = spec.expanded()
    except ValueError:
        edges = []
    n = len(edges)
    # a glob names one edge per matching module, known only once the backbone is traced
    globs = sum(1 for e in edges if any(has_glob(p) for p in (e.src, e.dst) if p))
    count = f"{n} edge{'s' * (n != 1)}"
    if globs:
        count = (f"{n} edge statement{'s' * (n != 1)}, {globs} with globs (one edge per matching module; "
                 "`adaptgraph compile` lists them)")
    parts = [f"spec {spec.name or '(unnamed)'}", count]
    if spec.backbone:
        parts.append(f"backbone {spec.backbone}")
    if spec.train:
        parts.append(f"{len(spec.train)} trained module{'s' * (len(spec.train) != 1)}")
    return ", ".join(parts)


def run_check(args) -> int:
    results, failed = [], 0
    for file in args.files:
        try:
            spec = load(file)
            results.append({"file": file, "ok": True, "summary": summary(spec), "hash": spec.content_hash()})
            if not args.json:
                print(f"ok    {file}: {summary(spec)}")
        except AdaptGraphError as e:
            failed += 1
            results.append({"file": file, "ok": False, "errors": [p.to_dict() for p in e.problems]})
            if debug_enabled():  # check reports errors itself: show where they came from
                traceback.print_exc()
            if not args.json:
                print(e.format(), file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    elif failed:
        print(f"{failed} of {len(args.files)} file{'s' * (len(args.files) != 1)} invalid", file=sys.stderr)
    return 1 if failed else 0


def _format_of(file: str) -> str:
    suffix = Path(file).suffix
    return "json" if suffix == ".json" else "yaml" if suffix in YAML_SUFFIXES else "adapt"


def run_fmt(args) -> int:
    status, errors = 0, []
    for file in args.files:
        try:
            spec, comments = load_with_comments(file)
        except AdaptGraphError as e:
            errors.append(e)
            continue
        text = dumps(spec, expand=args.expand, format=_format_of(file), comments=comments)
        # byte for byte: a BOM or CRLF line ends are not the canonical form either
        canonical = read_bytes(file, "spec", error=SpecError) == text.encode("utf-8")
        if args.check:
            if not canonical:
                print(f"would reformat {file}")
                status = 1
        elif args.write:
            if not canonical:
                write_text_atomic(file, text, follow_link=True, replaces_input=True)  # as editors do: the link stays
                print(f"reformatted {file}")
        else:
            sys.stdout.write(text)
    if errors:
        raise SpecError(problems=[p for e in errors for p in e.problems])
    return status


def run_convert(args) -> int:
    if args.output and Path(args.output).suffix in (".adapt", ".json", *YAML_SUFFIXES):
        implied = _format_of(args.output)
        if implied != args.to:
            raise UsageError(f"--to {args.to} does not match the output file {args.output!r}, which names "
                             f"{implied}", hint=f"use --to {implied}, or an output file ending in the right suffix")
    spec, comments = load_with_comments(args.file)
    if args.to == "json" and comments:
        n = comments.count()
        print(f"note: JSON has no comments: the {n} comment{'s' * (n != 1)} of {args.file} "
              f"{'are' if n != 1 else 'is'} not in the output "
              "(convert to .adapt.yaml to keep them)", file=sys.stderr)
    text = dumps(spec, expand=args.expand, format=args.to, comments=comments)
    if args.output:
        write_text_atomic(args.output, text, follow_link=True, replaces_input=True)  # convert in place is fmt
    else:
        sys.stdout.write(text)
    return 0


def run_schema(args) -> int:
    print(json.dumps(Spec.model_json_schema(), indent=2))
    return 0
