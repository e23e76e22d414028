"""Recovery fine-tuning: resumable loop, distillation from the unpruned teacher, torchrun/DDP."""

from edgeprune.finetune.loop import FitResult, fit
from edgeprune.task import evaluate

__all__ = ["FitResult", "evaluate", "fit"]
