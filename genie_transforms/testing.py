"""A tiny random Stable Diffusion img2img pipeline, built fully in code, for tests (ours and yours).

Examples:
    >>> from genie_transforms.testing import save_tiny_pipeline
    >>> from genie_transforms import GenieGenerator
    >>> path = save_tiny_pipeline("/tmp/tiny-sd")                       # doctest: +SKIP
    >>> gen = GenieGenerator.from_pretrained(path, num_inference_steps=2)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel

from .digits.vocab import build_clip_tokenizer

TINY_RESOLUTION = 32
TINY_UNET: dict[str, Any] = {
    "sample_size": TINY_RESOLUTION // 4,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
}
"""The tiny UNet's shape, shared by the Stable Diffusion and SDXL test pipelines."""


def make_tiny_pipeline(seed: int = 0) -> StableDiffusionImg2ImgPipeline:
    """A randomly initialised Stable Diffusion img2img pipeline at 32 x 32 px (a few hundred thousand weights)."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **TINY_UNET,
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=TINY_RESOLUTION,
    )
    tokenizer = build_clip_tokenizer(["photo", "the", "digit"])
    text_encoder = _clip(tokenizer, intermediate_size=64)
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        algorithm_type="dpmsolver++",
        steps_offset=1,
    )
    return StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


TINY_FAMILIES = ("sd", "sd-v", "sdxl", "sd3", "flux-dev", "flux-schnell")
"""What [`make_tiny_family_pipeline`] builds: Stable Diffusion (epsilon and v-prediction), SDXL, SD3, and Flux
(dev: guidance embedded; schnell: none), each tiny, random and at 32 px, as diffusers' own tests build them."""


def _clip(tokenizer: Any, projection: bool = False, intermediate_size: int = 37) -> Any:
    """A tiny CLIP text encoder (hidden size 32) for `tokenizer`, with a projection head for SDXL's and SD3's."""
    from .architectures import clip_encoder

    config = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "projection_dim": 32,
    }
    return clip_encoder(config, tokenizer, projection)


def _flow_vae(latent_channels: int) -> AutoencoderKL:
    return AutoencoderKL(
        sample_size=TINY_RESOLUTION,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )


def make_tiny_family_pipeline(family: str = "sd", seed: int = 0) -> Any:
    """A tiny random image-to-image pipeline of one of [`TINY_FAMILIES`], at 32 x 32 px, built in code."""
    from diffusers import (
        EulerDiscreteScheduler,
        FlowMatchEulerDiscreteScheduler,
        FluxImg2ImgPipeline,
        FluxTransformer2DModel,
        SD3Transformer2DModel,
        StableDiffusion3Img2ImgPipeline,
        StableDiffusionXLImg2ImgPipeline,
    )
    from transformers import T5Config, T5EncoderModel

    if family not in TINY_FAMILIES:
        raise ValueError(f"Unknown tiny family {family!r}; choose one of {TINY_FAMILIES}.")
    if family in ("sd", "sd-v"):
        pipe: Any = make_tiny_pipeline(seed)
        if family == "sd-v":  # Stable Diffusion 2.x's v-prediction
            pipe.scheduler = DPMSolverMultistepScheduler.from_config(
                pipe.scheduler.config, prediction_type="v_prediction"
            )
        return pipe
    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(["photo", "the", "digit"])
    if family == "sdxl":
        unet = UNet2DConditionModel(
            **TINY_UNET,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=6 * 8 + 32,  # six size ids and the pooled text embedding
            cross_attention_dim=64,  # the two text encoders' hidden states, concatenated
            norm_num_groups=8,
        )
        return StableDiffusionXLImg2ImgPipeline(
            vae=make_tiny_pipeline(seed).vae,  # type: ignore[attr-defined]
            text_encoder=_clip(tokenizer),
            text_encoder_2=_clip(tokenizer, projection=True),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=EulerDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
            ),
            requires_aesthetics_score=False,
        )
    if family == "sd3":
        mmdit: Any = SD3Transformer2DModel(
            sample_size=TINY_RESOLUTION,
            patch_size=1,
            in_channels=4,
            num_layers=1,
            attention_head_dim=8,
            num_attention_heads=4,
            caption_projection_dim=32,
            joint_attention_dim=32,
            pooled_projection_dim=64,
            out_channels=4,
        )
        return StableDiffusion3Img2ImgPipeline(
            transformer=mmdit,
            scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
            vae=_flow_vae(4),
            text_encoder=_clip(tokenizer, projection=True),
            tokenizer=tokenizer,
            text_encoder_2=_clip(tokenizer, projection=True),
            tokenizer_2=tokenizer,
            text_encoder_3=None,  # SD3 runs without its T5 encoder
            tokenizer_3=None,
        )
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,  # 2 x 2 packed patches of a one-channel latent
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=family == "flux-dev",
    )
    t5 = T5EncoderModel(
        T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, pad_token_id=0)
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=family == "flux-dev", base_shift=0.5, max_shift=1.15, shift=1.0
    )
    return FluxImg2ImgPipeline(
        scheduler=scheduler,
        vae=_flow_vae(1),
        text_encoder=_clip(tokenizer),
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=tokenizer,
        transformer=transformer,
    )


def save_tiny_pipeline(path: str | Path, seed: int = 0, family: str = "sd") -> Path:
    """Build a tiny pipeline ([`make_tiny_pipeline`], or another family's with [`make_tiny_family_pipeline`]) and
    save it (safetensors) to `path`; returns the path."""
    path = Path(path)
    pipe: Any = make_tiny_pipeline(seed) if family == "sd" else make_tiny_family_pipeline(family, seed)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


__all__ = [
    "TINY_FAMILIES",
    "TINY_RESOLUTION",
    "TINY_UNET",
    "make_tiny_family_pipeline",
    "make_tiny_pipeline",
    "save_tiny_pipeline",
]
