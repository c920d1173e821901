"""`GenieGenerator`: the one engine that owns the diffusion pipeline and makes hard negatives."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import __version__
from .images import content_hash, fit_square, join_batch, pil_to_tensor, restore, split_batch, tensor_to_pil, to_rgb
from .prompts import PromptMap
from .seeding import SEED_SCHEME, check_seed, derive_seed, torch_generator

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
    noise_ratio: float
    steps_run: int
    start_timestep: int
    seed: int
    noise_seed: int
    seed_scheme: str
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    timestep_spacing: str
    resolution: int
    model_id: str | None
    model_revision: str | None
    library_version: str

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


def _check_settings(num_inference_steps: object, guidance_scale: object, batch_size: object) -> None:
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise ValueError(f"`num_inference_steps` must be an int >= 1, got {num_inference_steps!r}.")
    if not isinstance(guidance_scale, (int, float)) or guidance_scale < 0:
        raise ValueError(f"`guidance_scale` must be a number >= 0 (0 or 1 turns guidance off), got {guidance_scale!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1, got {batch_size!r}.")


def check_noise_ratio(noise_ratio: object, num_inference_steps: int) -> float:
    """Validate one noise ratio r: a number in (0, 1] with at least one denoising step, int(steps * r) >= 1."""
    if isinstance(noise_ratio, bool) or not isinstance(noise_ratio, (int, float)) or math.isnan(noise_ratio):
        raise TypeError(f"`noise_ratio` must be a float in (0, 1], got {noise_ratio!r}.")
    r = float(noise_ratio)
    if not 0.0 < r <= 1.0:
        raise ValueError(f"`noise_ratio` should be in (0.0, 1.0] but is {r}.")
    if int(num_inference_steps * r) == 0:
        raise ValueError(
            f"`noise_ratio` {r} with num_inference_steps={num_inference_steps} runs int({num_inference_steps} * {r}) = 0 "
            f"denoising steps. Use noise_ratio >= {1 / num_inference_steps:.4g} (1 / steps) or more steps."
        )
    return r


@dataclass
class _Rows:
    """One validated call: per-row values, and the cached latents and prompt embeddings they index."""

    specs: list
    batch_kind: str | None
    keys: list[str]
    ids: list[str]
    targets: list[int]
    names: list[str]
    ratios: list[float]
    prompts: list[str]
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


class GenieGenerator:
    """Generates GeNIe hard negatives: a source image noised to ratio r and denoised with the target's prompt.

    Settings default to the paper (METHOD.md): DPM-Solver++ (2M) with 50 steps, classifier-free guidance 7.5
    with an empty unconditional prompt, VAE posterior mode, centre crop to the model's resolution, no safety
    checker. Each generated image is labelled with its **target** class.

    Args:
        pipe (`DiffusionPipeline`):
            An image-to-image diffusers pipeline (Stable Diffusion 1.x/2.x, SDXL, Turbo ...); a text-to-image one is
            converted with `AutoPipelineForImage2Image.from_pipe` (weights shared). Your pipeline is not modified.
        model_id (`str`, *optional*):
            Recorded in provenance; taken from the pipeline's config when not given.
        model_revision (`str`, *optional*):
            Recorded in provenance (the Hub commit for [`from_pretrained`]).
        num_inference_steps (`int`, *optional*, defaults to 50):
            Steps of the full schedule; a row with ratio r runs `int(steps * r)` of them.
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
        _loader: dict[str, Any] | None = None,
    ) -> None:
        if pipe is None and _loader is None:
            raise TypeError("GenieGenerator needs a diffusers pipeline; or use GenieGenerator.from_pretrained(model_id).")
        _check_settings(num_inference_steps, guidance_scale, batch_size)
        if scheduler not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {scheduler!r}; choose one of {sorted(SCHEDULERS)}.")
        if timestep_spacing is not None and timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(f"`timestep_spacing` must be one of {TIMESTEP_SPACINGS} or None, got {timestep_spacing!r}.")
        if resolution is not None and (not isinstance(resolution, int) or resolution < 8):
            raise ValueError(f"`resolution` must be an int >= 8 (a multiple of the VAE's scale), got {resolution!r}.")
        self.model_id = model_id
        self.model_revision = model_revision
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = float(guidance_scale)
        self.scheduler = scheduler
        self.timestep_spacing = timestep_spacing
        self.batch_size = batch_size
        self.min_image_size = min_image_size
        self.progress = progress
        self.channels_last = channels_last
        self.compile_unet = compile_unet
        self._resolution = resolution
        self._loader = _loader
        self._pipe = None
        self._prompt_cache: dict[str, dict[str, torch.Tensor]] = {}
        if pipe is not None:
            self._set_pipe(pipe)

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        model_id_or_path: str | Path,
        *,
        revision: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        allow_pickle_weights: bool = False,
        preset: str | None = None,
        **settings: Any,
    ) -> GenieGenerator:
        """A generator for a model on the Hub or in a local folder, loaded lazily on first use.

        Args:
            model_id_or_path (`str` or `Path`):
                A Hub model id (`"stable-diffusion-v1-5/stable-diffusion-v1-5"`) or a folder saved with
                `save_pretrained`.
            revision (`str`, *optional*):
                A Hub branch, tag or commit; pin a commit for reproducible results. The resolved commit is recorded.
            device (`str`, *optional*):
                `"cuda"` when available, else `"cpu"`.
            dtype (`torch.dtype`, *optional*):
                float16 on CUDA (as the paper), float32 on CPU.
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
        if not isinstance(model_id_or_path, (str, Path)) or not str(model_id_or_path):
            raise TypeError(f"`model_id_or_path` must be a Hub id or a folder path, got {model_id_or_path!r}.")
        loader = {
            "model": str(model_id_or_path),
            "revision": revision,
            "device": str(device) if device is not None else None,
            "dtype": dtype,
            "allow_pickle_weights": bool(allow_pickle_weights),
        }
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
            settings = {**PRESETS[preset], **settings}
        settings.setdefault("model_id", str(model_id_or_path))
        return cls(_loader=loader, **settings)

    @property
    def pipe(self) -> Any:
        """The image-to-image pipeline (loaded on first access for [`from_pretrained`] generators)."""
        if self._pipe is None:
            self._set_pipe(self._load())
        return self._pipe

    def resolve_revision(self) -> str | None:
        """The model revision to record, resolved without loading the weights (the Hub commit of an unpinned
        model comes from the download cache), so that fingerprints and job settings name it before any work."""
        if self.model_revision is None and self._loader is not None:
            from .loading import resolve_model

            self.model_revision = resolve_model(
                self._loader["model"], self._loader["revision"], self._loader["allow_pickle_weights"]
            )[1]
        return self.model_revision

    def _load(self) -> Any:
        from .loading import load_img2img_pipeline

        pipe, revision = load_img2img_pipeline(**self._loader)
        if self.model_revision is None:
            self.model_revision = revision
        return pipe

    def _set_pipe(self, pipe: Any) -> None:
        from diffusers import AutoPipelineForImage2Image
        from diffusers import schedulers as sched_module

        overrides: dict[str, Any] = {}
        if self.scheduler != "pipeline" or self.timestep_spacing is not None:
            name, kwargs = SCHEDULERS[self.scheduler]
            klass = getattr(sched_module, name) if name else type(pipe.scheduler)
            if self.timestep_spacing is not None:
                kwargs = {**kwargs, "timestep_spacing": self.timestep_spacing}
            overrides["scheduler"] = klass.from_config(pipe.scheduler.config, **kwargs)
        if "safety_checker" in pipe.components:
            overrides["safety_checker"] = None
        try:
            pipe = AutoPipelineForImage2Image.from_pipe(pipe, **overrides)
        except (ValueError, KeyError) as err:
            raise TypeError(
                f"{type(pipe).__name__} has no image-to-image counterpart in diffusers; GeNIe needs an img2img "
                "pipeline (Stable Diffusion 1.x/2.x, SDXL, Turbo)."
            ) from err
        if hasattr(pipe, "register_to_config"):
            pipe.register_to_config(requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        if self.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
        if self.compile_unet:
            pipe.unet = torch.compile(pipe.unet)
        self._pipe = pipe
        if self.model_id is None:
            self.model_id = getattr(pipe.config, "_name_or_path", None) or type(pipe).__name__
        self._check_resolution()

    @property
    def resolution(self) -> int:
        """Side of the square the model generates at."""
        if self._resolution is None:
            pipe = self.pipe
            return int(pipe.unet.config.sample_size * pipe.vae_scale_factor)
        return self._resolution

    def _check_resolution(self) -> None:
        pipe = self._pipe
        multiple = pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        if self.resolution % multiple:
            raise ValueError(
                f"`resolution` {self.resolution} is not a multiple of {multiple} (VAE scale x UNet downsampling) "
                f"for this model; use {max(multiple, self.resolution // multiple * multiple)}."
            )

    def to(self, device: str | torch.device) -> GenieGenerator:
        """Move the pipeline to `device` (or, if not loaded yet, load it there later). Returns self."""
        if self._pipe is not None:
            self._pipe.to(device)
            self._prompt_cache.clear()
        elif self._loader is not None:
            self._loader["device"] = str(device)
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_prompt_cache"] = {}
        if self._loader is not None:  # configuration only: the pipeline is re-created lazily
            state["_pipe"] = None
        return state

    @property
    def settings(self) -> dict[str, Any]:
        """The generation settings as plain values (what a serialised transform or a fingerprint needs)."""
        return {
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": self.scheduler,
            "timestep_spacing": self.timestep_spacing,
            "resolution": self._resolution,
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
        progress: bool | None = None,
    ) -> GenieOutput:
        """Generate one hard negative per row: `images[i]` re-imagined as class `targets[i]` at ratio `noise_ratio[i]`.

        Args:
            images (`list` or batch):
                PIL images, HWC numpy arrays (uint8, or float in [0, 1]) or CHW tensors, in a list; or one NHWC
                array / NCHW tensor. Grayscale and RGBA are accepted; each output has its input's form and size.
            targets (`int`, `str` or a sequence of them):
                The target class of each row (index or name in `prompts`); one value applies to every row.
            noise_ratio (`float` or a sequence of floats):
                r in (0, 1] per row, or one for all. Rows with different r are grouped internally.
            seed (`int`):
                Global seed. The noise of a row is derived from (seed, source id, target) and not from r.
            prompts (`PromptMap`, list of names or dict):
                Class names and prompts; a list or dict of names uses the template `"a photo of a {}."`.
            source_ids (sequence of `str` or `int`, *optional*):
                Stable ids of the sources (e.g. dataset indices); a hash of the pixels by default.
            batch_size (`int`, *optional*):
                Rows per pipeline call; the generator's by default. Results do not depend on it.
            progress (`bool`, *optional*):
                Show a progress bar; the generator's setting by default.

        Returns:
            [`GenieOutput`] with `images` and one [`GenieRecord`] per row; the label of row i is `targets[i]`.
        """
        batch_size = self.batch_size if batch_size is None else batch_size
        rows = self._prepare(images, targets, noise_ratio, seed, prompts, source_ids, batch_size)
        pipe, n = self.pipe, len(rows.ids)
        outputs: list[torch.Tensor | None] = [None] * n
        show = self.progress if progress is None else progress
        with tqdm(total=n, desc="GeNIe", unit="img", disable=not show) as bar:
            for r, chunk in rows.chunks(batch_size):
                for i, img in zip(chunk, self._denoise(rows, r, chunk)):
                    outputs[i] = img
                bar.update(len(chunk))
        return self._output(rows, outputs)

    def _denoise(self, rows: _Rows, r: float, chunk: list[int]) -> list[torch.Tensor]:
        """One pipeline call for rows of the same r. On CUDA out-of-memory, halve the batch and retry (and keep
        the smaller `batch_size` for later calls), so that long jobs do not die; rows are unchanged by this."""
        try:
            return list(
                self._pipe(
                    image=torch.cat([rows.latents[rows.keys[i]] for i in chunk]),
                    strength=r,
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
            logger.warning("Out of memory at batch %d; retrying at %d (batch_size is now %d).", len(chunk), half,
                           self.batch_size)  # fmt: skip
            return self._denoise(rows, r, chunk[:half]) + self._denoise(rows, r, chunk[half:])

    def _prepare(self, images, targets, noise_ratio, seed, prompts, source_ids, batch_size) -> _Rows:
        """Validate a call and compute everything that does not depend on the pipeline call: sources, ids, seeds,
        the latent of each distinct source and the embedding of each distinct prompt."""
        _check_settings(self.num_inference_steps, self.guidance_scale, batch_size)
        seed = check_seed(seed)
        prompt_map = PromptMap.coerce(prompts)
        inputs, batch_kind = split_batch(images)
        n = len(inputs)
        if n == 0:
            raise ValueError("`images` is empty; pass at least one image.")
        target_list = self._per_row(targets, n, "targets")
        ratio_list = self._per_row(noise_ratio, n, "noise_ratio")
        if source_ids is not None and (isinstance(source_ids, (str, int)) or len(source_ids) != n):
            raise ValueError(f"`source_ids` must be a sequence with one id per image ({n}), got {source_ids!r}.")
        target_idx = []
        for t in target_list:
            try:
                target_idx.append(prompt_map.index(t))
            except KeyError as err:
                raise UnknownLabelError(f"Unknown target {t!r}: {err}") from None
        ratios = [check_noise_ratio(r, self.num_inference_steps) for r in ratio_list]
        resolution = self.resolution
        sources, specs = [], []
        for i, image in enumerate(inputs):
            rgb, spec = to_rgb(image, what=f"images[{i}]")
            if min(spec.height, spec.width) < self.min_image_size:
                raise ValueError(
                    f"images[{i}] is {spec.width}x{spec.height} px, smaller than min_image_size={self.min_image_size} "
                    "on its shorter side; upscale it first, or lower `min_image_size`."
                )
            sources.append(fit_square(rgb, resolution))
            specs.append(spec)
        keys = [content_hash(s) for s in sources]
        ids = keys if source_ids is None else [str(s) for s in source_ids]
        prompt_texts = [prompt_map.prompt(t) for t in target_idx]
        with torch.inference_mode():
            latents = self._encode_sources(sources, keys, batch_size)
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
            seed=seed,
            noise_seeds=[derive_seed(seed, sid, t) for sid, t in zip(ids, target_idx)],
            latents=latents,
            embeds=embeds,
            timing={r: self._timesteps(r) for r in set(ratios)},
            resolution=resolution,
        )

    def _output(self, rows: _Rows, outputs: list[torch.Tensor]) -> GenieOutput:
        """Images back in their input form and size, with one provenance record per row."""
        pipe = self._pipe
        spacing = str(pipe.scheduler.config.get("timestep_spacing", ""))
        images, records = [], []
        for i, tensor in enumerate(outputs):
            images.append(restore(tensor_to_pil(tensor), rows.specs[i]))
            steps_run, start_t = rows.timing[rows.ratios[i]]
            records.append(
                GenieRecord(
                    source_id=rows.ids[i],
                    target=rows.targets[i],
                    target_name=rows.names[i],
                    prompt=rows.prompts[i],
                    noise_ratio=rows.ratios[i],
                    steps_run=steps_run,
                    start_timestep=start_t,
                    seed=rows.seed,
                    noise_seed=rows.noise_seeds[i],
                    seed_scheme=SEED_SCHEME,
                    num_inference_steps=self.num_inference_steps,
                    guidance_scale=self.guidance_scale,
                    scheduler=type(pipe.scheduler).__name__,
                    timestep_spacing=spacing,
                    resolution=rows.resolution,
                    model_id=self.model_id,
                    model_revision=self.model_revision,
                    library_version=__version__,
                )
            )
        return GenieOutput(images=join_batch(images, rows.batch_kind), records=records)

    @staticmethod
    def _per_row(value: Any, n: int, name: str) -> list:
        if isinstance(value, (str, int, float)) or not isinstance(value, Sequence) and not hasattr(value, "tolist"):
            return [value] * n
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        if len(values) != n:
            raise ValueError(f"`{name}` has {len(values)} values for {n} images; give one per image, or a single value.")
        return values

    def _timesteps(self, r: float) -> tuple[int, int]:
        """Steps run and first timestep for ratio r, as the diffusers img2img pipeline computes them."""
        scheduler = copy.deepcopy(self.pipe.scheduler)
        scheduler.set_timesteps(self.num_inference_steps)
        steps_run = min(int(self.num_inference_steps * r), self.num_inference_steps)
        t_start = self.num_inference_steps - steps_run
        return steps_run, int(scheduler.timesteps[t_start * scheduler.order])

    def _encode_sources(self, sources: list, keys: list[str], batch_size: int) -> dict[str, torch.Tensor]:
        """Encode each distinct source once: VAE posterior mode times the scaling factor (METHOD.md)."""
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        pipe = self._pipe
        vae = pipe.vae
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
                pixels = torch.stack([pil_to_tensor(unique[k]) for k in chunk]).to(pipe.device, dtype)
                dist = vae.encode(pipe.image_processor.normalize(pixels))
                z = retrieve_latents(dist, sample_mode="argmax")
                mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
                if mean is not None and std is not None:
                    shape = (1, -1, 1, 1)
                    z = (z - torch.tensor(mean, device=z.device).view(shape)) / torch.tensor(std, device=z.device).view(shape)
                z = z * vae.config.scaling_factor
                for k, zi in zip(chunk, z):
                    latents[k] = zi[None].to(self._dtype)
        finally:
            if upcast:
                vae.to(torch.float16)
        return latents

    @property
    def _dtype(self) -> torch.dtype:
        return self._pipe.unet.dtype

    def _embed_prompts(self, prompts: list[str]) -> dict[str, dict[str, torch.Tensor]]:
        """Prompt embeddings (as pipeline keyword arguments), computed once per distinct prompt and cached."""
        new = sorted({p for p in prompts if p not in self._prompt_cache})
        if new:
            pipe = self._pipe
            cfg = self.guidance_scale > 1
            sdxl = hasattr(pipe, "text_encoder_2")
            if sdxl:
                out = pipe.encode_prompt(
                    prompt=new, device=pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=cfg
                )
                names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
            else:
                out = pipe.encode_prompt(new, pipe.device, 1, cfg)
                names = ("prompt_embeds", "negative_prompt_embeds")
            for j, p in enumerate(new):
                self._prompt_cache[p] = {k: t[j : j + 1] for k, t in zip(names, out) if t is not None}
        return {p: self._prompt_cache[p] for p in set(prompts)}
