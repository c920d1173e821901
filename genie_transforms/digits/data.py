"""The handwritten digits (1,797 real 8x8 scans, the UCI data scikit-learn also ships) at 32x32 RGB, with the fixed
train/held-out split that the bundled model was trained with, its prompts and an oracle classifier."""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
from PIL import Image

from ..prompts import PromptMap
from .assets import DATA_FILE

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_TEMPLATE = "a photo of the digit {}."
RESOLUTION = 32
TRAIN_FRACTION = 0.7
SPLIT_SEED = 0
SPLITS = ("train", "heldout", "all")


@cache
def digits_scans() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 scans (N, 8, 8) uint8 with values 0-16 and their labels, in `sklearn.datasets.load_digits()` order."""
    with np.load(DATA_FILE) as data:
        return data["scans"], data["labels"].astype(np.int64)


def digits_prompt_map() -> PromptMap:
    """The prompts the bundled model was trained with: `"a photo of the digit {name}."`."""
    return PromptMap(list(DIGIT_NAMES), template=DIGITS_TEMPLATE)


def upsample(scans: np.ndarray) -> np.ndarray:
    """8x8 scans (values 0-16) to uint8 RGB images of 32x32 (bilinear), shape (N, 32, 32, 3)."""
    out = np.empty((len(scans), RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    for i, scan in enumerate(scans):
        small = Image.fromarray((np.asarray(scan, dtype=np.float32).reshape(8, 8) * (255 / 16)).astype(np.uint8))
        out[i] = np.asarray(small.resize((RESOLUTION, RESOLUTION), Image.Resampling.BILINEAR).convert("RGB"))
    return out


def downsample(images: np.ndarray) -> np.ndarray:
    """The inverse view: (N, H, W[, 3]) uint8 images to 8x8 scans with values 0-16, flattened to (N, 64)."""
    images = np.asarray(images)
    gray = images.mean(axis=-1) if images.ndim == 4 else images
    out = np.stack([np.asarray(Image.fromarray(g.astype(np.uint8)).resize((8, 8), Image.Resampling.BOX)) for g in gray])
    return out.reshape(len(out), 64).astype(np.float32) * (16 / 255)


@cache
def _split_indices() -> dict[str, np.ndarray]:
    labels = digits_scans()[1]
    rng = np.random.default_rng(SPLIT_SEED)
    train = []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.extend(idx[: round(TRAIN_FRACTION * len(idx))].tolist())
    train_idx = np.array(sorted(train))
    heldout_idx = np.setdiff1d(np.arange(len(labels)), train_idx)
    return {"train": train_idx, "heldout": heldout_idx, "all": np.arange(len(labels))}


def digits_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8, labels (N,) and indices into `load_digits()` of one split."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}.")
    scans, labels = digits_scans()
    idx = _split_indices()[split]
    return upsample(scans[idx]), labels[idx], idx


def load_digits_dataset(split: str = "train"):
    """The digits as a `datasets.Dataset` with an `Image` column `image`, a `ClassLabel` column `label`
    (names `zero` ... `nine`) and `digit_index` (the row in `sklearn.datasets.load_digits()`).

    Examples:
        >>> ds = load_digits_dataset("heldout")
        >>> ds.features["label"].names[:3]
        ['zero', 'one', 'two']
    """
    from datasets import ClassLabel, Dataset, Features, Value
    from datasets import Image as ImageFeature

    images, labels, idx = digits_arrays(split)
    features = Features(
        {"image": ImageFeature(), "label": ClassLabel(names=list(DIGIT_NAMES)), "digit_index": Value("int64")}
    )
    return Dataset.from_dict(
        {"image": [Image.fromarray(im) for im in images], "label": labels.tolist(), "digit_index": idx.tolist()},
        features=features,
    )


@lru_cache(maxsize=1)
def digits_oracle():
    """An oracle digit classifier for label-consistency figures: an RBF SVM on the train split's 8x8 views
    (about 99% on the held-out split). Predicts with `oracle.predict(downsample(images))`. Needs the `evaluation`
    extra (scikit-learn)."""
    from ..extras import require

    require("scikit-learn", "sklearn", "evaluation")
    from sklearn.svm import SVC

    images, labels, _ = digits_arrays("train")
    return SVC(C=10, gamma="scale").fit(downsample(images), labels)


__all__ = [
    "DIGITS_TEMPLATE",
    "DIGIT_NAMES",
    "RESOLUTION",
    "SPLITS",
    "SPLIT_SEED",
    "TRAIN_FRACTION",
    "digits_arrays",
    "digits_oracle",
    "digits_prompt_map",
    "digits_scans",
    "downsample",
    "load_digits_dataset",
    "upsample",
]
