"""The `adaptgraph` command line: a thin skin over the Python API.

Each command lives in ``adaptgraph/cli/commands/`` and registers itself here. Errors
are mapped to messages and exit codes in one place: 1 for problems with the
user's input (and for what the operating system refuses: a full disk, a read-only
folder, one line naming the path), 2 for usage errors, 130 for Ctrl-C (143 and 129 for
SIGTERM and SIGHUP, which unwind alike). ``ADAPTGRAPH_DEBUG=1`` shows tracebacks; without it a
user never sees one.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

from .. import progress
from .number_flags import check_number_flags
from ..fileio.working_folder import check_working_folder
from ..errors import AdaptGraphError
from ..fileio.oserrors import describe_os_error, library_os_error

COMMAND_MODULES = ("spec_commands", "graph_commands", "train_commands", "score_commands", "search_commands",
                   "interop_commands", "plot_commands",
                   "generate_commands")
# Where each command is documented; every `--help` ends by naming its page (README.md lists them all).
DOCS = {"check": "docs/language.md", "fmt": "docs/language.md", "convert": "docs/language.md",
        "schema": "docs/language.md", "points": "docs/backbones.md", "compile": "docs/language.md",
        "train": "docs/training.md", "eval": "docs/training.md", "score": "docs/scoring.md",
        "select": "docs/scoring.md", "search": "docs/search.md", "export": "docs/peft.md", "import": "docs/peft.md",
        "merge": "docs/peft.md", "plot": "docs/language.md",
        "generate": "docs/training.md"}
DOCS_HOME = "README.md"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Prose paragraphs wrapped to the terminal; indented lines (examples) and line-broken ones kept as written."""

    def _fill_text(self, text, width, indent):
        import textwrap

        paragraphs = text.split("\n\n")
        return "\n\n".join(p if "\n" in p.strip("\n") or p.startswith(" ")
                            else textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                                               subsequent_indent=indent)
                            for p in paragraphs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adaptgraph",
        description="Decide where adapters go in a pretrained network, and put them there.",
        epilog="Run `adaptgraph COMMAND --help` for a command's options and examples. "
               "Set ADAPTGRAPH_DEBUG=1 to see tracebacks.\n\n"
               f"documentation: {DOCS_HOME} (its Documentation section lists every page under docs/)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"adaptgraph {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = _command_module(name)
        if module is not None:
            module.register(sub)
    for name, command in sub.choices.items():
        _point_to_docs(command, DOCS.get(name, DOCS_HOME))
    return parser


def _point_to_docs(command: argparse.ArgumentParser, page: str) -> None:
    """End the command's --help with the page that documents it."""
    command.formatter_class = HelpFormatter
    pointer = f"documentation: {page}"
    command.epilog = f"{command.epilog.rstrip()}\n\n{pointer}" if command.epilog else pointer


def _command_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"adaptgraph.cli.commands.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"adaptgraph.cli.commands.{name}":
            return None  # a command group not built yet
        raise


def debug_enabled() -> bool:
    """``ADAPTGRAPH_DEBUG`` asks for tracebacks; 0, false, no, off and empty do not (any value did)."""
    return os.environ.get("ADAPTGRAPH_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def main(argv: list[str] | None = None) -> int:
    with _spec_warnings_shown_plainly(), _termination_unwinds():
        return _main(argv)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the command is, as Ctrl-C is, so that what it was writing is
    cleaned up (a temporary file beside its target, merge's staged folder) and a search says how to
    resume; killed by the default action, the process left them behind."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _termination_unwinds():
    """SIGTERM and SIGHUP raise ``Terminated`` while a command runs (in the main thread; a signal the
    caller ignores, as ``nohup`` does SIGHUP, stays ignored)."""
    import signal
    import threading

    def unwind(signum, frame):
        raise Terminated(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, unwind)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_number_flags(_command_actions(parser, args.command), args)
        check_working_folder()
        with progress.for_command(args.no_progress) if hasattr(args, "no_progress") else contextlib.nullcontext():
            return int(args.run(args) or 0)
    except AdaptGraphError as e:
        if debug_enabled():
            raise
        print(e.format(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Terminated) else 2  # SIGINT
        print("terminated" if isinstance(e, Terminated) else "interrupted", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:
        return 0
    except OSError as e:  # what the OS refused outside adaptgraph's own reads and writes (transformers saving)
        if debug_enabled():
            raise
        from ..fileio import os_failure

        error = os_failure(e, e.filename, "the operating system refused")
        print(error.format(), file=sys.stderr)
        return error.exit_code
    except Exception as e:  # a bug in adaptgraph: say so plainly, keep the traceback for the debug variable
        if debug_enabled():
            raise
        if _output_cannot_encode(e):  # PYTHONIOENCODING=ascii, or a Latin-1 locale, and a name like spéc.adapt
            print(f"error: the output holds text the output's encoding ({e.encoding}) cannot write: "
                  f"{e.object[e.start:e.end]!r}\n    hint: set PYTHONIOENCODING=utf-8 (or a UTF-8 locale, "
                  "LC_ALL=C.UTF-8)", file=sys.stderr)
            return 1
        refused = library_os_error(e)
        if refused is not None:  # not adaptgraph's bug: a library (torch.compile, a C compiler) hit the OS
            reason, hint = describe_os_error(refused)
            print(f"error: the operating system refused ({reason}) inside {_package_of(e)}: {type(e).__name__}: "
                  f"{_first_line(e)}\n    hint: {hint} (libraries write their temporary files to "
                  f"TMPDIR={os.environ.get('TMPDIR', '(unset: /tmp)')})", file=sys.stderr)
            return 1
        library = failed_import(e)
        if library is not None:  # not adaptgraph's bug: a library that cannot start in this environment
            print(f"error: the {library} package does not import: {type(e).__name__}: {_first_line(e)}\n"
                  f"    hint: a variable in the environment that {library} reads may hold a bad value "
                  f"(ADAPTGRAPH_DEBUG=1 shows where)", file=sys.stderr)
            return 1
        print(f"internal error: {type(e).__name__}: {e}\n"
              "This is a bug in adaptgraph; rerun with ADAPTGRAPH_DEBUG=1 for the traceback and report it.",
              file=sys.stderr)
        return 3


def failed_import(e: BaseException) -> str | None:
    """The top-level package (not adaptgraph) whose import raised ``e``, or None.

    Libraries read the environment when they are imported (huggingface_hub ``HF_HUB_ETAG_TIMEOUT``,
    matplotlib ``MPLBACKEND``) and raise ``ValueError`` on a bad value; adaptgraph imports them lazily,
    so that happens deep inside a command. The traceback shows it: below adaptgraph's frames, the
    module-level code (``<module>``) of another package; the deepest names the one that raised."""
    inside, found, tb = False, None, e.__traceback__
    while tb is not None:
        package = str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0]
        if package == "adaptgraph":
            inside = True
        elif inside and tb.tb_frame.f_code.co_name == "<module>" and package:
            found = package  # the deepest one: transformers imports huggingface_hub, which reads the variable
        tb = tb.tb_next
    return found


def _output_cannot_encode(e: BaseException) -> bool:
    """Whether ``e`` is the standard output refusing text its encoding cannot write. Escaping it instead
    would change what ``fmt`` or ``convert`` print without a word, so the command stops."""
    if not isinstance(e, UnicodeEncodeError):
        return False
    import codecs

    def same(encoding) -> bool:
        try:
            return codecs.lookup(encoding).name == codecs.lookup(e.encoding).name
        except (LookupError, TypeError):
            return False

    return any(same(getattr(stream, "encoding", None)) for stream in (sys.stdout, sys.stderr))


def _package_of(e: BaseException) -> str:
    return (type(e).__module__ or "a library").partition(".")[0]


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:300]


@contextlib.contextmanager
def _spec_warnings_shown_plainly():
    """Every ``SpecWarning`` is printed as it reads (``file:line:col: warning: ...``), like a compiler's;
    other warnings go where they went."""
    from ..errors import SpecWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", SpecWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, SpecWarning):
                print(message, file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _command_actions(parser: argparse.ArgumentParser, command: str) -> list[argparse.Action]:
    """The options of one command (for ``check_number_flags``)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]._actions


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adaptgraph")
    except PackageNotFoundError:
        return "unknown"
