"""Settings of the engine that need no torch: the scheduler names, presets and the step arithmetic of a noise ratio.

The command line imports its choices from here (so `genie --help` stays instant), and the engine validates with
the same functions.
"""

from __future__ import annotations

import dataclasses
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
DTYPES = ("float32", "float16", "bfloat16")
OFFLOAD = ("model", "sequential")
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
ADA_MODES = ("exact", "cheap")
"""GeNIe-Ada's sweeps: `"exact"` generates every grid point in full (the reference rule); `"cheap"` starts every grid
point where the exact sweep does and runs `CHEAP_ADA_STEPS` steps of a short schedule from there, then generates in
full at r* only."""
CHEAP_ADA_STEPS = 5
"""The cheap sweep's short steps per grid point (chosen by measurement: README, Performance)."""
IMAGE_SETTINGS = (
    "num_inference_steps",
    "guidance_scale",
    "scheduler",
    "timestep_spacing",
    "resolution",
    "noise_rule",
    "dtype",
    "model_family",
)
"""The generation settings that change an image besides the model's weights: what noise tables record per row and
dataset cards list (the model family is known from the model)."""
SCHEDULER_CHOICES = tuple(SCHEDULERS)
PRESET_CHOICES = tuple(PRESETS)


def _check_int(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"`{name}` must be an int >= {least}, got {value!r}.")


@dataclasses.dataclass(frozen=True)
class GenerationSettings:
    """The generation settings of a `GenieGenerator`, validated once when made and never changed in place
    (`replace` makes another). `None` means the model family's default (`FAMILY_DEFAULTS`; the scheduler: the
    paper's DPM-Solver++ for Stable Diffusion and SDXL, the model's own flow-matching one for SD3 and Flux)."""

    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    noise_rule: str = "steps"
    timestep_spacing: str | None = None
    resolution: int | None = None
    batch_size: int = 8
    min_image_size: int = 8
    progress: bool = True
    channels_last: bool = False
    compile_unet: bool = False

    def __post_init__(self) -> None:
        if self.num_inference_steps is not None:
            _check_int("num_inference_steps", self.num_inference_steps, 1)
        guidance = self.guidance_scale
        if guidance is not None and (
            isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not guidance >= 0
        ):
            raise ValueError(f"`guidance_scale` must be a number >= 0 (0 or 1 turns guidance off), got {guidance!r}.")
        _check_int("batch_size", self.batch_size, 1)
        _check_int("min_image_size", self.min_image_size, 1)
        if self.resolution is not None:
            _check_int("resolution", self.resolution, 8)
        if self.noise_rule not in NOISE_RULES:
            raise ValueError(f"`noise_rule` must be one of {NOISE_RULES}, got {self.noise_rule!r}.")
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {self.scheduler!r}; choose one of {sorted(SCHEDULERS)}.")
        if self.timestep_spacing is not None and self.timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(
                f"`timestep_spacing` must be one of {TIMESTEP_SPACINGS} or None, got {self.timestep_spacing!r}."
            )

    @classmethod
    def make(cls, preset: str | None = None, **settings: Any) -> GenerationSettings:
        """Settings from a preset (`PRESETS`) and explicit values, which win; unknown names are refused."""
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
            settings = {**PRESETS[preset], **settings}
        return cls().replace(**settings)

    def replace(self, **overrides: Any) -> GenerationSettings:
        """These settings with `overrides` (validated); an unknown name is a `TypeError` naming the settings."""
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise TypeError(f"Unknown setting(s) {unknown}; the settings are {list(SETTINGS)}.")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SETTINGS = tuple(f.name for f in dataclasses.fields(GenerationSettings))
"""What [`GenieGenerator.with_settings`] may change (the weights stay shared)."""


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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`noise_ratio` must be a float in (0, 1], got {noise_ratio!r}.")
    r = float(value)
    if not (math.isfinite(r) and 0.0 < r <= 1.0):
        raise ValueError(f"`noise_ratio` should be in (0.0, 1.0] but is {r}.")
    if denoising_steps(r, num_inference_steps) == 0:
        raise ValueError(
            f"`noise_ratio` {r} with num_inference_steps={num_inference_steps} runs int({num_inference_steps} * {r}) = 0 "
            f"denoising steps. Use noise_ratio >= {1 / num_inference_steps:.4g} (1 / steps) or more steps."
        )
    return r


__all__ = [
    "DTYPES",
    "FAMILY_DEFAULTS",
    "FLOW_SCHEDULERS",
    "IMAGE_SETTINGS",
    "NOISE_RULES",
    "OFFLOAD",
    "PRESETS",
    "PRESET_CHOICES",
    "PRESET_FAMILIES",
    "SCHEDULERS",
    "SCHEDULER_CHOICES",
    "SETTINGS",
    "TIMESTEP_SPACINGS",
    "GenerationSettings",
    "as_scalar",
    "check_noise_ratio",
    "denoising_steps",
]
