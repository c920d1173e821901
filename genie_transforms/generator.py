"""`GenieGenerator`: the one engine that owns the diffusion pipeline and makes hard negatives."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import logging
import numbers
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .errors import GenieWarning
from .families import Family, family_for, family_name
from .filtering import HardNegativeFilter
from .forking import single_thread_after_fork
from .images import split_batch
from .loading import LoraWeights, ModelSpec, PipelineSlot, TextualInversion, make_spec, weights_identity
from .outputs import GenieOutput, GenieRecord, GenieSweep, apply_filter
from .plans import GenerationPlan, PromptCache, UnknownLabelError, build_plan, per_row, plan_output
from .prompts import DEFAULT_TEMPLATE, PromptMap
from .seeding import NOISE_SCHEME, SEED_SCHEME, row_noise, torch_generator
from .settings import (
    FAMILY_DEFAULTS,
    FLOW_SCHEDULERS,
    PRESET_FAMILIES,
    PRESETS,
    SCHEDULERS,
    SETTINGS,
    TIMESTEP_SPACINGS,
    GenerationSettings,
    as_scalar,
    check_noise_ratio,
    denoising_steps,
)

logger = logging.getLogger(__name__)


class GenieGenerator:
    """Generates GeNIe hard negatives: a source image noised to ratio r and denoised with the target's prompt.

    Settings default to the paper (docs/guides/method.md): DPM-Solver++ (2M) with 50 steps, classifier-free guidance 7.5
    with an empty unconditional prompt, VAE posterior mode, centre crop to the model's resolution, no safety
    checker. Each generated image is labelled with its **target** class. At r = 1 the image starts from pure
    noise (text-to-image: the source does not enter it).

    Args:
        pipe (`DiffusionPipeline`):
            A diffusers pipeline of a supported family, text-to-image or image-to-image: Stable Diffusion 1.x/2.x,
            SDXL (and Turbo), SD3/SD3.5, Flux, LCM (see `genie_transforms.families`). The engine works on its own
            copy (weights shared, a scheduler of its own): your pipeline is not modified.
        model_id (`str`, *optional*):
            Recorded in provenance; taken from the pipeline's config when not given.
        model_revision (`str`, *optional*):
            Recorded in provenance (the Hub commit, or a content hash of a local folder, for [`from_pretrained`]);
            for a pipeline object, the hash of its weights by default, so that other weights never reuse a cache.
        prompt_template (`str`, *optional*):
            The template the model was trained with (one `{}`); a model folder declares it in `genie.json`.
        num_inference_steps (`int`, *optional*):
            Steps of the full schedule; a row with ratio r runs [`denoising_steps`]`(r, steps)` of them. By default
            the family's: 50 for SD 1.x/2.x and SDXL (the paper's), 28 for SD3 and Flux.
        guidance_scale (`float`, *optional*):
            Classifier-free guidance; 0 (or 1) turns it off, as Turbo/LCM models need; Flux dev embeds it instead.
            By default the family's: 7.5 for SD 1.x/2.x and SDXL (the paper's), 7.0 for SD3, 3.5 for Flux.
        scheduler (`str`, *optional*):
            One of `"dpmsolver++"`, `"ddim"`, `"euler"`, `"lcm"`, or `"pipeline"` to keep the pipeline's own. By
            default the family's: `"dpmsolver++"` (the paper's) for Stable Diffusion 1.x/2.x and SDXL, the model's own
            flow-matching scheduler for SD3 and Flux (which accept `"pipeline"` or `"euler"` only).
        noise_rule (`str`, *optional*, defaults to `"steps"`):
            How r picks the start: `"steps"` (the paper's) runs [`denoising_steps`]`(r, steps)` of the model's own
            schedule; `"sd15-snr"` starts where the model's schedule has the signal-to-noise ratio Stable Diffusion
            1.5 has at r (the same destruction in every family; see the README's table per family).
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
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        scheduler: str | None = None,
        noise_rule: str = "steps",
        timestep_spacing: str | None = None,
        resolution: int | None = None,
        batch_size: int = 8,
        min_image_size: int = 8,
        progress: bool = True,
        channels_last: bool = False,
        compile_unet: bool = False,
        _slot: PipelineSlot | None = None,
    ) -> None:
        if pipe is None and _slot is None:
            raise TypeError(
                "GenieGenerator needs a diffusers pipeline; or use GenieGenerator.from_pretrained(model_id)."
            )
        if prompt_template is not None:
            PromptMap(["x"], template=prompt_template)  # validates the template
        self.options = GenerationSettings(
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            scheduler=scheduler,
            noise_rule=noise_rule,
            timestep_spacing=timestep_spacing,
            resolution=resolution,
            batch_size=batch_size,
            min_image_size=min_image_size,
            progress=progress,
            channels_last=channels_last,
            compile_unet=compile_unet,
        )
        self._slot = _slot if _slot is not None else PipelineSlot(pipe=pipe)
        self._model_id = model_id
        self._model_revision = model_revision
        self._prompt_template = prompt_template
        self._pipe: Any = None
        self._adapter: Family | None = None
        self._family: str | None = None
        self._preset: str | None = None
        self._prompt_cache = PromptCache()
        self._warned_templates: set[str] = set()
        if pipe is not None:
            self.load()

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
        provenance = {k: settings.pop(k) for k in ("model_id", "model_revision", "prompt_template") if k in settings}
        provenance.setdefault("model_id", spec.model)
        gen = cls(_slot=PipelineSlot(spec=spec), **GenerationSettings.make(preset, **settings).to_dict(), **provenance)
        gen._preset = preset  # checked against the model's family when it loads
        return gen

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenieGenerator:
        """Rebuild a generator from its [`config`] (what transforms serialise); the model loads lazily."""
        if not isinstance(config, Mapping) or "model" not in config:
            raise ValueError(f"A generator config needs a `model` entry (see GenieGenerator.config), got {config!r}.")
        model = config["model"]
        spec = ModelSpec.from_dict(dict(model)) if isinstance(model, Mapping) else make_spec(model)
        settings = {k: v for k, v in config.get("settings", {}).items() if k in SETTINGS}
        return cls(_slot=PipelineSlot(spec=spec), model_id=spec.model, **settings)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-friendly configuration: the model reference (id or path, revision, dtype, variant, adapters ...)
        and the settings; never the weights. [`from_config`] restores it."""
        if self._slot.spec is None:
            raise ValueError(
                "This GenieGenerator wraps an in-memory pipeline; build it with from_pretrained to serialise."
            )
        settings = self.options.to_dict()
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
        clone = copy.copy(self)
        clone.options = self.options.replace(**overrides)
        clone._pipe = clone._adapter = None
        clone._warned_templates = set()
        if self._pipe is not None:
            clone.load()
        return clone

    def clear_cache(self) -> None:
        """Forget the cached prompt embeddings (they are kept across calls)."""
        self._prompt_cache.clear()

    def resolve_revision(self) -> str | None:
        """The model revision to record, resolved without loading the weights (the Hub commit of a cached model,
        or the content hash of a local folder), so that fingerprints and job settings name it before any work; for
        a pipeline passed as an object, the hash of its weights as they are now (`loading.weights_identity`)."""
        if self._model_revision is None and self._slot.spec is None:
            return weights_identity(self._slot.pipe)
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

    @property
    def model_family(self) -> str:
        """The model's family (`"sd"`, `"sdxl"`, `"sd3"` or `"flux"`), known without loading the weights: from the
        pipeline's class, or the `model_index.json` of the model's folder."""
        if self._family is None:
            if self._slot.pipe is not None:
                name = type(self._slot.pipe).__name__
            else:
                resolved = self._slot.resolve()
                assert resolved is not None  # a slot without a pipeline has a spec
                name = json.loads((resolved.folder / "model_index.json").read_text()).get("_class_name", "")
            self._family = family_name(name)
        return self._family

    @property
    def num_inference_steps(self) -> int:
        """Steps of the full schedule: the one set, else the family's default ([`FAMILY_DEFAULTS`])."""
        if self.options.num_inference_steps is not None:
            return self.options.num_inference_steps
        return int(FAMILY_DEFAULTS[self.model_family]["num_inference_steps"])

    @property
    def guidance_scale(self) -> float:
        """The guidance scale: the one set, else the family's default ([`FAMILY_DEFAULTS`])."""
        value = self.options.guidance_scale
        return float(FAMILY_DEFAULTS[self.model_family]["guidance_scale"] if value is None else value)

    @property
    def scheduler_name(self) -> str:
        """The scheduler the engine runs: the one set, else the family's default (the paper's DPM-Solver++ for the
        Stable Diffusion families, the model's own flow-matching scheduler for SD3 and Flux)."""
        if self.options.scheduler is not None:
            return self.options.scheduler
        return "pipeline" if self.model_family in ("sd3", "flux") else "dpmsolver++"

    def _check_family(self) -> None:
        """Refuse settings that do not fit the model's family, naming what does."""
        family, scheduler = self.model_family, self.scheduler_name
        if self._preset is not None and family not in PRESET_FAMILIES[self._preset]:
            raise ValueError(
                f"preset={self._preset!r} is made for {'/'.join(PRESET_FAMILIES[self._preset])} models, but this is a "
                f"{family} model; choose a preset for {family} "
                f"({[k for k, v in PRESET_FAMILIES.items() if family in v] or 'none yet'}) or set the settings."
            )
        if family in ("sd3", "flux"):
            if scheduler not in FLOW_SCHEDULERS:
                raise ValueError(
                    f"scheduler={scheduler!r} predicts noise, but this {family} model is a flow-matching model; use "
                    f"one of {FLOW_SCHEDULERS} (its own flow-matching Euler scheduler, the default for {family})."
                )
            if self.options.timestep_spacing is not None:
                raise ValueError(f"`timestep_spacing` is for the Stable Diffusion schedulers; drop it for {family}.")

    def _derive(self, base: Any) -> Any:
        """The engine's own copy of `base` (weights shared, `base` not modified, its scheduler untouched): the same
        pipeline class with a scheduler of its own and no safety checker."""
        from diffusers import schedulers as sched_module

        self._family = family_name(type(base).__name__)
        self._check_family()
        name, kwargs = SCHEDULERS[self.scheduler_name]
        if self.model_family in ("sd3", "flux"):
            name, kwargs = "FlowMatchEulerDiscreteScheduler", {}
        klass = getattr(sched_module, name) if name else type(base.scheduler)
        if self.options.timestep_spacing is not None:
            kwargs = {**kwargs, "timestep_spacing": self.options.timestep_spacing}
        overrides: dict[str, Any] = {"scheduler": klass.from_config(base.scheduler.config, **kwargs)}
        if "safety_checker" in base.components:
            overrides.update(safety_checker=None, requires_safety_checker=False)
        denoiser = "transformer" if "transformer" in base.components else "unet"
        if self.options.compile_unet:
            overrides[denoiser] = torch.compile(getattr(base, denoiser))
        accepted = inspect.signature(type(base).__init__).parameters  # as from_pipe, without its dtype cast
        pipe = type(base)(**{k: v for k, v in {**base.components, **overrides}.items() if k in accepted})
        pipe.set_progress_bar_config(disable=True)
        if self.options.channels_last and denoiser == "unet":
            pipe.unet.to(memory_format=torch.channels_last)
        family = family_for(pipe)
        multiple = family.resolution_multiple()
        resolution = self.options.resolution or family.native_resolution()
        if resolution % multiple:
            raise ValueError(
                f"`resolution` {resolution} is not a multiple of {multiple} (VAE scale x the denoiser's downsampling) "
                f"for this model; use {max(multiple, resolution // multiple * multiple)}."
            )
        self._adapter = family
        return pipe

    @property
    def family(self) -> Family:
        """The adapter of the model's family: the engine's one door into the pipeline."""
        self.load()
        assert self._adapter is not None
        return self._adapter

    @property
    def resolution(self) -> int:
        """Side of the square the model generates at."""
        if self.options.resolution is not None:
            return self.options.resolution
        return self.family.native_resolution()

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
        state.update(_pipe=None, _adapter=None, _prompt_cache=PromptCache(), _warned_templates=set())
        return state

    @property
    def dtype_name(self) -> str:
        if self._slot.spec is not None and not self.is_loaded:
            return self._slot.spec.resolved_dtype()
        return str(self.family.dtype).removeprefix("torch.")

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
            "scheduler": self.scheduler_name,
            "noise_rule": self.options.noise_rule,
            "timestep_spacing": self.options.timestep_spacing,
            "resolution": self.options.resolution,
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
        batch_size = self.options.batch_size if batch_size is None else batch_size
        single_thread_after_fork()
        with self._slot.lock:
            plan = self.plan(
                images, targets, noise_ratio, seed=seed, prompts=prompts, source_ids=source_ids, batch_size=batch_size
            )
            out = self._run(plan, batch_size, progress, "GeNIe hard negatives")
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
        short_steps: int | None = None,
    ) -> GenieSweep:
        """Every `images[i]` re-imagined as `targets[i]` at every ratio of `ratios`, all in one batched call.

        The noise of a pair comes from (seed, source id, target) and not from r (docs/guides/method.md), so each pair's images
        form one trajectory over the grid: what GeNIe-Ada, the label-flip curve and the pictures compare. Arguments
        are those of [`generate`]; one target may apply to every image. With `short_steps`, each image starts
        exactly where `generate` starts it (the same noise, the same start) and then runs that many steps of a
        short schedule of its own (see [`denoise`]): a cheap preview, whose records give `steps_run=short_steps`
        and the short schedule's scheduler.

        Returns:
            [`GenieSweep`]: `images[i][j]` and `records[i][j]` for pair i at `ratios[j]`.
        """
        grid = tuple(float(r) for r in ratios)
        if not grid:
            raise ValueError("`ratios` is empty; give the noise ratios of the sweep, e.g. (0.5, 0.6, 0.7, 0.8, 0.9).")
        sources, _ = split_batch(images)
        n, k = len(sources), len(grid)
        pair_targets = per_row(targets, n, "targets")
        ids = None if source_ids is None else per_row(list(source_ids), n, "source_ids")
        if short_steps is not None and (
            isinstance(short_steps, bool) or not isinstance(short_steps, int) or short_steps < 1
        ):
            raise ValueError(f"`short_steps` must be an int >= 1, got {short_steps!r}.")
        batch_size = self.options.batch_size if batch_size is None else batch_size
        single_thread_after_fork()
        with self._slot.lock:
            plan = self.plan(
                [image for image in sources for _ in grid],
                [t for t in pair_targets for _ in grid],
                list(grid) * n,
                seed=seed,
                prompts=prompts,
                source_ids=None if ids is None else [s for s in ids for _ in grid],
                batch_size=batch_size,
            )
            out = self._run(plan, batch_size, progress, "GeNIe sweep", short_steps)
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
        one = isinstance(as_scalar(targets), (str, numbers.Integral))
        rows_targets: list[Any] = [targets] if one else list(targets)  # type: ignore[arg-type]
        n = len(rows_targets)
        ids = [f"txt2img-{i}" for i in range(n)] if source_ids is None else source_ids
        batch_size = self.options.batch_size if batch_size is None else batch_size
        single_thread_after_fork()
        with self._slot.lock:
            plan = self.plan(None, rows_targets, 1.0, seed=seed, prompts=prompts, source_ids=ids, batch_size=batch_size)
            return self._run(plan, batch_size, progress, "text-to-image")

    def _run(
        self,
        plan: GenerationPlan,
        batch_size: int,
        progress: bool | str | None,
        what: str,
        short_steps: int | None = None,
    ) -> GenieOutput:
        """Denoise every row, one batch of rows with the same r at a time, under a progress bar named `progress` (when
        a string) or `what`."""
        n = len(plan.ids)
        outputs: list[torch.Tensor | None] = [None] * n
        show = self.options.progress if progress is None else bool(progress)
        desc = progress if isinstance(progress, str) else what
        with tqdm(total=n, desc=desc, unit="img", disable=not show) as bar:
            for _, chunk in plan.chunks(batch_size):
                for i, img in zip(chunk, self._denoise_or_halve(plan, chunk, short_steps)):
                    outputs[i] = img
                bar.update(len(chunk))
        return self._output(plan, outputs, short_steps)

    def _denoise_or_halve(self, plan: GenerationPlan, rows: list[int], short_steps: int | None) -> list[torch.Tensor]:
        """[`denoise`]; on CUDA out-of-memory, halve the batch and retry (and keep the smaller `batch_size` for later
        calls), so that long jobs do not die; rows are unchanged by this."""
        try:
            return self.denoise(plan, rows, short_steps=short_steps)
        except torch.OutOfMemoryError:
            if len(rows) == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(rows) // 2
            self.options = self.options.replace(batch_size=min(self.options.batch_size, half))
            logger.warning(
                "Out of memory at batch %d; retrying at %d (batch_size is now %d).",
                len(rows),
                half,
                self.options.batch_size,
            )
            return self._denoise_or_halve(plan, rows[:half], short_steps) + self._denoise_or_halve(
                plan, rows[half:], short_steps
            )

    def denoise(
        self,
        plan: GenerationPlan,
        rows: list[int],
        noise: torch.Tensor | None = None,
        short_steps: int | None = None,
    ) -> list[torch.Tensor]:
        """Denoise rows of a [`plan`] that share one noise ratio, in one batch: each source latent is noised to the
        ratio's start with its row's own noise (drawn from its 63-bit seed; `noise`, shaped like the latents, replaces
        it), denoised from there by the model's family, and decoded. Returns CHW images in [0, 1].

        With `short_steps`, the rows start exactly there and then run a short schedule of that many steps of their
        own to the clean image (`Family.short_schedule`): the preview cheap GeNIe-Ada compares."""
        ratios = {plan.ratios[i] for i in rows}
        if len(ratios) != 1:
            raise ValueError(f"denoise() takes rows of one noise ratio; these have {sorted(ratios)}.")
        (r,) = ratios
        family = self.family
        with self._slot.lock, torch.no_grad():
            x0 = torch.cat([plan.latents[plan.keys[i]] for i in rows])
            if noise is None:
                noise = torch.stack([row_noise(plan.noise_seeds[i], tuple(x0.shape[1:])) for i in rows])
            noise = noise.to(device=x0.device, dtype=x0.dtype)
            _, timesteps = family.start(self.num_inference_steps, plan.starts[r].steps_run, plan.resolution)
            latents = family.pack(family.noised(x0, noise, timesteps, r >= 1.0))
            scheduler = None
            if short_steps is not None:
                scheduler, timesteps = family.short_schedule(plan.starts[r], short_steps)
            generators = [torch_generator(plan.noise_seeds[i]) for i in rows]
            latents = family.denoise(
                latents, plan.embeddings(rows), timesteps, self.guidance_scale, generators, plan.resolution, scheduler
            )
            images = list(family.decode(family.unpack(latents, plan.resolution)))
        self.pipe.maybe_free_model_hooks()  # as a pipeline call ends: offloaded models go back to the CPU
        return images

    def plan(
        self,
        images: Any,
        targets: int | str | Sequence[int | str],
        noise_ratio: float | Sequence[float],
        *,
        seed: int,
        prompts: PromptMap | Sequence[str] | Mapping[int, str],
        source_ids: Sequence[str | int] | None = None,
        batch_size: int | None = None,
    ) -> GenerationPlan:
        """Validate a call (the arguments of [`generate`]) and compute everything that comes before denoising:
        sources, ids, seeds, the start of each noise ratio, the latent of each distinct source and the embedding of
        each distinct prompt. `images=None` is text-to-image (one row per target, at r = 1)."""
        batch_size = self.options.batch_size if batch_size is None else batch_size
        self.options.replace(batch_size=batch_size)  # validates it
        with self._slot.lock:
            inputs, batch_kind = (None, None) if images is None else split_batch(images)
            return build_plan(
                self.family,
                self.prompt_map(prompts),
                inputs,
                batch_kind,
                targets,
                noise_ratio,
                seed=seed,
                source_ids=source_ids,
                batch_size=batch_size,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
                noise_rule=self.options.noise_rule,
                resolution=self.resolution,
                min_image_size=self.options.min_image_size,
                cache=self._prompt_cache,
            )

    def _output(
        self, plan: GenerationPlan, outputs: list[torch.Tensor | None], short_steps: int | None = None
    ) -> GenieOutput:
        """The plan's images and records, with this generator's provenance (of a short sweep: its solver and steps)."""
        settings, scheduler = self.settings, self.pipe.scheduler
        provenance = {
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": type(scheduler).__name__ if short_steps is None else self.family.short_solver,
            "timestep_spacing": str(scheduler.config.get("timestep_spacing", "")),
            "dtype": settings["dtype"],
            "model_id": settings["model_id"],
            "model_revision": settings["model_revision"],
            "model_variant": settings["model_variant"],
            "adapters": tuple(settings["adapters"]),
            "model_family": self.model_family,
            "noise_rule": self.options.noise_rule,
        }
        out = plan_output(plan, outputs, provenance)
        if short_steps is not None:
            out.records = [dataclasses.replace(record, steps_run=short_steps) for record in out.records]
        return out


__all__ = [
    "PRESETS",
    "SCHEDULERS",
    "SETTINGS",
    "TIMESTEP_SPACINGS",
    "GenerationPlan",
    "GenieGenerator",
    "GenieOutput",
    "GenieRecord",
    "GenieSweep",
    "UnknownLabelError",
    "apply_filter",
    "check_noise_ratio",
    "denoising_steps",
]
