"""Bank mode at ImageNet scale: DataLoader epochs that draw hard negatives from a bank of 20,000 images at 256 px,
far more than the decoded-image cache holds (`sources.DECODED_CACHE_BYTES`), so nearly every draw decodes.

    python benchmarks/bank_at_scale.py [--bank-images 20000] [--epoch-images 2048] [--repeats 3] [--json FILE]

The bank: 500 hard negatives of the bundled digits model, upscaled to 256 px with a film grain of its own per row,
so that every row is a distinct image whose PNG weighs about what a photo's does; saved with `save_to_disk` and
read back memory-mapped, as a job's bank is. The epoch: held-out digits made the same way (256 px, grain), decoded
from PNG bytes, RandomResizedCrop to 224, GenieTransform (p = 0.5) before the crop, to a float tensor; the same
epoch without GenieTransform alternates with it (`bench.bench_training`, medians). Two banks are measured: stored
at 256 px (the source's size) and at 224 px (the training resolution). Then the decode cost of one bank image per
encoding (PNG at compression levels 6 and 1, lossless WebP) and decoder (PIL, OpenCV, torchvision.io): what bounds
the bank's cost per draw.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from genie_transforms import GenieGenerator
from genie_transforms.bench import bench_training
from genie_transforms.datasets import generate_hard_negatives
from genie_transforms.digits import digits_arrays, load_digits_dataset
from genie_transforms.sources import load_bank

GRAIN = 6.0
"""Standard deviation (in levels) of the per-row grain: a 256-px PNG of about 150 KB, a photo's weight."""


def grainy(image: Image.Image, size: int, seed: int) -> Image.Image:
    """`image` upscaled to `size` px (bicubic) with a grain drawn from `seed`."""
    array = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, GRAIN, array.shape)
    return Image.fromarray(np.clip(array + noise, 0, 255).astype(np.uint8))


def png(image: Image.Image, **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def build_bank(negatives, n: int, size: int, folder: Path):
    """A bank of `n` rows cycling over `negatives` (a hard-negative dataset), each image at `size` px with its own
    grain, saved to `folder` and loaded back from disk."""
    from datasets import Dataset, Features
    from datasets import Image as ImageFeature

    features = Features({**negatives.features, "image": ImageFeature()})
    base = negatives.cast_column("image", ImageFeature())

    def rows():
        for i in tqdm(range(n), desc=f"building a bank of {n:,} images at {size} px", unit="img"):
            row = base[i % len(base)]
            yield {**row, "image": {"bytes": png(grainy(row["image"], size, seed=i)), "path": None}}

    with disabled_progress_bars():  # the bank's own bar says what happens
        Dataset.from_generator(rows, features=features, cache_dir=str(folder.parent / ".cache")).save_to_disk(
            str(folder)
        )
    return load_bank(folder)


@contextlib.contextmanager
def disabled_progress_bars():
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    was = is_progress_bar_enabled()
    disable_progress_bar()
    try:
        yield
    finally:
        if was:
            enable_progress_bar()


def decode_costs(images: list[Image.Image]) -> list[dict]:
    """Microseconds to decode one image (to an HWC uint8 array) and its bytes, per encoding and decoder."""
    import cv2
    import torch
    from torchvision.io import ImageReadMode, decode_image

    encodings = {
        "PNG, level 6 (PIL's default)": lambda im: png(im),
        "PNG, level 1": lambda im: png(im, compress_level=1),
        "WebP, lossless": lambda im: _webp(im),
    }
    decoders = {
        "PIL": lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB")),
        "OpenCV": lambda b: cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
        "torchvision.io": lambda b: (
            decode_image(torch.frombuffer(bytearray(b), dtype=torch.uint8), ImageReadMode.RGB).permute(1, 2, 0).numpy()
        ),
    }
    rows = []
    for encoding, encode in encodings.items():
        blobs = [encode(im) for im in images]
        for decoder, decode in decoders.items():
            assert np.array_equal(decode(blobs[0]), np.asarray(images[0]))  # lossless, and the same pixels
            start = time.perf_counter()
            for blob in blobs:
                decode(blob)
            seconds = (time.perf_counter() - start) / len(blobs)
            kb = float(np.mean([len(b) for b in blobs]) / 1024)
            rows.append({"encoding": encoding, "decoder": decoder, "us_per_image": seconds * 1e6, "kb": kb})
    return rows


def _webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bank-images", type=int, default=20000)
    parser.add_argument("--epoch-images", type=int, default=2048)
    parser.add_argument("--negatives", type=int, default=500, help="distinct hard negatives the bank cycles over")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=10, progress=False)
    train = load_digits_dataset("train").select(range(args.negatives))
    negatives = generate_hard_negatives(train, gen, targets="random_k:1")
    images, labels, _ = digits_arrays("heldout")
    pick = np.random.default_rng(0).choice(len(images), args.epoch_images, replace=args.epoch_images > len(images))
    epoch = [grainy(Image.fromarray(images[i]), 256, seed=10**6 + k) for k, i in enumerate(pick)]
    epoch_labels = [int(labels[i]) for i in pick]
    figures: dict = {"bank_images": args.bank_images, "epoch_images": args.epoch_images, "runs": {}}
    print(f"| bank ({args.bank_images:,} images) | host | workers | samples/s without | with GenieTransform | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (256, 224):
            start = time.perf_counter()
            bank = build_bank(negatives, args.bank_images, size, Path(tmp) / f"bank-{size}")
            files = sum(f.stat().st_size for f in (Path(tmp) / f"bank-{size}").glob("*.arrow"))
            figures[f"bank_{size}px"] = {"build_s": time.perf_counter() - start, "mb_on_disk": files / 2**20}
            for host in ("albumentations", "torchvision"):
                for workers in args.workers:
                    row = bench_training(
                        bank, epoch, epoch_labels, host, workers, repeats=args.repeats, placement="before"
                    )
                    figures["runs"][f"{size} px, {host}, {workers} workers"] = row
                    print(
                        f"| {size} px | {host} | {workers} | {row['samples_per_s_without']:.0f} | "
                        f"{row['samples_per_s_with']:.0f} | {row['ratio']:.2f} |",
                        flush=True,
                    )
        sample = [grainy(negatives[i]["image"], 256, seed=i) for i in range(min(200, len(negatives)))]
    figures["decode"] = decode_costs(sample)
    print("\n| encoding | decoder | us per 256-px image | KB |\n| --- | --- | --- | --- |")
    for row in figures["decode"]:
        print(f"| {row['encoding']} | {row['decoder']} | {row['us_per_image']:.0f} | {row['kb']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
