"""Plain helpers shared by the tests and their subprocesses (fixtures live in `conftest.py`)."""

import numpy as np
from PIL import Image

NAMES = ["cat", "dog", "car", "boat"]


def build_dataset(n=6, names=NAMES):
    """A small image-classification `Dataset`: random 32 x 32 RGB images, labels cycling over `names`."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"image": images, "label": [i % len(names) for i in range(n)]}, features=features)


def generate_args(source_dir, tiny_model_path, out, *extra):
    """`genie generate` arguments on a small, fast job (extra options appended)."""
    return [
        "generate",
        "--dataset",
        str(source_dir),
        "--model",
        str(tiny_model_path),
        "--steps",
        "2",
        "--noise-ratio",
        "1.0",
        "--strategy",
        "random_k:1",
        "--chunk-size",
        "3",
        "--output",
        str(out),
        "--no-progress",
        *extra,
    ]
