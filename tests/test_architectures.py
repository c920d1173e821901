"""The random-weight architectures `genie bench` measures (`genie_transforms.architectures`): built on the meta
device (no memory, no time), each is the published model's architecture, so that figures measured on it are those
of that model's compute."""

import pytest
import torch

from genie_transforms.architectures import FLUX_DEPTH, RANDOM_MODELS, flux_configs, make_random_pipeline
from genie_transforms.families import family_for


def _count(module: torch.nn.Module, buffers: bool = False) -> int:
    return sum(p.numel() for p in module.parameters()) + (sum(b.numel() for b in module.buffers()) if buffers else 0)


# published parameter counts: the denoiser's, then the other components'
PUBLISHED = {
    "sd15-random": ("sd", 859_520_964, {"vae": 83_653_863, "text_encoder": 123_060_480}),
    "sdxl-random": (
        "sdxl",
        2_567_463_684,
        {"vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840},
    ),
    "sd3-random": ("sd3", None, {"vae": 83_819_683, "text_encoder": 123_650_304, "text_encoder_2": 694_659_840}),
    "flux-random": ("flux", None, {"vae": 83_819_683, "text_encoder": 123_060_480}),
}


@pytest.mark.parametrize("name", list(RANDOM_MODELS))
def test_each_random_model_is_the_published_architecture(name):
    pipe = make_random_pipeline(name, device="meta")
    family, denoiser_count, components = PUBLISHED[name]
    adapter = family_for(pipe)
    assert adapter.name == family
    if denoiser_count is not None:
        assert _count(adapter.denoiser) == denoiser_count
    assert {k: _count(pipe.components[k]) for k in components} == components
    if name == "sd3-random":  # SD3.5 medium: "2.5 billion parameters", its 384 x 384 position table included
        assert round(_count(adapter.denoiser, buffers=True) / 1e8) == 25 and pipe.text_encoder_3 is None
        assert adapter.denoiser.config.dual_attention_layers == tuple(range(13))
    if name == "flux-random":
        assert _count(adapter.denoiser) < 1.4e9 and adapter.denoiser.config.num_layers == FLUX_DEPTH["double_blocks"]


def test_flux_at_full_depth_is_flux_1_dev():
    """flux-random is FLUX.1-dev with fewer blocks: at the published depth its configuration gives FLUX.1-dev's
    11.9 billion transformer parameters and T5-XXL's 4.76 billion."""
    from diffusers import FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    configs = flux_configs()
    with torch.device("meta"):
        transformer = FluxTransformer2DModel(**{**configs["transformer"], "num_layers": 19, "num_single_layers": 38})
        t5 = T5EncoderModel(T5Config(**{**configs["text_encoder_2"], "num_layers": 24}))
    # the token table once: transformers 5.0 keeps the encoder's copy of `shared` as a parameter of its own
    t5_count = sum(p.numel() for name, p in t5.named_parameters() if not name.startswith("encoder.embed_tokens"))
    assert (_count(transformer), t5_count) == (11_901_408_320, 4_762_310_656)


def test_an_unknown_random_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="sdxl-random"):
        make_random_pipeline("sdxl-randon", device="meta")
