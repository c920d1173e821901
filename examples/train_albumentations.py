"""GenieTransform in a real training loop, Albumentations: a small CNN learns the digits with half of its samples
replaced by hard negatives from a precomputed bank (the recommended mode: training speed is unchanged).

    python examples/train_albumentations.py [--epochs 5] [--bank-rows 300] [--workers 2]

Runs offline on the model this package ships; with your data, build the bank once with `genie generate` and
pass its folder as `bank=`.
"""

import argparse

import albumentations as A
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from genie_transforms import GenieGenerator
from genie_transforms.albumentations import GenieTransform, reseed_worker
from genie_transforms.datasets import generate_hard_negatives
from genie_transforms.digits import load_digits_dataset

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--bank-rows", type=int, default=300, help="source images of the hard-negative bank")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--workers", type=int, default=2)
args = parser.parse_args()
torch.manual_seed(0)

train, test = load_digits_dataset("train"), load_digits_dataset("heldout")
gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=args.steps)
bank = generate_hard_negatives(train.select(range(args.bank_rows)), gen, targets="random_k:1", seed=0)


class Digits(Dataset):
    def __init__(self, ds, transform):
        self.ds, self.transform = ds, transform

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        row = self.ds[i]
        out = self.transform(image=np.asarray(row["image"]), label=row["label"])
        return torch.from_numpy(out["image"].copy()).permute(2, 0, 1).float() / 255, out["label"]


augment = A.Compose(
    [A.RandomResizedCrop(size=(32, 32), scale=(0.7, 1.0)), GenieTransform(bank=bank, p=0.5, num_classes=10)], seed=0
)
loader = DataLoader(
    Digits(train, augment),
    batch_size=64,
    shuffle=True,
    num_workers=args.workers,
    worker_init_fn=reseed_worker("transform") if args.workers else None,
)
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1),
    torch.nn.BatchNorm2d(16),
    torch.nn.ReLU(),
    torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(16, 32, 3, padding=1),
    torch.nn.BatchNorm2d(32),
    torch.nn.ReLU(),
    torch.nn.MaxPool2d(2),
    torch.nn.Flatten(),
    torch.nn.Linear(32 * 8 * 8, 10),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(args.epochs):
    model.train()
    for images, labels in loader:
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.stack([np.asarray(im) for im in test["image"]])).permute(0, 3, 1, 2).float() / 255
        accuracy = (model(x).argmax(1).numpy() == np.asarray(test["label"])).mean()
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out accuracy {accuracy:.1%}")
