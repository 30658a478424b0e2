"""Meet PEFT and Hugging Face: export to and import from PEFT's LoRA, merge into the weights, train with Trainer.

See docs/peft.md.
"""
from .hf_trainer import SequenceClassifier
from .merge import MergeResult, merge
from .peft_export import PeftExport, export_peft
from .peft_import import PeftImport, import_peft

__all__ = ["MergeResult", "PeftExport", "PeftImport", "SequenceClassifier", "export_peft", "import_peft", "merge"]
