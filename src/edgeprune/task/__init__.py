"""What a model is for: loss, metric (and its direction), distillation; evaluation under a task."""

from edgeprune.task.evaluate import Score, evaluate, predict, score_batches
from edgeprune.task.record import Task
from edgeprune.task.resolve import CLASSIFICATION, TaskSpec, resolve_task

__all__ = ["CLASSIFICATION", "Score", "Task", "TaskSpec", "evaluate", "predict", "resolve_task", "score_batches"]
