"""How a user trained the model, outside edgeprune: torchvision ImageFolder, their own normalization, plain torch.

    python examples/byo/train.py IMAGE_DIR WEIGHTS.pt [EPOCHS]

IMAGE_DIR holds ``train/<class>/*.png`` and ``val/<class>/*.png``. Prints the validation accuracy the user
would quote; edgeprune measures the same number when given the same preprocessing
(``--data imagefolder:IMAGE_DIR --channels 1 --mean 0.2 --std 0.35``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from usernet import make

MEAN, STD = 0.2, 0.35  # this user's own normalization (not the data's statistics, not edgeprune's)
TRANSFORM = transforms.Compose([transforms.Grayscale(1), transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in loader:
            right += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * right / total


def train(folder: str | Path, weights: str | Path, epochs: int = 4, seed: int = 0) -> float:
    """Train on ``folder/train``, save a state_dict to ``weights``, return the accuracy on ``folder/val``."""
    torch.manual_seed(seed)
    train_set = datasets.ImageFolder(str(Path(folder) / "train"), TRANSFORM)
    val_set = datasets.ImageFolder(str(Path(folder) / "val"), TRANSFORM)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model = make(num_classes=len(train_set.classes), in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    torch.save(model.state_dict(), weights)
    return accuracy(model, DataLoader(val_set, batch_size=256))


if __name__ == "__main__":
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    print(f"val accuracy {train(sys.argv[1], sys.argv[2], epochs):.2f}%")
