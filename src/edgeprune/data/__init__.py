"""Datasets with a fixed, seeded train / select / validation split."""

from edgeprune.data.datasets import Dataset, known_datasets, load_dataset

__all__ = ["Dataset", "known_datasets", "load_dataset"]
