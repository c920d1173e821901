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
