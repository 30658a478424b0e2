"""The flags of the multi-fidelity search that ``planted.py`` and ``equal_compute.py`` run, and its settings."""
from __future__ import annotations

import argparse


def add_hyperband_flags(ap: argparse.ArgumentParser) -> None:
    group = ap.add_argument_group("multi-fidelity search (adaptgraph search --strategy hyperband)")
    group.add_argument("--candidates", type=int, default=27, help="candidate specs (default %(default)s)")
    group.add_argument("--min-steps", type=int, default=10, help="steps of the lowest rung (default %(default)s)")
    group.add_argument("--max-steps", type=int, default=90,
                       help="steps of the highest rung, --min-steps times a power of --eta (default %(default)s)")
    group.add_argument("--eta", type=int, default=3, help="promotion factor (default %(default)s)")
    group.add_argument("--signal", default="train_loss", choices=("train_loss", "val_loss"),
                       help="what promotes a spec (default %(default)s)")


def hyperband_of(args: argparse.Namespace, pool_gga: bool = True):
    """The ``Hyperband`` settings the flags give (SystemExit with the reason when they are impossible)."""
    from adaptgraph import AdaptGraphError
    from adaptgraph.searcher import make_strategy

    try:
        return make_strategy("hyperband", args.candidates, min_steps=args.min_steps, max_steps=args.max_steps,
                             eta=args.eta, signal=args.signal, gga=pool_gga)
    except AdaptGraphError as e:
        raise SystemExit(e.format()) from None
