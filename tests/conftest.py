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
