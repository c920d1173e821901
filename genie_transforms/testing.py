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
from transformers import CLIPTextConfig, CLIPTextModel

from .vocab import build_clip_tokenizer

TINY_RESOLUTION = 32


def make_tiny_pipeline(seed: int = 0) -> StableDiffusionImg2ImgPipeline:
    """A randomly initialised Stable Diffusion img2img pipeline at 32 x 32 px (a few hundred thousand weights)."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=TINY_RESOLUTION // 4,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
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
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
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


def save_tiny_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Build [`make_tiny_pipeline`] and save it (safetensors) to `path`; returns the path."""
    path = Path(path)
    pipe: Any = make_tiny_pipeline(seed)
    pipe.save_pretrained(path, safe_serialization=True)
    return path
