"""Text generation with a compiled decoder: batched, greedy or sampled, with a key-value cache where the
spec's edges allow it (see ``api`` and ``edge_hooks``)."""
from .api import FullRecomputationWarning, GeneratedText, Generation, generate
from .config import GenerationConfig
from .sources import open_generator

__all__ = ["FullRecomputationWarning", "GeneratedText", "Generation", "GenerationConfig", "generate", "open_generator"]
