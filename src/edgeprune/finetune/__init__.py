"""Training and recovery fine-tuning (cross-entropy plus distillation from the unpruned teacher)."""

from edgeprune.finetune.evaluate import evaluate
from edgeprune.finetune.loop import FitResult, fit

__all__ = ["FitResult", "evaluate", "fit"]
