"""The weights of compiled models: which are shared with the backbone (``sharing``), which train and are
saved (``trainable``), and the checks on weights and metadata a file brings before any reaches a model
(``file_checks``). Torch only: below the backbones, the graph and the passes, which all use it."""
