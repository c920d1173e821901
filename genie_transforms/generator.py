"""`GenieGenerator`: the one engine that owns the diffusion pipeline and makes hard negatives."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import numbers
import os
import threading
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__
from .errors import GenieWarning
from .filtering import HardNegativeFilter
from .images import (
    ImageSpec,
    content_hash,
    fit_square,
    join_batch,
    pil_to_tensor,
    restore,
    split_batch,
    tensor_to_pil,
    to_rgb,
)
from .loading import LoraWeights, ModelSpec, ResolvedModel, TextualInversion, adapter_records, make_spec
from .prompts import DEFAULT_TEMPLATE, PromptMap
from .seeding import NOISE_SCHEME, SEED_SCHEME, check_seed, derive_seed, row_noise, torch_generator

logger = logging.getLogger(__name__)

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
}
SETTINGS = (
    "num_inference_steps",
    "guidance_scale",
    "scheduler",
    "timestep_spacing",
    "resolution",
    "batch_size",
    "min_image_size",
    "progress",
    "channels_last",
    "compile_unet",
)
"""What [`GenieGenerator.with_settings`] may change (the weights stay shared)."""


_FORKED = False


def _after_fork_in_child() -> None:
    global _FORKED
    _FORKED = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _single_thread_after_fork() -> None:
    """In a process forked after torch ran (`multiprocessing.Pool`'s default on Linux), the parent's OpenMP threads
    are gone and a multi-threaded torch op hangs forever; run torch on one thread there (as DataLoader workers do)."""
    if _FORKED and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        warnings.warn(
            "GenieGenerator runs in a forked process: torch uses one thread here, since a forked child cannot use the "
            "parent's threads. For speed, start workers with the 'spawn' method (or use DataLoader workers).",
            GenieWarning,
            stacklevel=3,
        )


class UnknownLabelError(KeyError, ValueError):
    """A label that the prompt map does not know (a `KeyError` and a `ValueError`, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class GenieRecord:
    """Provenance of one generated image: everything that determines it."""

    source_id: str
    target: int
    target_name: str
    prompt: str
    prompt_template: str | None
    noise_ratio: float
    steps_run: int
    start_timestep: int
    text_to_image: bool
    seed: int
    noise_seed: int
    seed_scheme: str
    noise_scheme: str
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    timestep_spacing: str
    resolution: int
    dtype: str
    model_id: str | None
    model_revision: str | None
    model_variant: str | None
    adapters: tuple[dict[str, Any], ...]
    library_version: str
    filter_rule: str | None = None
    filter_kept: bool | None = None
    filter_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenieOutput:
    """What [`GenieGenerator.generate`] returns: the images (in the input's form) and one record per row."""

    images: Any
    records: list[GenieRecord]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        """The label of each generated image: its target class."""
        return [r.target for r in self.records]

    def kept(self) -> GenieOutput:
        """The rows a [`HardNegativeFilter`] kept (all rows when no filter ran), as a list of images."""
        keep = [i for i, r in enumerate(self.records) if r.filter_kept is not False]
        return GenieOutput(images=[self.images[i] for i in keep], records=[self.records[i] for i in keep])


@dataclass
class GenieSweep:
    """What [`GenieGenerator.sweep`] returns: each (source, target) pair generated at every ratio of a grid with the
    pair's one noise tensor (one trajectory per pair), held pair by pair."""

    ratios: tuple[float, ...]
    images: list[list[Any]]  # images[i][j]: pair i at ratios[j]
    records: list[list[GenieRecord]]

    def __len__(self) -> int:
        return len(self.images)

    def flat(self) -> list[Any]:
        """Every image, pair by pair (pair 0 at each ratio, then pair 1, ...)."""
        return [image for row in self.images for image in row]

    def pick(self, choices: Sequence[int]) -> GenieOutput:
        """One image per pair: pair i's at `ratios[choices[i]]`."""
        if len(choices) != len(self):
            raise ValueError(f"Got {len(choices)} choices for {len(self)} pairs.")
        return GenieOutput(
            images=[row[j] for row, j in zip(self.images, choices)],
            records=[row[j] for row, j in zip(self.records, choices)],
        )


def apply_filter(
    out: GenieOutput,
    hard_negative_filter: HardNegativeFilter,
    source_labels: Sequence[int] | None,
) -> GenieOutput:
    """`out` with each record carrying the filter's decision and score (the images are unchanged)."""
    decisions = hard_negative_filter(list(out.images), out.labels, source_labels)
    rule = json.dumps(hard_negative_filter.config, sort_keys=True)
    records = [
        dataclasses.replace(r, filter_rule=rule, filter_kept=d.kept, filter_score=d.score)
        for r, d in zip(out.records, decisions)
    ]
    return GenieOutput(images=out.images, records=records)


def _check_settings(num_inference_steps: object, guidance_scale: object, batch_size: object) -> None:
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


def _strength(steps_run: int, num_inference_steps: int) -> float:
    """A `strength` for which diffusers runs exactly `steps_run` steps (``int(n * s) == steps_run``, with margin)."""
    return 1.0 if steps_run >= num_inference_steps else (steps_run + 0.5) / num_inference_steps


def _scalar(value: Any) -> Any:
    """A Python scalar from a numpy scalar, 0-d array or 0-d / one-element tensor (else the value unchanged)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.ndim <= 1:
        return value.item() if value.ndim == 0 else value
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def check_noise_ratio(noise_ratio: object, num_inference_steps: int) -> float:
    """Validate one noise ratio r: a real number in (0, 1] (numpy and torch scalars too) with at least one
    denoising step, ``denoising_steps(r, steps) >= 1``."""
    value = _scalar(noise_ratio)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
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


def _check_target(value: Any) -> int | str:
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"A target must be an int class index or a class name, got {value!r}.")
    return value if isinstance(value, str) else int(value)


@dataclass
class _Rows:
    """One validated call: per-row values, and the cached latents and prompt embeddings they index."""

    specs: list[ImageSpec]
    batch_kind: str | None
    keys: list[str]
    ids: list[str]
    targets: list[int]
    names: list[str]
    ratios: list[float]
    prompts: list[str]
    templates: list[str | None]
    seed: int
    noise_seeds: list[int]
    latents: dict[str, torch.Tensor]
    embeds: dict[str, dict[str, torch.Tensor]]
    timing: dict[float, tuple[int, int]]
    resolution: int

    def chunks(self, batch_size: int):
        """(r, row indices) groups: rows with the same r, at most `batch_size` at a time, in r order."""
        for r in sorted(set(self.ratios)):
            group = [i for i, ri in enumerate(self.ratios) if ri == r]
            for start in range(0, len(group), batch_size):
                yield r, group[start : start + batch_size]

    def embeddings(self, chunk: list[int]) -> dict[str, torch.Tensor]:
        """The prompt-embedding keyword arguments of the pipeline for these rows."""
        names = self.embeds[self.prompts[chunk[0]]]
        return {name: torch.cat([self.embeds[self.prompts[i]][name] for i in chunk]) for name in names}


class _PipelineSlot:
    """The one door to the lazily loaded weights, shared by a generator and those derived from it
    ([`GenieGenerator.with_settings`]): it resolves the model without loading it, loads it once, and serialises
    as configuration (a spec) or as the caller's own pipeline."""

    def __init__(self, spec: ModelSpec | None = None, pipe: Any = None) -> None:
        self.spec, self.source = spec, pipe
        self.pipe: Any = pipe
        self.resolved: ResolvedModel | None = None
        self.adapters: tuple[dict[str, Any], ...] | None = None if spec is not None else ()
        self.lock = threading.RLock()  # one call at a time on the shared pipeline and scheduler

    def resolve(self) -> ResolvedModel | None:
        if self.spec is not None and self.resolved is None:
            from .loading import resolve_model

            self.resolved = resolve_model(self.spec)
        return self.resolved

    def adapter_records(self) -> tuple[dict[str, Any], ...]:
        if self.adapters is None:
            self.adapters = () if self.spec is None else adapter_records(self.spec)
        return self.adapters

    def get(self) -> Any:
        with self.lock:
            if self.pipe is None:
                from .loading import load_img2img_pipeline

                assert self.spec is not None  # a slot without a spec holds the caller's pipeline
                self.pipe, self.resolved = load_img2img_pipeline(self.spec)
            return self.pipe

    def __getstate__(self) -> dict[str, Any]:
        state = {"spec": self.spec, "source": self.source, "resolved": self.resolved, "adapters": self.adapters}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        _PipelineSlot.__init__(self, state["spec"], state["source"])
        self.resolved, self.adapters = state["resolved"], state["adapters"]


def _prepare_latents(
    self: Any,
    image: torch.Tensor,
    timestep: torch.Tensor,
    batch_size: int,
    num_images_per_prompt: int,
    dtype: torch.dtype,
    device: torch.device,
    generator: Any = None,
    *args: Any,
    **kwargs: Any,
) -> torch.Tensor:
    """The engine's `prepare_latents` for its own copy of the pipeline: the source latents (already encoded) noised
    to `timestep` with the rows' own noise (drawn from their 63-bit seeds); at r = 1, pure noise (text-to-image,
    nothing of the source is left). Called without the engine's noise, it is the pipeline's own."""
    if self._genie_noise is None:
        return type(self).prepare_latents(
            self, image, timestep, batch_size, num_images_per_prompt, dtype, device, generator, *args, **kwargs
        )
    noise, pure = self._genie_noise
    noise = noise.to(device=device, dtype=dtype)
    if pure:
        return noise * self.scheduler.init_noise_sigma
    return self.scheduler.add_noise(image.to(device=device, dtype=dtype), noise, timestep)


class GenieGenerator:
    """Generates GeNIe hard negatives: a source image noised to ratio r and denoised with the target's prompt.

    Settings default to the paper (docs/guides/method.md): DPM-Solver++ (2M) with 50 steps, classifier-free guidance 7.5
    with an empty unconditional prompt, VAE posterior mode, centre crop to the model's resolution, no safety
    checker. Each generated image is labelled with its **target** class. At r = 1 the image starts from pure
    noise (text-to-image: the source does not enter it).

    Args:
        pipe (`DiffusionPipeline`):
            An image-to-image diffusers pipeline (Stable Diffusion 1.x/2.x, SDXL, Turbo ...); a text-to-image one is
            converted with `AutoPipelineForImage2Image.from_pipe` (weights shared). Your pipeline is not modified.
        model_id (`str`, *optional*):
            Recorded in provenance; taken from the pipeline's config when not given.
        model_revision (`str`, *optional*):
            Recorded in provenance (the Hub commit, or a content hash of a local folder, for [`from_pretrained`]).
        prompt_template (`str`, *optional*):
            The template the model was trained with (one `{}`); a model folder declares it in `genie.json`.
        num_inference_steps (`int`, *optional*, defaults to 50):
            Steps of the full schedule; a row with ratio r runs [`denoising_steps`]`(r, steps)` of them.
        guidance_scale (`float`, *optional*, defaults to 7.5):
            Classifier-free guidance; 0 (or 1) turns it off, as Turbo/LCM models need.
        scheduler (`str`, *optional*, defaults to `"dpmsolver++"`):
            One of `"dpmsolver++"`, `"ddim"`, `"euler"`, `"lcm"`, or `"pipeline"` to keep the pipeline's own.
        timestep_spacing (`str`, *optional*):
            `"linspace"`, `"leading"` or `"trailing"` (Turbo models want `"trailing"`); the scheduler's own by default.
        resolution (`int`, *optional*):
            Side of the square the source is resized and centre-cropped to; the model's native size by default.
        batch_size (`int`, *optional*, defaults to 8):
            Rows per pipeline call; results do not depend on it.
        min_image_size (`int`, *optional*, defaults to 8):
            Shorter side, in pixels, below which a source image is refused as too small.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar over the rows.
        channels_last (`bool`, *optional*, defaults to `False`):
            Put the UNet in channels-last memory format (often faster on GPUs; measure with `genie bench`).
        compile_unet (`bool`, *optional*, defaults to `False`):
            `torch.compile` the UNet (a one-time compile cost per shape; measure with `genie bench`).

    Examples:
        >>> from genie_transforms import GenieGenerator, PromptMap
        >>> gen = GenieGenerator.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")  # doctest: +SKIP
        >>> out = gen.generate([img_cat], targets=[1], noise_ratio=0.8, seed=0,
        ...                    prompts=PromptMap(["cat", "dog"]))                            # doctest: +SKIP
        >>> out.images[0], out.records[0].target_name                                        # doctest: +SKIP
        (<PIL.Image.Image ...>, 'dog')
    """

    def __init__(
        self,
        pipe: Any = None,
        *,
        model_id: str | None = None,
        model_revision: str | None = None,
        prompt_template: str | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        scheduler: str = "dpmsolver++",
        timestep_spacing: str | None = None,
        resolution: int | None = None,
        batch_size: int = 8,
        min_image_size: int = 8,
        progress: bool = True,
        channels_last: bool = False,
        compile_unet: bool = False,
        _slot: _PipelineSlot | None = None,
    ) -> None:
        if pipe is None and _slot is None:
            raise TypeError(
                "GenieGenerator needs a diffusers pipeline; or use GenieGenerator.from_pretrained(model_id)."
            )
        if prompt_template is not None:
            PromptMap(["x"], template=prompt_template)  # validates the template
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.scheduler = scheduler
        self.timestep_spacing = timestep_spacing
        self.resolution_setting = resolution
        self.batch_size = batch_size
        self.min_image_size = min_image_size
        self.progress = progress
        self.channels_last = channels_last
        self.compile_unet = compile_unet
        self._validate()
        self.guidance_scale = float(guidance_scale)
        self._slot = _slot if _slot is not None else _PipelineSlot(pipe=pipe)
        self._model_id = model_id
        self._model_revision = model_revision
        self._prompt_template = prompt_template
        self._pipe: Any = None
        self._prompt_cache: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}
        self._warned_templates: set[str] = set()
        if pipe is not None:
            self.load()

    def _validate(self) -> None:
        _check_settings(self.num_inference_steps, self.guidance_scale, self.batch_size)
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {self.scheduler!r}; choose one of {sorted(SCHEDULERS)}.")
        if self.timestep_spacing is not None and self.timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(
                f"`timestep_spacing` must be one of {TIMESTEP_SPACINGS} or None, got {self.timestep_spacing!r}."
            )
        res = self.resolution_setting
        if res is not None and (isinstance(res, bool) or not isinstance(res, int) or res < 8):
            raise ValueError(f"`resolution` must be an int >= 8 (a multiple of the VAE's scale), got {res!r}.")
        if isinstance(self.min_image_size, bool) or not isinstance(self.min_image_size, int) or self.min_image_size < 1:
            raise ValueError(f"`min_image_size` must be an int >= 1, got {self.min_image_size!r}.")

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        model_id_or_path: str | Path,
        *,
        revision: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        variant: str | None = None,
        offload: str | None = None,
        lora: str | LoraWeights | Sequence[str | LoraWeights] | None = None,
        textual_inversion: str | TextualInversion | Sequence[str | TextualInversion] | None = None,
        allow_pickle_weights: bool = False,
        preset: str | None = None,
        **settings: Any,
    ) -> GenieGenerator:
        """A generator for a model on the Hub or in a local folder, loaded lazily on first use.

        Args:
            model_id_or_path (`str` or `Path`):
                A Hub model id (`"stable-diffusion-v1-5/stable-diffusion-v1-5"`), a folder saved with
                `save_pretrained`, or `"genie-tiny-digits"` (the model the package ships).
            revision (`str`, *optional*):
                A Hub branch, tag or commit; pin a commit for reproducible results. The resolved commit is recorded.
            device (`str`, *optional*):
                `"cuda"` when available, else `"cpu"`.
            dtype (`torch.dtype` or `str`, *optional*):
                float16 on CUDA (as the paper), float32 on CPU; right on every supported diffusers version.
            variant (`str`, *optional*):
                A weights variant such as `"fp16"`: only those files are downloaded and loaded.
            offload (`str`, *optional*):
                `"model"` (`enable_model_cpu_offload`) or `"sequential"` for GPUs with little memory (needs CUDA
                and `accelerate`).
            lora (`str`, `LoraWeights` or a list, *optional*):
                LoRA weights (`"SOURCE"` or `"SOURCE:SCALE"`: a .safetensors file, a folder or a Hub id).
            textual_inversion (`str`, `TextualInversion` or a list, *optional*):
                Learned token embeddings (`"SOURCE"` or `"SOURCE:<token>"`); prompts can then name the tokens.
            allow_pickle_weights (`bool`, *optional*, defaults to `False`):
                Weights are loaded from safetensors only; set `True` to accept pickled `.bin`/`.ckpt` files from a
                source you trust.
            preset (`str`, *optional*):
                `"paper"` (the defaults), `"fast"` (fewer steps, chosen by measurement; see the README's
                Performance section), `"turbo"` (SD-Turbo / SDXL-Turbo) or `"lcm"` (LCM / LCM-LoRA models).
                Settings you pass explicitly win over the preset's.
            settings:
                Generation settings of [`GenieGenerator`] (`num_inference_steps`, `guidance_scale`, ...).
        """
        spec = make_spec(
            model_id_or_path,
            revision=revision,
            device=device,
            dtype=dtype,
            variant=variant,
            offload=offload,
            allow_pickle_weights=allow_pickle_weights,
            lora=lora,
            textual_inversion=textual_inversion,
        )
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
            settings = {**PRESETS[preset], **settings}
        unknown = sorted(set(settings) - set(SETTINGS) - {"model_id", "model_revision", "prompt_template"})
        if unknown:
            raise TypeError(f"Unknown setting(s) {unknown}; the settings are {list(SETTINGS)}.")
        settings.setdefault("model_id", spec.model)
        return cls(_slot=_PipelineSlot(spec=spec), **settings)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenieGenerator:
        """Rebuild a generator from its [`config`] (what transforms serialise); the model loads lazily."""
        if not isinstance(config, Mapping) or "model" not in config:
            raise ValueError(f"A generator config needs a `model` entry (see GenieGenerator.config), got {config!r}.")
        model = config["model"]
        spec = ModelSpec.from_dict(dict(model)) if isinstance(model, Mapping) else make_spec(model)
        settings = {k: v for k, v in config.get("settings", {}).items() if k in SETTINGS}
        return cls(_slot=_PipelineSlot(spec=spec), model_id=spec.model, **settings)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-friendly configuration: the model reference (id or path, revision, dtype, variant, adapters ...)
        and the settings; never the weights. [`from_config`] restores it."""
        if self._slot.spec is None:
            raise ValueError(
                "This GenieGenerator wraps an in-memory pipeline; build it with from_pretrained to serialise."
            )
        settings = {k: getattr(self, k if k != "resolution" else "resolution_setting") for k in SETTINGS}
        settings.pop("progress")
        return {"model": self._slot.spec.to_dict(), "settings": settings}

    def load(self) -> GenieGenerator:
        """Load the pipeline now (it loads on first use otherwise) and return the generator. The weights are shared
        with every generator derived by [`with_settings`]."""
        with self._slot.lock:
            if self._pipe is None:
                self._pipe = self._derive(self._slot.get())
        return self

    @property
    def pipe(self) -> Any:
        """The engine's image-to-image pipeline (loaded on first access)."""
        return self.load()._pipe

    @property
    def is_loaded(self) -> bool:
        return self._pipe is not None

    def with_settings(self, **overrides: Any) -> GenieGenerator:
        """A generator with other settings (e.g. `num_inference_steps=10`) that shares this one's weights, prompt
        cache and lock; validated like the constructor."""
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise TypeError(f"with_settings() got unknown setting(s) {unknown}; the settings are {list(SETTINGS)}.")
        clone = copy.copy(self)
        for name, value in overrides.items():
            setattr(clone, "resolution_setting" if name == "resolution" else name, value)
        clone._validate()
        clone.guidance_scale = float(clone.guidance_scale)
        clone._pipe = None
        clone._warned_templates = set()
        if self._pipe is not None:
            clone.load()
        return clone

    def clear_cache(self) -> None:
        """Forget the cached prompt embeddings (they are kept across calls)."""
        self._prompt_cache.clear()

    def resolve_revision(self) -> str | None:
        """The model revision to record, resolved without loading the weights (the Hub commit of a cached model,
        or the content hash of a local folder), so that fingerprints and job settings name it before any work."""
        resolved = self._slot.resolve() if self._model_revision is None else None
        if resolved is not None:
            self._model_revision = resolved.revision
        return self._model_revision

    @property
    def model_id(self) -> str | None:
        if self._model_id is None and self._slot.pipe is not None:
            self._model_id = getattr(self._slot.pipe.config, "_name_or_path", None) or type(self._slot.pipe).__name__
        return self._model_id

    @property
    def model_revision(self) -> str | None:
        return self.resolve_revision()

    @property
    def prompt_template(self) -> str | None:
        """The prompt template the model declares (its folder's `genie.json`), or None."""
        resolved = self._slot.resolve() if self._prompt_template is None else None
        return resolved.prompt_template if resolved is not None else self._prompt_template

    def prompt_map(self, prompts: PromptMap | Sequence[str] | Mapping[int, str]) -> PromptMap:
        """The prompt map to generate with: a list or dict of class names gets the model's declared template (else
        `"a photo of a {}."`); a `PromptMap` is used as it is, with a warning (once) when its template differs
        from the one the model declares."""
        declared = self.prompt_template
        if not isinstance(prompts, PromptMap):
            return PromptMap(prompts, template=declared or DEFAULT_TEMPLATE)
        uses_template = any(label not in prompts.overrides for label in prompts.labels)
        if (
            declared
            and uses_template
            and prompts.template != declared
            and prompts.template not in self._warned_templates
        ):
            self._warned_templates.add(prompts.template)
            warnings.warn(
                f"The prompt template {prompts.template!r} differs from the one {self.model_id!r} declares "
                f"({declared!r}); its images may not show their class. Build the prompts with "
                f"PromptMap(names, template={declared!r}), or pass class names and let the model's template apply.",
                GenieWarning,
                stacklevel=3,
            )
        return prompts

    def _derive(self, base: Any) -> Any:
        """The engine's own copy of `base` (weights shared, `base` not modified): the img2img counterpart with the
        configured scheduler, no safety checker, and the engine's noise."""
        from diffusers import AutoPipelineForImage2Image
        from diffusers import schedulers as sched_module

        overrides: dict[str, Any] = {}
        if self.scheduler != "pipeline" or self.timestep_spacing is not None:
            name, kwargs = SCHEDULERS[self.scheduler]
            klass = getattr(sched_module, name) if name else type(base.scheduler)
            if self.timestep_spacing is not None:
                kwargs = {**kwargs, "timestep_spacing": self.timestep_spacing}
            overrides["scheduler"] = klass.from_config(base.scheduler.config, **kwargs)
        if "safety_checker" in base.components:
            overrides["safety_checker"] = None
        try:
            pipe = AutoPipelineForImage2Image.from_pipe(base, **overrides)
        except (ValueError, KeyError) as err:
            raise TypeError(
                f"{type(base).__name__} has no image-to-image counterpart in diffusers; GeNIe needs an img2img "
                "pipeline (Stable Diffusion 1.x/2.x, SDXL, Turbo)."
            ) from err
        if hasattr(pipe, "register_to_config"):
            pipe.register_to_config(requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        pipe._genie_noise = None
        pipe.prepare_latents = types.MethodType(_prepare_latents, pipe)
        if self.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
        if self.compile_unet:
            pipe.unet = torch.compile(pipe.unet)
        multiple = pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        resolution = self.resolution_setting or int(pipe.unet.config.sample_size * pipe.vae_scale_factor)
        if resolution % multiple:
            raise ValueError(
                f"`resolution` {resolution} is not a multiple of {multiple} (VAE scale x UNet downsampling) for this "
                f"model; use {max(multiple, resolution // multiple * multiple)}."
            )
        return pipe

    @property
    def resolution(self) -> int:
        """Side of the square the model generates at."""
        if self.resolution_setting is not None:
            return self.resolution_setting
        pipe = self.pipe
        return int(pipe.unet.config.sample_size * pipe.vae_scale_factor)

    @property
    def execution_device(self) -> torch.device:
        """Where the models run: the pipeline's device, or the GPU that offloaded models are moved to."""
        return self.pipe._execution_device

    def to(self, device: str | torch.device) -> GenieGenerator:
        """Move the weights to `device` (or, if not loaded yet, load them there later). Returns self."""
        spec = self._slot.spec
        if spec is not None and spec.offload:
            raise ValueError(f"This generator offloads its weights (offload={spec.offload!r}); it cannot be moved.")
        with self._slot.lock:
            if self._slot.pipe is not None:
                self._slot.pipe.to(device)
                self.clear_cache()
            elif spec is not None:
                from dataclasses import replace

                self._slot.spec = replace(spec, device=str(device))
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # configuration only: the engine's pipeline is re-derived lazily
        state.update(_pipe=None, _prompt_cache={}, _warned_templates=set())
        return state

    @property
    def dtype_name(self) -> str:
        if self._slot.spec is not None and not self.is_loaded:
            return self._slot.spec.resolved_dtype()
        return str(self.pipe.unet.dtype).removeprefix("torch.")

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting that determines the images, as plain values (what fingerprints and job files record)."""
        spec = self._slot.spec
        return {
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "model_variant": None if spec is None else spec.variant,
            "adapters": list(self._slot.adapter_records()),
            "dtype": self.dtype_name,
            "prompt_template": self.prompt_template,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": self.scheduler,
            "timestep_spacing": self.timestep_spacing,
            "resolution": self.resolution_setting,
            "seed_scheme": SEED_SCHEME,
            "noise_scheme": NOISE_SCHEME,
        }

    # -------------------------------------------------------------------------------------- generation
    def generate(
        self,
        images: Any,
        targets: int | str | Sequence[int | str],
        noise_ratio: float | Sequence[float],
        *,
        seed: int,
        prompts: PromptMap | Sequence[str] | Mapping[int, str],
        source_ids: Sequence[str | int] | None = None,
        batch_size: int | None = None,
        progress: bool | str | None = None,
        hard_negative_filter: HardNegativeFilter | None = None,
        source_labels: Sequence[int] | None = None,
    ) -> GenieOutput:
        """Generate one hard negative per row: `images[i]` re-imagined as class `targets[i]` at ratio `noise_ratio[i]`.

        Args:
            images (`list` or batch):
                PIL images, HWC numpy arrays (uint8, or float in [0, 1]) or CHW tensors, in a list; or one NHWC
                array / NCHW tensor. Grayscale and RGBA are accepted; each output has its input's form and size.
            targets (`int`, `str` or a sequence of them):
                The target class of each row (index or name in `prompts`); one value applies to every row.
            noise_ratio (`float` or a sequence of floats):
                r in (0, 1] per row, or one for all. Rows with different r are grouped internally. At r = 1 the
                image starts from pure noise (the source does not enter it).
            seed (`int`):
                Global seed. The noise of a row is derived from (seed, source id, target) and not from r.
            prompts (`PromptMap`, list of names or dict):
                Class names and prompts; names get the model's declared template (else `"a photo of a {}."`).
            source_ids (sequence of `str` or `int`, *optional*):
                Stable ids of the sources (e.g. dataset indices); a hash of the pixels by default.
            batch_size (`int`, *optional*):
                Rows per pipeline call; the generator's by default. Results do not depend on it.
            progress (`bool` or `str`, *optional*):
                Show a progress bar; the generator's setting by default. A string shows it with that description
                (say what is being made and where it stands, e.g. `"txt2img (3/8)"`).
            hard_negative_filter ([`HardNegativeFilter`], *optional*):
                Decide for each image whether it is a hard negative worth keeping (see `genie_transforms.filtering`);
                every image is still returned, and its record carries `filter_kept` and `filter_score`.
            source_labels (sequence of `int`, *optional*):
                The class of each source, so that the filter does not count it as a third class.

        Returns:
            [`GenieOutput`] with `images` and one [`GenieRecord`] per row; the label of row i is `targets[i]`.
            `output.kept()` is the subset the filter kept.
        """
        batch_size = self.batch_size if batch_size is None else batch_size
        _single_thread_after_fork()
        with self._slot.lock:
            rows = self._prepare(images, targets, noise_ratio, seed, prompts, source_ids, batch_size)
            out = self._run(rows, batch_size, progress, "GeNIe hard negatives")
        if hard_negative_filter is None:
            if source_labels is not None:
                raise ValueError("`source_labels` is only used by a `hard_negative_filter`; pass one, or drop it.")
            return out
        return apply_filter(out, hard_negative_filter, source_labels)

    def sweep(
        self,
        images: Any,
        targets: int | str | Sequence[int | str],
        ratios: Sequence[float],
        *,
        seed: int,
        prompts: PromptMap | Sequence[str] | Mapping[int, str],
        source_ids: Sequence[str | int] | None = None,
        batch_size: int | None = None,
        progress: bool | str | None = None,
    ) -> GenieSweep:
        """Every `images[i]` re-imagined as `targets[i]` at every ratio of `ratios`, all in one batched call.

        The noise of a pair comes from (seed, source id, target) and not from r (docs/guides/method.md), so each pair's images
        form one trajectory over the grid: what GeNIe-Ada, the label-flip curve and the pictures compare. Arguments
        are those of [`generate`]; one target may apply to every image.

        Returns:
            [`GenieSweep`]: `images[i][j]` and `records[i][j]` for pair i at `ratios[j]`.
        """
        grid = tuple(float(r) for r in ratios)
        if not grid:
            raise ValueError("`ratios` is empty; give the noise ratios of the sweep, e.g. (0.5, 0.6, 0.7, 0.8, 0.9).")
        sources, _ = split_batch(images)
        n, k = len(sources), len(grid)
        pair_targets = self._per_row(targets, n, "targets")
        ids = None if source_ids is None else self._per_row(list(source_ids), n, "source_ids")
        out = self.generate(
            [image for image in sources for _ in grid],
            [t for t in pair_targets for _ in grid],
            list(grid) * n,
            seed=seed,
            prompts=prompts,
            source_ids=None if ids is None else [s for s in ids for _ in grid],
            batch_size=batch_size,
            progress=progress,
        )
        return GenieSweep(
            ratios=grid,
            images=[list(out.images[i * k : (i + 1) * k]) for i in range(n)],
            records=[out.records[i * k : (i + 1) * k] for i in range(n)],
        )

    def text_to_image(
        self,
        targets: int | str | Sequence[int | str],
        *,
        seed: int,
        prompts: PromptMap | Sequence[str] | Mapping[int, str],
        source_ids: Sequence[str | int] | None = None,
        batch_size: int | None = None,
        progress: bool | str | None = None,
    ) -> GenieOutput:
        """Plain text-to-image (the Txt2Img baseline, r = 1) with no source image: one RGB PIL image per target, at
        the model's resolution. Row i's noise comes from (seed, `source_ids[i]`, target), `"txt2img-{i}"` by default,
        so it equals `generate(any_image, target, 1.0, source_ids=[that id])`."""
        rows_targets: list[Any] = [targets] if isinstance(_scalar(targets), (str, numbers.Integral)) else list(targets)  # type: ignore[arg-type]
        n = len(rows_targets)
        ids = [f"txt2img-{i}" for i in range(n)] if source_ids is None else source_ids
        batch_size = self.batch_size if batch_size is None else batch_size
        _single_thread_after_fork()
        with self._slot.lock:
            rows = self._prepare(None, rows_targets, 1.0, seed, prompts, ids, batch_size, count=n)
            return self._run(rows, batch_size, progress, "text-to-image")

    def _run(self, rows: _Rows, batch_size: int, progress: bool | str | None, what: str) -> GenieOutput:
        """Denoise every row, one pipeline call per r and batch, under a progress bar named `progress` (when a
        string) or `what`."""
        n = len(rows.ids)
        outputs: list[torch.Tensor | None] = [None] * n
        show = self.progress if progress is None else bool(progress)
        desc = progress if isinstance(progress, str) else what
        with tqdm(total=n, desc=desc, unit="img", disable=not show) as bar:
            for r, chunk in rows.chunks(batch_size):
                for i, img in zip(chunk, self._denoise(rows, r, chunk)):
                    outputs[i] = img
                bar.update(len(chunk))
        return self._output(rows, outputs)

    def _denoise(self, rows: _Rows, r: float, chunk: list[int]) -> list[torch.Tensor]:
        """One pipeline call for rows of the same r, with the rows' own noise. On CUDA out-of-memory, halve the
        batch and retry (and keep the smaller `batch_size` for later calls), so that long jobs do not die; rows are
        unchanged by this."""
        pipe = self.pipe
        steps_run = rows.timing[r][0]
        latents = torch.cat([rows.latents[rows.keys[i]] for i in chunk])
        pipe._genie_noise = (
            torch.stack([row_noise(rows.noise_seeds[i], tuple(latents.shape[1:])) for i in chunk]),
            r >= 1.0,
        )
        try:
            return list(
                pipe(
                    image=latents,
                    strength=_strength(steps_run, self.num_inference_steps),
                    num_inference_steps=self.num_inference_steps,
                    guidance_scale=self.guidance_scale,
                    generator=[torch_generator(rows.noise_seeds[i]) for i in chunk],
                    output_type="pt",
                    **rows.embeddings(chunk),
                ).images
            )
        except torch.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(chunk) // 2
            self.batch_size = min(self.batch_size, half)
            logger.warning(
                "Out of memory at batch %d; retrying at %d (batch_size is now %d).", len(chunk), half, self.batch_size
            )
            return self._denoise(rows, r, chunk[:half]) + self._denoise(rows, r, chunk[half:])
        finally:
            pipe._genie_noise = None

    def _prepare(self, images, targets, noise_ratio, seed, prompts, source_ids, batch_size, count=None) -> _Rows:
        """Validate a call and compute everything that does not depend on the pipeline call: sources, ids, seeds,
        the latent of each distinct source and the embedding of each distinct prompt. `images=None` (with `count`
        rows, all at r = 1) is text-to-image."""
        _check_settings(self.num_inference_steps, self.guidance_scale, batch_size)
        seed = check_seed(seed)
        prompt_map = self.prompt_map(prompts)
        if images is None:
            inputs, batch_kind = [None] * count, None
        else:
            inputs, batch_kind = split_batch(images)
        n = len(inputs)
        if n == 0:
            raise ValueError("`images` is empty; pass at least one image.")
        target_list = [_check_target(t) for t in self._per_row(targets, n, "targets")]
        ratios = [check_noise_ratio(r, self.num_inference_steps) for r in self._per_row(noise_ratio, n, "noise_ratio")]
        if source_ids is not None and (isinstance(source_ids, (str, int)) or len(source_ids) != n):
            raise ValueError(f"`source_ids` must be a sequence with one id per image ({n}), got {source_ids!r}.")
        target_idx = []
        for t in target_list:
            try:
                target_idx.append(prompt_map.index(t))
            except KeyError as err:
                raise UnknownLabelError(f"Unknown target {t!r}: {err}") from None
        resolution = self.resolution
        if images is None:
            keys = ["txt2img"] * n
            specs = [ImageSpec("pil", resolution, resolution, 3, "uint8", mode="RGB")] * n
            with torch.inference_mode():
                latents = {"txt2img": self._zero_latent(resolution)}
        else:
            sources, specs = [], []
            for i, image in enumerate(inputs):
                rgb, spec = to_rgb(image, what=f"images[{i}]")
                if min(spec.height, spec.width) < self.min_image_size:
                    raise ValueError(
                        f"images[{i}] is {spec.width}x{spec.height} px, smaller than min_image_size="
                        f"{self.min_image_size} on its shorter side; upscale it first, or lower `min_image_size`."
                    )
                sources.append(fit_square(rgb, resolution))
                specs.append(spec)
            keys = [content_hash(s) for s in sources]
            with torch.inference_mode():
                latents = self._encode_sources(sources, keys, batch_size)
        ids = keys if source_ids is None else [str(s) for s in source_ids]
        prompt_texts = [prompt_map.prompt(t) for t in target_idx]
        with torch.inference_mode():
            embeds = self._embed_prompts(prompt_texts)
        return _Rows(
            specs=specs,
            batch_kind=batch_kind,
            keys=keys,
            ids=ids,
            targets=target_idx,
            names=[prompt_map.name(t) for t in target_idx],
            ratios=ratios,
            prompts=prompt_texts,
            templates=[None if t in prompt_map.overrides else prompt_map.template for t in target_idx],
            seed=seed,
            noise_seeds=[derive_seed(seed, sid, t) for sid, t in zip(ids, target_idx)],
            latents=latents,
            embeds=embeds,
            timing={r: self._timesteps(r) for r in set(ratios)},
            resolution=resolution,
        )

    def _output(self, rows: _Rows, outputs: Sequence[torch.Tensor | None]) -> GenieOutput:
        """Images back in their input form and size, with one provenance record per row."""
        pipe = self.pipe
        spacing = str(pipe.scheduler.config.get("timestep_spacing", ""))
        settings = self.settings
        images, records = [], []
        for i, tensor in enumerate(outputs):
            assert tensor is not None  # every row was denoised
            images.append(restore(tensor_to_pil(tensor), rows.specs[i]))
            steps_run, start_t = rows.timing[rows.ratios[i]]
            records.append(
                GenieRecord(
                    source_id=rows.ids[i],
                    target=rows.targets[i],
                    target_name=rows.names[i],
                    prompt=rows.prompts[i],
                    prompt_template=rows.templates[i],
                    noise_ratio=rows.ratios[i],
                    steps_run=steps_run,
                    start_timestep=start_t,
                    text_to_image=rows.ratios[i] >= 1.0,
                    seed=rows.seed,
                    noise_seed=rows.noise_seeds[i],
                    seed_scheme=SEED_SCHEME,
                    noise_scheme=NOISE_SCHEME,
                    num_inference_steps=self.num_inference_steps,
                    guidance_scale=self.guidance_scale,
                    scheduler=type(pipe.scheduler).__name__,
                    timestep_spacing=spacing,
                    resolution=rows.resolution,
                    dtype=settings["dtype"],
                    model_id=settings["model_id"],
                    model_revision=settings["model_revision"],
                    model_variant=settings["model_variant"],
                    adapters=tuple(settings["adapters"]),
                    library_version=__version__,
                )
            )
        return GenieOutput(images=join_batch(images, rows.batch_kind), records=records)

    @staticmethod
    def _per_row(value: Any, n: int, name: str) -> list:
        value = _scalar(value)
        if isinstance(value, (str, numbers.Number)) or not isinstance(value, (Sequence, np.ndarray, torch.Tensor)):
            return [value] * n
        values = value.tolist() if isinstance(value, (np.ndarray, torch.Tensor)) else list(value)
        if len(values) != n:
            raise ValueError(
                f"`{name}` has {len(values)} values for {n} images; give one per image, or a single value."
            )
        return values

    def _timesteps(self, r: float) -> tuple[int, int]:
        """Steps run and first timestep for ratio r, as the pipeline runs them ([`denoising_steps`])."""
        scheduler = copy.deepcopy(self.pipe.scheduler)
        scheduler.set_timesteps(self.num_inference_steps)
        steps_run = denoising_steps(r, self.num_inference_steps)
        t_start = self.num_inference_steps - steps_run
        return steps_run, int(scheduler.timesteps[t_start * scheduler.order])

    def _zero_latent(self, resolution: int) -> torch.Tensor:
        pipe = self.pipe
        size = resolution // pipe.vae_scale_factor
        return torch.zeros(1, pipe.unet.config.in_channels, size, size, device=self.execution_device, dtype=self._dtype)

    def _encode_sources(self, sources: list, keys: list[str], batch_size: int) -> dict[str, torch.Tensor]:
        """Encode each distinct source once: VAE posterior mode times the scaling factor (as the reference code)."""
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        pipe = self.pipe
        vae, device = pipe.vae, self.execution_device
        unique = dict(zip(keys, sources))
        order = list(unique)
        latents: dict[str, torch.Tensor] = {}
        upcast = bool(getattr(vae.config, "force_upcast", False)) and vae.dtype == torch.float16
        dtype = torch.float32 if upcast else vae.dtype
        if upcast:
            vae.to(torch.float32)
        try:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                pixels = torch.stack([pil_to_tensor(unique[k]) for k in chunk]).to(device, dtype)
                z = retrieve_latents(vae.encode(pipe.image_processor.normalize(pixels)), sample_mode="argmax")
                mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
                if mean is not None and std is not None:
                    shape = (1, -1, 1, 1)
                    z = (z - torch.tensor(mean, device=z.device).view(shape)) / torch.tensor(std, device=z.device).view(
                        shape
                    )
                z = z * vae.config.scaling_factor
                for k, zi in zip(chunk, z):
                    latents[k] = zi[None].to(self._dtype)
        finally:
            if upcast:
                vae.to(torch.float16)
        return latents

    @property
    def _dtype(self) -> torch.dtype:
        return self.pipe.unet.dtype

    def _embed_prompts(self, prompts: list[str]) -> dict[str, dict[str, torch.Tensor]]:
        """Prompt embeddings (as pipeline keyword arguments), computed once per distinct prompt and cached."""
        cfg = self.guidance_scale > 1
        new = sorted({p for p in prompts if (p, cfg) not in self._prompt_cache})
        if new:
            pipe, device = self.pipe, self.execution_device
            if hasattr(pipe, "text_encoder_2"):  # SDXL
                out = pipe.encode_prompt(
                    prompt=new, device=device, num_images_per_prompt=1, do_classifier_free_guidance=cfg
                )
                names = (
                    "prompt_embeds",
                    "negative_prompt_embeds",
                    "pooled_prompt_embeds",
                    "negative_pooled_prompt_embeds",
                )
            else:
                out = pipe.encode_prompt(new, device, 1, cfg)
                names = ("prompt_embeds", "negative_prompt_embeds", "", "")
            for j, p in enumerate(new):
                self._prompt_cache[(p, cfg)] = {k: t[j : j + 1] for k, t in zip(names, out) if t is not None}
        return {p: self._prompt_cache[(p, cfg)] for p in set(prompts)}


__all__ = [
    "PRESETS",
    "SCHEDULERS",
    "SETTINGS",
    "TIMESTEP_SPACINGS",
    "GenieGenerator",
    "GenieOutput",
    "GenieRecord",
    "GenieSweep",
    "UnknownLabelError",
    "apply_filter",
    "check_noise_ratio",
    "denoising_steps",
]
