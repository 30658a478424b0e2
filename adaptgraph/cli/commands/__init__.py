"""The command groups of the ``adaptgraph`` command line (each registers itself in ``cli/parser.py``)."""

# One wording for every long command's --no-progress (adaptgraph/progress.py).
NO_PROGRESS_HELP = ("no progress: neither bars on a terminal nor the plain lines written into logs "
                    "(one every 5 s or so) when stderr is a file or a pipe")

# One wording for every command's --trust-code: what it lets run (see docs/security.md, Trust).
TRUST_CODE_HELP = ("run code that comes with the backbone: py:MODULE:FACTORY references, and hf: folders whose "
                   "config names code of their own (auto_map)")
