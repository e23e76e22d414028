"""Recovery fine-tuning: resumable loop, distillation from the unpruned teacher, iterative schedules, DDP."""

from edgeprune.finetune.evaluate import evaluate
from edgeprune.finetune.loop import FitResult, fit
from edgeprune.finetune.options import TrainConfig

__all__ = ["FitResult", "TrainConfig", "evaluate", "fit"]
