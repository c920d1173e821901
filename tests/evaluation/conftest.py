"""Fixtures of the evaluation tests."""

import pytest

from ..helpers import pooled


@pytest.fixture
def setup(tiny_model_path):
    """A generator on the tiny pipeline (10 steps), a pooled-colour embedder and six class prompts."""
    from genie_transforms import GenieGenerator, PromptMap
    from genie_transforms.embedders import Embedder

    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False, batch_size=64)
    return gen, Embedder(pooled, name="pooled"), PromptMap([f"class {c}" for c in range(6)])
