import sys
from pathlib import Path

# The tiny backbones, tokenizer and data files are shared with the training tests; they live there.
sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
