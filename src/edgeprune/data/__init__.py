"""Data on torch's own machinery: train / select / validation datasets, declared preprocessing, seeded splits."""

from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import ArrayDataset, Data, Split, batches, fetch, take
from edgeprune.data.sampling import calibration_samples, choosing_samples
from edgeprune.data.spec import known_datasets, load_data, load_dataset

Dataset = Data  # the record's earlier name

__all__ = [
    "ArrayDataset",
    "Data",
    "Dataset",
    "Preprocessing",
    "Split",
    "batches",
    "calibration_samples",
    "choosing_samples",
    "fetch",
    "known_datasets",
    "load_data",
    "load_dataset",
    "take",
]
