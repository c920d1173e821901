"""Checks of the GPU-only paths (float16 weights, model offload). Skipped without CUDA; on a GPU machine run
`python -m pytest -m gpu tests/test_gpu.py`."""

import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator

pytestmark = pytest.mark.gpu


def test_float16_on_cuda_by_default(tiny_model_path, prompts, rgb_images):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    out = gen.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    assert gen.pipe.unet.dtype == torch.float16 and out.records[0].dtype == "float16"
    assert gen.execution_device.type == "cuda"


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_runs_on_the_gpu_and_matches(tiny_model_path, prompts, rgb_images, offload):
    pytest.importorskip("accelerate")
    placed = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    offloaded = GenieGenerator.from_pretrained(tiny_model_path, offload=offload, num_inference_steps=4, progress=False)
    a = placed.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    b = offloaded.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    assert offloaded.pipe.device.type == "cpu" and offloaded.execution_device.type == "cuda"
    for x, y in zip(a.images, b.images):
        assert np.abs(np.asarray(x, float) - np.asarray(y, float)).max() <= 2
