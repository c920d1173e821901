"""The context world: the digits drawn over five contexts (a background colour and a coarse texture), drawn
independently of the class. Context is what a GeNIe hard negative should keep of its source and a classifier
should learn to ignore; the plain digits have none, so they cannot test that.

    >>> ds = load_context_digits("heldout")
    >>> ds.features["context"].names
    ['plain', 'horizontal stripes', 'vertical stripes', 'checker', 'dots']
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .data import DIGIT_NAMES, RESOLUTION, SPLITS, digits_arrays

CONTEXT_NAMES = ("plain", "horizontal stripes", "vertical stripes", "checker", "dots")
CONTEXT_COLOURS = ((196, 64, 56), (52, 150, 72), (56, 88, 196), (200, 164, 40), (148, 64, 176))
"""The background colour of each context (RGB), far apart in hue."""
STROKE = (244, 244, 236)
"""The colour of every digit's strokes, whatever the context."""
TEXTURE_DEPTH = 48
"""How far (in levels) a texture darkens its background's colour."""
CONTEXT_SEEDS = {"train": 1_000, "heldout": 1_001, "all": 1_002}
"""The seed of each split's context draw (fixed: a split is the same data everywhere)."""


def texture(context: int, size: int = RESOLUTION) -> np.ndarray:
    """The texture of `context` as a (size, size) mask in {0, 1}: plain, stripes of period 8 px (horizontal,
    vertical), a checker of 8-px squares, or dots on an 8-px grid; coarse enough for an 8x8 latent to keep."""
    y, x = np.mgrid[0:size, 0:size]
    masks = {
        0: np.zeros((size, size)),
        1: (y // 4) % 2,
        2: (x // 4) % 2,
        3: ((x // 8) + (y // 8)) % 2,
        4: ((x % 8 - 3.5) ** 2 + (y % 8 - 3.5) ** 2) <= 4.5,
    }
    if context not in masks:
        raise ValueError(f"`context` must be in 0-{len(CONTEXT_NAMES) - 1}, got {context}.")
    return masks[context].astype(np.float32)


@cache
def background(context: int, size: int = RESOLUTION) -> np.ndarray:
    """The background of `context`: its colour, darkened by `TEXTURE_DEPTH` where its texture is; float (H, W, 3)."""
    colour = np.asarray(CONTEXT_COLOURS[context], dtype=np.float32)
    return np.clip(colour[None, None, :] - TEXTURE_DEPTH * texture(context, size)[..., None], 0, 255)


def render(digits: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    """Digits (N, H, W, 3) uint8, light strokes on black, drawn over their contexts: each pixel mixes the stroke
    colour and the context's background by the digit's brightness. Returns (N, H, W, 3) uint8."""
    digits = np.asarray(digits)
    contexts = np.asarray(contexts)
    if digits.ndim != 4 or digits.shape[-1] != 3 or len(digits) != len(contexts):
        raise ValueError(f"Expected digits (N, H, W, 3) and N contexts, got {digits.shape} and {contexts.shape}.")
    alpha = digits.astype(np.float32).mean(axis=-1, keepdims=True) / 255.0
    backs = np.stack([background(int(c), digits.shape[1]) for c in contexts])
    out = alpha * np.asarray(STROKE, dtype=np.float32) + (1.0 - alpha) * backs
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def context_digits_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A split of the context world: images (N, 32, 32, 3) uint8, labels, contexts (drawn uniformly and
    independently of the label, from the split's fixed seed) and each row's index in the digits' scans."""
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
    images, labels, index = digits_arrays(split)
    contexts = np.random.default_rng(CONTEXT_SEEDS[split]).integers(0, len(CONTEXT_NAMES), len(labels))
    return render(images, contexts), labels, contexts.astype(np.int64), index


def load_context_digits(split: str = "train"):
    """The context world as a `datasets.Dataset`: `image` (32x32 RGB), `label` (`ClassLabel`, the digits' names),
    `context` (`ClassLabel`, `CONTEXT_NAMES`) and `digit_index` (the row in `sklearn.datasets.load_digits()`); the
    splits of `load_digits_dataset` (`"train"`, `"heldout"`, `"all"`)."""
    from datasets import ClassLabel, Dataset, Features, Value
    from datasets import Image as ImageFeature
    from PIL import Image

    images, labels, contexts, index = context_digits_arrays(split)
    features = Features(
        {
            "image": ImageFeature(),
            "label": ClassLabel(names=list(DIGIT_NAMES)),
            "context": ClassLabel(names=list(CONTEXT_NAMES)),
            "digit_index": Value("int64"),
        }
    )
    return Dataset.from_dict(
        {
            "image": [Image.fromarray(image) for image in images],
            "label": labels.tolist(),
            "context": contexts.tolist(),
            "digit_index": index.tolist(),
        },
        features=features,
    )


def read_context(images: np.ndarray) -> np.ndarray:
    """The context oracle: each image's context (N,), by the nearest background over the pixels that are not
    stroke-coloured (a generated image's strokes are not exactly known, its background is). Images (N, H, W, 3)
    uint8 at any size (resized to 32 px)."""
    from PIL import Image

    images = np.asarray(images)
    if images.shape[1:3] != (RESOLUTION, RESOLUTION):
        images = np.stack([np.asarray(Image.fromarray(i).resize((RESOLUTION, RESOLUTION))) for i in images])
    pixels = images.astype(np.float32)
    stroke_like = np.linalg.norm(pixels - np.asarray(STROKE, dtype=np.float32), axis=-1) < 90
    weight = (~stroke_like).astype(np.float32)[..., None]
    distances = [(np.abs(pixels - background(c)[None]) * weight).sum(axis=(1, 2, 3)) for c in range(len(CONTEXT_NAMES))]
    return np.argmin(np.stack(distances, axis=1), axis=1)


def strip_context(images: np.ndarray) -> np.ndarray:
    """The digit without its context: each pixel's stroke weight (1 on a stroke, 0 on the background), from its
    distance to the stroke colour against the distance of the image's context (`read_context`) to it; (N, 32, 32,
    3) uint8, light strokes on black, as the plain digits are drawn."""
    from PIL import Image

    images = np.asarray(images)
    if images.shape[1:3] != (RESOLUTION, RESOLUTION):
        images = np.stack([np.asarray(Image.fromarray(i).resize((RESOLUTION, RESOLUTION))) for i in images])
    stroke = np.asarray(STROKE, dtype=np.float32)
    backs = np.stack([background(int(c)) for c in read_context(images)])
    span = np.linalg.norm(backs - stroke, axis=-1)
    alpha = np.clip(1.0 - np.linalg.norm(images.astype(np.float32) - stroke, axis=-1) / np.maximum(span, 1.0), 0, 1)
    return np.repeat(np.rint(alpha * 255).astype(np.uint8)[..., None], 3, axis=-1)


def read_digit(images: np.ndarray, oracle=None) -> np.ndarray:
    """The digit oracle of the context world: the digits' oracle (`digits_oracle`, an SVM on 8x8 views) on the
    images with their context stripped; not the evaluation's backbone. Pass `oracle` to reuse a fitted one."""
    from .data import digits_oracle, downsample

    return (oracle or digits_oracle()).predict(downsample(strip_context(images)))


__all__ = [
    "CONTEXT_COLOURS",
    "CONTEXT_NAMES",
    "CONTEXT_SEEDS",
    "STROKE",
    "TEXTURE_DEPTH",
    "background",
    "context_digits_arrays",
    "load_context_digits",
    "read_context",
    "read_digit",
    "render",
    "strip_context",
    "texture",
]
