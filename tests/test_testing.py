"""The pipelines built in code for tests and benchmarks (`genie_transforms.testing`): no download, real loading."""

import torch
from safetensors.torch import load_file

from genie_transforms import GenieGenerator
from genie_transforms.testing import TINY_RESOLUTION, make_tiny_pipeline, save_tiny_pipeline


def test_the_tiny_pipeline_is_saved_as_safetensors_and_loads_through_the_real_loader(tmp_path, prompts, rgb_images):
    path = save_tiny_pipeline(tmp_path / "tiny", seed=1)
    weights = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.safetensors"))
    assert weights == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    assert not list(path.rglob("*.bin"))
    built = make_tiny_pipeline(seed=1)
    stored = load_file(path / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(stored[k], v) for k, v in built.unet.state_dict().items())  # same seed, same weights
    gen = GenieGenerator.from_pretrained(path, num_inference_steps=2, progress=False)
    out = gen.generate(rgb_images[:1], [1], 1.0, seed=0, prompts=prompts)
    assert gen.resolution == TINY_RESOLUTION and out.images[0].size == rgb_images[0].size
