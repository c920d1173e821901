"""Published model architectures with random weights, built in code, so that `genie bench` can measure the compute of
Stable Diffusion 1.5, SDXL, SD3.5 medium and Flux with no download (their images are noise; only time and memory
mean anything).

| name | architecture | what differs from the published model |
| --- | --- | --- |
| `sd15-random` | Stable Diffusion 1.5 (UNet, VAE, CLIP ViT-L text tower), 512 px | nothing but the small in-code tokenizer |
| `sdxl-random` | SDXL base 1.0 (UNet, VAE, CLIP ViT-L and OpenCLIP bigG text towers), 1024 px | the tokenizer |
| `sd3-random` | SD3.5 medium (MMDiT-X transformer, VAE, CLIP-L and CLIP-G), 1024 px | without its T5-XXL encoder, as SD3 can run |
| `flux-random` | FLUX.1-dev at its real width (3072) with 2 of 19 double and 4 of 38 single blocks, T5 with 2 of 24 layers | depth |

Every model keeps the published vocabulary sizes (the embedding tables cost what they cost), with the small in-code
CLIP tokenizer, so prompts are as long as real ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

RANDOM_MODELS = {
    "sd15-random": "Stable Diffusion 1.5's architecture, random weights",
    "sdxl-random": "SDXL base 1.0's architecture, random weights",
    "sd3-random": "SD3.5 medium's architecture without its T5-XXL encoder, random weights",
    "flux-random": "FLUX.1-dev's width at reduced depth (2 of 19 double and 4 of 38 single blocks, T5 with 2 of 24 "
    "layers: 12 billion parameters do not fit 24 GiB at float32), random weights",
}
"""The random architectures [`make_random_pipeline`] builds, with what each is."""
SD15_RESOLUTION = 512

_SD_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}
_CLIP_L = {  # CLIP ViT-L/14's text tower
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
_CLIP_G = {  # OpenCLIP ViT-bigG/14's text tower
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}


def _vae(latent_channels: int = 4, **extra: Any) -> dict[str, Any]:
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "latent_channels": latent_channels,
        "norm_num_groups": 32,
        **extra,
    }


def sd15_configs() -> dict[str, dict[str, Any]]:
    """The published Stable Diffusion 1.5 configurations of the UNet, the VAE and the text encoder."""
    return {
        "unet": {
            "sample_size": SD15_RESOLUTION // 8,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            "block_out_channels": (320, 640, 1280, 1280),
            "layers_per_block": 2,
            "cross_attention_dim": 768,
            "attention_head_dim": 8,
            "norm_num_groups": 32,
        },
        "vae": _vae(sample_size=SD15_RESOLUTION, scaling_factor=0.18215),
        "text_encoder": _CLIP_L,
    }


def sdxl_configs() -> dict[str, dict[str, Any]]:
    """SDXL base 1.0's UNet, VAE and two text encoders."""
    return {
        "unet": {
            "sample_size": 128,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            "block_out_channels": (320, 640, 1280),
            "layers_per_block": 2,
            "transformer_layers_per_block": (1, 2, 10),
            "attention_head_dim": (5, 10, 20),
            "cross_attention_dim": 2048,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 2816,
            "norm_num_groups": 32,
        },
        "vae": _vae(sample_size=1024, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": _CLIP_L,
        "text_encoder_2": _CLIP_G,
    }


def sd3_configs() -> dict[str, dict[str, Any]]:
    """SD3.5 medium's MMDiT-X transformer, VAE and CLIP encoders (its T5-XXL is left out)."""
    return {
        "transformer": {
            "sample_size": 128,
            "patch_size": 2,
            "in_channels": 16,
            "out_channels": 16,
            "num_layers": 24,
            "attention_head_dim": 64,
            "num_attention_heads": 24,
            "joint_attention_dim": 4096,
            "caption_projection_dim": 1536,
            "pooled_projection_dim": 2048,
            "pos_embed_max_size": 384,
            "dual_attention_layers": tuple(range(13)),
            "qk_norm": "rms_norm",
        },
        "vae": _vae(
            16,
            sample_size=1024,
            scaling_factor=1.5305,
            shift_factor=0.0609,
            use_quant_conv=False,
            use_post_quant_conv=False,
        ),
        "text_encoder": _CLIP_L,
        "text_encoder_2": _CLIP_G,
    }


FLUX_DEPTH = {"double_blocks": 2, "single_blocks": 4, "t5_layers": 2}
"""What `flux-random` keeps of FLUX.1-dev's depth (19 double and 38 single blocks, 24 T5 layers): 12 billion
parameters do not fit a 24 GiB machine at float32."""


def flux_configs() -> dict[str, dict[str, Any]]:
    """FLUX.1-dev at its real width with [`FLUX_DEPTH`]'s depth, its VAE, CLIP-L and T5 encoders."""
    return {
        "transformer": {
            "patch_size": 1,
            "in_channels": 64,
            "num_layers": FLUX_DEPTH["double_blocks"],
            "num_single_layers": FLUX_DEPTH["single_blocks"],
            "attention_head_dim": 128,
            "num_attention_heads": 24,
            "joint_attention_dim": 4096,
            "pooled_projection_dim": 768,
            "guidance_embeds": True,
            "axes_dims_rope": (16, 56, 56),
        },
        "vae": _vae(
            16,
            sample_size=1024,
            scaling_factor=0.3611,
            shift_factor=0.1159,
            use_quant_conv=False,
            use_post_quant_conv=False,
        ),
        "text_encoder": _CLIP_L,
        "text_encoder_2": {
            "vocab_size": 32128,
            "d_model": 4096,
            "d_kv": 64,
            "d_ff": 10240,
            "num_layers": FLUX_DEPTH["t5_layers"],
            "num_heads": 64,
            "feed_forward_proj": "gated-gelu",
            "pad_token_id": 0,
        },
    }


def clip_encoder(config: dict[str, Any], tokenizer: Any, projection: bool) -> Any:
    """A CLIP text encoder of `config` for `tokenizer` (its special tokens), with a projection head or not."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    text = CLIPTextConfig(
        **config,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModelWithProjection(text) if projection else CLIPTextModel(text)


def _scheduler(name: str) -> Any:
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler

    if name == "sd15-random":
        return DPMSolverMultistepScheduler(**_SD_SCHEDULER, algorithm_type="dpmsolver++")
    if name == "sdxl-random":
        return EulerDiscreteScheduler(**_SD_SCHEDULER)
    if name == "sd3-random":
        return FlowMatchEulerDiscreteScheduler(shift=3.0)
    return FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def _modules(name: str, tokenizer: Any) -> dict[str, Any]:
    """The weighted components of `name`'s pipeline (built on the current default device)."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel, UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel

    configs = {"sd15-random": sd15_configs, "sdxl-random": sdxl_configs, "sd3-random": sd3_configs}.get(
        name, flux_configs
    )()
    modules: dict[str, Any] = {
        "vae": AutoencoderKL(**configs["vae"]),
        "text_encoder": clip_encoder(configs["text_encoder"], tokenizer, projection=name == "sd3-random"),
    }
    if name in ("sd15-random", "sdxl-random"):
        modules["unet"] = UNet2DConditionModel(**configs["unet"])
    if name in ("sdxl-random", "sd3-random"):
        modules["text_encoder_2"] = clip_encoder(configs["text_encoder_2"], tokenizer, projection=True)
    if name == "sd3-random":
        modules["transformer"] = SD3Transformer2DModel(**configs["transformer"])
    if name == "flux-random":
        modules["text_encoder_2"] = T5EncoderModel(T5Config(**configs["text_encoder_2"]))
        modules["transformer"] = FluxTransformer2DModel(**configs["transformer"])
    return modules


def make_random_pipeline(
    name: str, seed: int = 0, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> Any:
    """The image-to-image pipeline of one of [`RANDOM_MODELS`], with random weights, built in code directly on
    `device` (on a GPU in seconds; `"meta"` builds the architecture with no memory), in `dtype` (float32 by
    default)."""
    import torch
    from diffusers import (
        FluxImg2ImgPipeline,
        StableDiffusion3Img2ImgPipeline,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionXLImg2ImgPipeline,
    )

    from .digits.vocab import build_clip_tokenizer

    if name not in RANDOM_MODELS:
        raise ValueError(f"Unknown random architecture {name!r}; choose one of {', '.join(RANDOM_MODELS)}.")
    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(["photo", "the", "digit"])
    scheduler = _scheduler(name)
    with torch.device(device):
        modules = _modules(name, tokenizer)
    tokenizers = {"tokenizer": tokenizer} | ({"tokenizer_2": tokenizer} if "text_encoder_2" in modules else {})
    pipe: Any
    if name == "sd15-random":
        pipe = StableDiffusionImg2ImgPipeline(
            **modules,
            **tokenizers,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    elif name == "sdxl-random":
        pipe = StableDiffusionXLImg2ImgPipeline(
            **modules, **tokenizers, scheduler=scheduler, requires_aesthetics_score=False
        )
    elif name == "sd3-random":
        pipe = StableDiffusion3Img2ImgPipeline(
            **modules, **tokenizers, scheduler=scheduler, text_encoder_3=None, tokenizer_3=None
        )
    else:
        pipe = FluxImg2ImgPipeline(**modules, **tokenizers, scheduler=scheduler)
    return pipe if dtype in (None, torch.float32) else pipe.to(dtype=dtype)


__all__ = [
    "FLUX_DEPTH",
    "RANDOM_MODELS",
    "SD15_RESOLUTION",
    "clip_encoder",
    "flux_configs",
    "make_random_pipeline",
    "sd3_configs",
    "sd15_configs",
    "sdxl_configs",
]
