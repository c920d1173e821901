"""Settings of the engine that need no torch: the scheduler names, presets and the step arithmetic of a noise ratio.

The command line imports its choices from here (so `genie --help` stays instant), and the engine validates with
the same functions.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "dpmsolver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "lcm": ("LCMScheduler", {}),
    "pipeline": ("", {}),
}
TIMESTEP_SPACINGS = ("linspace", "leading", "trailing")
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"num_inference_steps": 50, "guidance_scale": 7.5, "scheduler": "dpmsolver++"},
    # chosen by measurement (README, Performance): label consistency at r = 0.8 within a point of "paper"
    "fast": {"num_inference_steps": 20, "guidance_scale": 7.5, "scheduler": "dpmsolver++"},
    # SD-Turbo / SDXL-Turbo (adversarially distilled): few steps, no guidance, trailing spacing
    "turbo": {"num_inference_steps": 4, "guidance_scale": 0.0, "scheduler": "euler", "timestep_spacing": "trailing"},
    # LCM / LCM-LoRA (consistency distilled): the LCM scheduler, light guidance
    "lcm": {"num_inference_steps": 8, "guidance_scale": 1.5, "scheduler": "lcm"},
    # FLUX.1-schnell (timestep-distilled): 4 steps of its own flow-matching scheduler, no guidance
    "flux-schnell": {"num_inference_steps": 4, "guidance_scale": 0.0, "scheduler": "pipeline"},
}
SETTINGS = (
    "num_inference_steps",
    "guidance_scale",
    "scheduler",
    "noise_rule",
    "timestep_spacing",
    "resolution",
    "batch_size",
    "min_image_size",
    "progress",
    "channels_last",
    "compile_unet",
)
"""What [`GenieGenerator.with_settings`] may change (the weights stay shared)."""
FAMILY_DEFAULTS: dict[str, dict[str, float]] = {
    "sd": {"num_inference_steps": 50, "guidance_scale": 7.5},  # the paper's
    "sdxl": {"num_inference_steps": 50, "guidance_scale": 7.5},  # the paper's settings, as for SD
    "sd3": {"num_inference_steps": 28, "guidance_scale": 7.0},  # the SD3 / SD3.5 model cards'
    "flux": {"num_inference_steps": 28, "guidance_scale": 3.5},  # FLUX.1-dev's (schnell: preset="flux-schnell")
}
"""The steps and guidance a generator uses when none are set, by model family."""
FLOW_SCHEDULERS = ("pipeline", "euler")
"""What flow-matching families (SD3, Flux) accept: their own `FlowMatchEulerDiscreteScheduler` (the default there);
the others predict noise, not velocity, and are refused for them."""
PRESET_FAMILIES: dict[str, tuple[str, ...]] = {
    "paper": ("sd", "sdxl"),
    "fast": ("sd", "sdxl"),
    "turbo": ("sd", "sdxl"),
    "lcm": ("sd", "sdxl"),
    "flux-schnell": ("flux",),
}
"""The model families each preset is made for; another family is refused when the model loads."""
NOISE_RULES = ("steps", "sd15-snr")
"""How a noise ratio r picks a row's start: `"steps"` (the default, the paper's) runs `denoising_steps(r, n)` of the
model's own schedule; `"sd15-snr"` starts where the model's schedule has the signal-to-noise ratio that Stable
Diffusion 1.5 has at r, so that r (and Ada grids, and noise tables) mean the same destruction in every family."""
SCHEDULER_CHOICES = tuple(SCHEDULERS)
PRESET_CHOICES = tuple(PRESETS)


def check_settings(num_inference_steps: object, guidance_scale: object, batch_size: object) -> None:
    """Clear errors for bad generation settings, at construction."""
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise ValueError(f"`num_inference_steps` must be an int >= 1, got {num_inference_steps!r}.")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) or not guidance_scale >= 0:
        raise ValueError(f"`guidance_scale` must be a number >= 0 (0 or 1 turns guidance off), got {guidance_scale!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1, got {batch_size!r}.")


def denoising_steps(noise_ratio: float, num_inference_steps: int) -> int:
    """The denoising steps a row with noise ratio r runs out of n: ``floor(n * r)``, computed exactly on r rounded to
    6 decimals, so that a ratio stored as float32 (0.7 -> 0.699999988) runs the same steps as the exact value. It is
    diffusers' ``int(n * strength)`` wherever that product is not perturbed by float rounding (e.g. 0.7 x 50 = 35;
    float32 0.7 gives 34 in diffusers, 35 here)."""
    r = Fraction(round(float(noise_ratio) * 1_000_000), 1_000_000)
    return min(int(r * num_inference_steps), num_inference_steps)


def as_scalar(value: Any) -> Any:
    """A Python scalar from a numpy scalar, 0-d array or 0-d tensor (else the value unchanged)."""
    item = getattr(value, "item", None)
    return item() if getattr(value, "ndim", None) == 0 and callable(item) else value


def check_noise_ratio(noise_ratio: object, num_inference_steps: int) -> float:
    """Validate one noise ratio r: a real number in (0, 1] (numpy and torch scalars too) with at least one
    denoising step, ``denoising_steps(r, steps) >= 1``."""
    value = as_scalar(noise_ratio)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"`noise_ratio` must be a float in (0, 1], got {noise_ratio!r}.")
    r = float(value)
    if not 0.0 < r <= 1.0:
        raise ValueError(f"`noise_ratio` should be in (0.0, 1.0] but is {r}.")
    if denoising_steps(r, num_inference_steps) == 0:
        raise ValueError(
            f"`noise_ratio` {r} with num_inference_steps={num_inference_steps} runs int({num_inference_steps} * {r}) = 0 "
            f"denoising steps. Use noise_ratio >= {1 / num_inference_steps:.4g} (1 / steps) or more steps."
        )
    return r


__all__ = [
    "FAMILY_DEFAULTS",
    "FLOW_SCHEDULERS",
    "NOISE_RULES",
    "PRESETS",
    "PRESET_CHOICES",
    "PRESET_FAMILIES",
    "SCHEDULERS",
    "SCHEDULER_CHOICES",
    "SETTINGS",
    "TIMESTEP_SPACINGS",
    "as_scalar",
    "check_noise_ratio",
    "check_settings",
    "denoising_steps",
]
