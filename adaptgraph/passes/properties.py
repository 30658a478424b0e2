"""The graph properties passes require and ensure (``Pass.requires`` / ``Pass.ensures``).

Each is a plain name; docs/passes.md says what each one promises about the graph and which pass
ensures it. The runner refuses a pass whose requirement no earlier pass ensured.
"""
from __future__ import annotations

# Tidying a fresh trace (``graph/tracing.py``); a ``Traced`` graph holds all of them (``TRACED``).
ONE_OUTPUT = "one_output"              # returns one feature tensor, plain positional inputs
SHAPES = "shapes"                      # every tensor node has meta["tensor_meta"] from the example inputs
OUT_OF_PLACE = "out_of_place"          # no in-place op overwrites a value another node reads
NO_DEAD_CODE = "no_dead_code"          # every node is read by the output or writes memory
INPUT_DEVICE = "input_device"          # no device constants: the graph follows its first input's device
OPTIONAL_INPUTS = "optional_inputs"    # inputs with a derived default (token_type_ids) are optional
NO_STRING_TYPES = "no_string_types"    # no node type is a string annotation: the graph pickles

# Applying a plan (``compiler.apply_plan``).
NO_BACKBONE_DROPOUT = "no_backbone_dropout"  # the backbone's dropout modules are identities
ADAPTERS_INSTALLED = "adapters_installed"  # ``gm.adapters`` holds one module per planned edge
FORWARD_EDGES = "forward_edges"        # D' = D + sum of forward adapters, read by every consumer of D
ADAPTED_MARKS = "adapted_marks"        # the node holding D' carries meta[insert_edges.ADAPTED_FROM] = D
RECURRENT_UNROLLED = "recurrent_unrolled"  # the graph runs ``passes`` passes with the recurrent edges
FROZEN = "frozen"                      # only adapters and the spec's ``train`` modules require grad
FROZEN_IN_EVAL = "frozen_in_eval"      # the module is a FrozenInEval: train() leaves the frozen part in eval
