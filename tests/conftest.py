"""Shared fixtures. The suite runs offline: nothing is fetched from the Hugging Face Hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The tiny random pipeline, saved to disk so that tests go through the real loading code."""
    from genie_transforms.testing import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_path):
    from genie_transforms import GenieGenerator

    return GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)


@pytest.fixture(scope="session")
def prompts():
    from genie_transforms import PromptMap

    return PromptMap(["cat", "dog", "car", "boat"])


@pytest.fixture
def rgb_images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(4)]


@pytest.fixture(scope="session")
def bank_path(tmp_path_factory, tiny_generator):
    """A small precomputed bank of hard negatives (4 classes, 2 targets per source), saved to disk."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    from genie_transforms.datasets import generate_hard_negatives

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(8)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["cat", "dog", "car", "boat"])})
    source = Dataset.from_dict({"image": images, "label": [i % 4 for i in range(8)]}, features=features)
    bank = generate_hard_negatives(source, tiny_generator, noise_ratio=[0.5, 1.0], targets="random_k:2", seed=0)
    path = tmp_path_factory.mktemp("bank") / "bank"
    bank.save_to_disk(str(path))
    return str(path)


@pytest.fixture
def saved_source(tmp_path):
    """Save `make_dataset(n)` (tests/test_datasets.py) to disk and return its path: a source for the CLI."""
    from .test_datasets import make_dataset

    def save(n):
        path = tmp_path / f"source-{n}"
        make_dataset(n).save_to_disk(str(path))
        return path

    return save
