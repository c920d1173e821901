"""Training throughput with GenieTransform: a DataLoader epoch of a realistic pipeline (decode PNG, RandomResizedCrop
to 224, GenieTransform in bank mode with p = 0.5, to a float tensor) against the same pipeline without it, for both
hosts, with 0 and 2 workers (the same figures as `genie bench`, on their own).

    python benchmarks/training_throughput.py [--images 1024] [--repeats 5] [--json FILE]

Source images are held-out digits upscaled to 256 px (ImageNet-like sizes). Two banks: hard negatives of 200 train
digits as generated (32 px, resized to the crop when drawn), with GenieTransform after the crop as `genie bench`
measures it; and the same negatives of 400 train digits upscaled to 256 px (a bank of photo-sized images, more than
the 64 MiB decoded-image cache holds), with GenieTransform before the crop (where it belongs: the negative is then
cropped like any sample) and after it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.bench import bench_training
from genie_transforms.datasets import generate_hard_negatives
from genie_transforms.digits import digits_arrays, load_digits_dataset


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=10, progress=False)
    bank = generate_hard_negatives(load_digits_dataset("train").select(range(200)), gen, targets="random_k:1")
    images, labels, _ = digits_arrays("heldout")
    pick = np.random.default_rng(0).choice(len(images), args.images, replace=args.images > len(images))
    epoch = [Image.fromarray(images[i]).resize((256, 256), Image.Resampling.BICUBIC) for i in pick]
    photo_bank = photo_sized(
        generate_hard_negatives(load_digits_dataset("train").select(range(400)), gen, targets="random_k:1")
    )
    epoch_labels = [int(labels[i]) for i in pick]
    figures = {}
    print("| bank | GenieTransform | host | workers | samples/s without | with GenieTransform (p = 0.5) | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cases = [("32-px digits", bank, "after")] + [("256-px photos", photo_bank, p) for p in ("before", "after")]
    for name, which, placement in cases:
        for host in ("albumentations", "torchvision"):
            for workers in (0, 2):
                row = bench_training(
                    which, epoch, epoch_labels, host, workers, repeats=args.repeats, placement=placement
                )
                key = f"{host}, {workers} workers" + ("" if which is bank else f", photo bank, {placement} the crop")
                figures[key] = row
                print(
                    f"| {name} | {placement} the crop | {host} | {workers} | {row['samples_per_s_without']:.0f} | "
                    f"{row['samples_per_s_with']:.0f} | {row['ratio']:.2f} |"
                )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def photo_sized(bank, size: int = 256):
    """The bank with every image upscaled to `size` px (stored as PNG): what a bank of photos weighs per draw."""
    return bank.map(lambda row: {"image": row["image"].resize((size, size), Image.Resampling.BICUBIC)})


if __name__ == "__main__":
    main()
