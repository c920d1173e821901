"""One adapter per diffusers model family: the engine's only door into a pipeline.

Each family says how to encode sources and prompts, how to bring a source latent to the start of its schedule
with a row's own noise, how to denoise from there, and how to decode, using the pipeline's components and its
public methods. The pipeline object is never patched: noise and start levels are arguments.

| family | pipelines | denoiser | noising to the start |
| --- | --- | --- | --- |
| `sd` | Stable Diffusion 1.x / 2.x (epsilon or v-prediction), LCM | UNet | `scheduler.add_noise` at the start timestep |
| `sdxl` | Stable Diffusion XL (base, Turbo) | UNet with pooled text and size conditioning | the same |
| `sd3` | Stable Diffusion 3 / 3.5 | MMDiT transformer, flow matching | `(1 - sigma) x + sigma noise` |
| `flux` | Flux (dev: guidance embedded, no classifier-free guidance; schnell) | MMDiT transformer on packed latents, flow matching | the same |
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

FAMILY_NAMES = ("sd", "sdxl", "sd3", "flux")
_PREFIXES = (  # pipeline class name prefixes, the longest first
    ("StableDiffusionXL", "sdxl"),
    ("StableDiffusion3", "sd3"),
    ("Flux", "flux"),
    ("StableDiffusion", "sd"),
    ("LatentConsistencyModel", "sd"),
)
SUPPORTED = "Stable Diffusion 1.x/2.x, SDXL (and Turbo), SD3/SD3.5, Flux, LCM"


def family_name(class_name: str) -> str:
    """The family of a diffusers pipeline class name (`StableDiffusionXLImg2ImgPipeline` -> `"sdxl"`)."""
    for prefix, name in _PREFIXES:
        if class_name.startswith(prefix):
            return name
    raise TypeError(
        f"{class_name} is not a pipeline family GeNIe supports; the supported families are {SUPPORTED} "
        "(their image-to-image or text-to-image pipelines)."
    )


@dataclass(frozen=True)
class StartLevel:
    """Where a row with a given r starts: the steps it runs, the first timestep of its schedule, the noise level
    there (sigma for flow matching) and its signal-to-noise ratio (0 for pure noise)."""

    steps_run: int
    begin_index: int
    timestep: float
    sigma: float | None
    snr: float


def short_fractions(steps: int) -> np.ndarray:
    """Where the `steps` steps of a short schedule start, as fractions of its first timestep (or sigma):
    `sqrt(1 - i / steps)`, denser near the start, where a hard negative's content is decided (0.82 and 0.58 after
    1 for 3 steps). Measured against even spacing on held-out pairs of the bundled model: README, Performance."""
    return np.sqrt(1 - np.arange(steps) / steps)


def sd15_snr(noise_ratio: float) -> float:
    """The signal-to-noise ratio at which Stable Diffusion 1.5 starts a row of noise ratio r: its scaled-linear
    schedule (betas 0.00085 to 0.012 over 1,000 steps) at timestep `round(999 r)`; 0 at r = 1 (pure noise)."""
    if noise_ratio >= 1:
        return 0.0
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alpha = float(np.cumprod(1 - betas)[round(999 * noise_ratio)])
    return alpha / (1 - alpha)


class Family:
    """The base adapter: encoding sources, decoding latents and the steps of a schedule, shared by the families."""

    name: ClassVar[str] = ""
    flow: ClassVar[bool] = False

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    # ------------------------------------------------------------------ shapes and devices
    @property
    def denoiser(self) -> Any:
        """The UNet or transformer (a `torch.nn.Module` with a diffusers `config`)."""
        return self.pipe.unet

    @property
    def dtype(self) -> torch.dtype:
        return self.denoiser.dtype

    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    def native_resolution(self) -> int:
        return int(self.denoiser.config.sample_size * self.pipe.vae_scale_factor)

    def resolution_multiple(self) -> int:
        return self.pipe.vae_scale_factor * 2 ** (len(self.denoiser.config.block_out_channels) - 1)

    def latent_shape(self, resolution: int) -> tuple[int, int, int]:
        """(channels, height, width) of one source latent (before any packing): the shape of a row's noise."""
        size = resolution // self.pipe.vae_scale_factor
        return (int(self.pipe.vae.config.latent_channels), size, size)

    # ------------------------------------------------------------------ VAE
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Latents of images in [0, 1] (N, 3, H, W): the VAE posterior's mode, normalised as the family does."""
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        vae = self.pipe.vae
        with _vae_precision(vae):
            x = self.pipe.image_processor.normalize(pixels.to(self.device, _vae_dtype(vae)))
            z = retrieve_latents(vae.encode(x), sample_mode="argmax")
        config = vae.config
        shift, mean, std = _vae_stats(config, z)
        if shift is not None:
            z = z - shift
        elif mean is not None and std is not None:
            z = (z - mean) / std
        return (z * config.scaling_factor).to(self.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, 3, H, W) from (unpacked) latents."""
        vae = self.pipe.vae
        config = vae.config
        shift, mean, std = _vae_stats(config, latents)
        z = latents / config.scaling_factor
        if shift is not None:
            z = z + shift
        elif mean is not None and std is not None:
            z = z * std + mean
        with _vae_precision(vae):
            image = vae.decode(z.to(_vae_dtype(vae)), return_dict=False)[0]
        return self.pipe.image_processor.postprocess(image, output_type="pt", do_denormalize=[True] * len(image))

    # ------------------------------------------------------------------ schedule
    def set_schedule(self, num_inference_steps: int, resolution: int) -> Any:
        """Set the pipeline's scheduler to the full schedule of `num_inference_steps`; returns the scheduler."""
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(num_inference_steps, device=self.device)
        return scheduler

    def start(self, num_inference_steps: int, steps_run: int, resolution: int) -> tuple[StartLevel, torch.Tensor]:
        """The start of a row that runs `steps_run` of `num_inference_steps` steps, and the timesteps it runs (the
        scheduler is left ready for them)."""
        scheduler = self.set_schedule(num_inference_steps, resolution)
        begin = (num_inference_steps - steps_run) * scheduler.order
        timesteps = scheduler.timesteps[begin:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        t = float(timesteps[0])
        pure = steps_run >= num_inference_steps
        if self.flow:
            sigma = float(scheduler.sigmas[begin])
            snr = 0.0 if pure or sigma >= 1 else ((1 - sigma) / sigma) ** 2
            return StartLevel(steps_run, begin, t, sigma, snr), timesteps
        alpha = float(scheduler.alphas_cumprod[int(t)])
        snr = 0.0 if pure else alpha / (1 - alpha)
        return StartLevel(steps_run, begin, t, math.sqrt((1 - alpha) / alpha), snr), timesteps

    short_solver: ClassVar[str] = "DPMSolverMultistepScheduler"
    """The scheduler of [`short_schedule`] (what the records of a short sweep name)."""

    def short_schedule(self, start: StartLevel, steps: int) -> tuple[Any, torch.Tensor]:
        """A scheduler of its own and its timesteps for `steps` steps from `start` to the clean latent (cheap
        GeNIe-Ada's sweep): DPM-Solver++ (2M) from the start's timestep, on the fractions [`short_fractions`] of it.
        The pipeline's scheduler is left as it is."""
        from diffusers import DPMSolverMultistepScheduler

        scheduler = DPMSolverMultistepScheduler.from_config(
            self.pipe.scheduler.config,
            algorithm_type="dpmsolver++",
            solver_order=2,
            final_sigmas_type="zero",
            use_karras_sigmas=False,
            use_exponential_sigmas=False,
            use_beta_sigmas=False,
            use_lu_lambdas=False,
        )
        timesteps = np.round(start.timestep * short_fractions(steps)).astype(np.int64)
        if len(set(timesteps.tolist())) != steps:
            raise ValueError(f"{steps} short steps do not fit below timestep {start.timestep:.0f}; use fewer.")
        scheduler.set_timesteps(timesteps=timesteps.tolist(), device=self.device)
        return scheduler, scheduler.timesteps

    def steps_for_snr(self, num_inference_steps: int, snr: float, resolution: int) -> int:
        """The steps to run so that the start's signal-to-noise ratio is the one nearest `snr` (in log scale) on
        this family's schedule of `num_inference_steps` steps; all of them (pure noise) for `snr = 0`."""
        if snr <= 0:
            return num_inference_steps
        levels = [self.start(num_inference_steps, k, resolution)[0].snr for k in range(1, num_inference_steps)]
        best = min(range(len(levels)), key=lambda i: abs(math.log(levels[i]) - math.log(snr)))
        return best + 1

    def noised(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, pure: bool) -> torch.Tensor:
        """The latents at the start: the sources noised with the rows' own noise, or pure noise (text-to-image)."""
        scheduler = self.pipe.scheduler
        if pure:
            return noise * scheduler.init_noise_sigma
        return scheduler.add_noise(x0, noise, timesteps[:1].repeat(len(x0)))

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        """The denoiser's layout of (N, C, H, W) latents (unchanged but for Flux)."""
        return latents

    def unpack(self, latents: torch.Tensor, resolution: int) -> torch.Tensor:
        return latents

    # ------------------------------------------------------------------ prompts and denoising
    def guided(self, guidance_scale: float) -> bool:
        """Whether the family runs classifier-free guidance at this scale."""
        return guidance_scale > 1 and getattr(self.denoiser.config, "time_cond_proj_dim", None) is None

    def prompt_reader(self) -> tuple[Any, int]:
        """The tokenizer whose limit decides how much of a prompt the denoiser reads, and that limit in tokens."""
        tokenizer = self.pipe.tokenizer
        return tokenizer, int(tokenizer.model_max_length)

    def sequence_kwargs(self) -> dict[str, Any]:
        """What the family's own pipeline call needs to encode prompts as the engine does (Flux: the T5 length)."""
        return {}

    def encode_prompts(self, prompts: list[str], guidance_scale: float) -> list[dict[str, torch.Tensor]]:
        """One dict of embeddings per prompt (each with a batch dimension of 1)."""
        raise NotImplementedError

    def denoise(
        self,
        latents: torch.Tensor,
        embeds: dict[str, torch.Tensor],
        timesteps: torch.Tensor,
        guidance_scale: float,
        generators: list[torch.Generator],
        resolution: int,
        scheduler: Any = None,
    ) -> torch.Tensor:
        """Denoise packed `latents` over `timesteps` with the pipeline's scheduler (or `scheduler`, e.g. a
        [`short_schedule`]'s)."""
        raise NotImplementedError


class SDFamily(Family):
    """Stable Diffusion 1.x / 2.x and LCM: a UNet conditioned on CLIP text embeddings, epsilon or v-prediction."""

    name = "sd"

    def encode_prompts(self, prompts: list[str], guidance_scale: float) -> list[dict[str, torch.Tensor]]:
        cfg = self.guided(guidance_scale)
        positive, negative = self.pipe.encode_prompt(prompts, self.device, 1, cfg)
        return [
            {"prompt_embeds": positive[j : j + 1]}
            | ({"negative_prompt_embeds": negative[j : j + 1]} if negative is not None else {})
            for j in range(len(prompts))
        ]

    def conditioning(self, embeds: dict[str, torch.Tensor], cfg: bool, n: int, resolution: int) -> dict[str, Any]:
        """The UNet's keyword arguments besides the latents and the timestep."""
        prompt = embeds["prompt_embeds"]
        if cfg:
            prompt = torch.cat([embeds["negative_prompt_embeds"], prompt])
        return {"encoder_hidden_states": prompt}

    def denoise(self, latents, embeds, timesteps, guidance_scale, generators, resolution, scheduler=None):
        pipe, unet = self.pipe, self.pipe.unet
        scheduler = pipe.scheduler if scheduler is None else scheduler
        cfg = self.guided(guidance_scale)
        kwargs = self.conditioning(embeds, cfg, len(latents), resolution)
        dim = getattr(unet.config, "time_cond_proj_dim", None)
        if dim is not None:  # guidance-distilled (LCM) UNets take the scale as an embedding
            w = torch.tensor(guidance_scale - 1).repeat(len(latents))
            kwargs["timestep_cond"] = pipe.get_guidance_scale_embedding(w, embedding_dim=dim).to(
                self.device, latents.dtype
            )
        accepts = inspect.signature(scheduler.step).parameters  # as the pipelines' prepare_extra_step_kwargs
        step_kwargs = {k: v for k, v in (("generator", generators), ("eta", 0.0)) if k in accepts}
        for t in timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            prediction = unet(model_input, t, return_dict=False, **kwargs)[0]
            if cfg:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + guidance_scale * (cond - uncond)
            latents = scheduler.step(prediction, t, latents, **step_kwargs, return_dict=False)[0]
        return latents


class SDXLFamily(SDFamily):
    """Stable Diffusion XL (and SDXL-Turbo): two text encoders, pooled text and size conditioning."""

    name = "sdxl"

    def encode_prompts(self, prompts: list[str], guidance_scale: float) -> list[dict[str, torch.Tensor]]:
        cfg = self.guided(guidance_scale)
        out = self.pipe.encode_prompt(
            prompt=prompts, device=self.device, num_images_per_prompt=1, do_classifier_free_guidance=cfg
        )
        names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
        return [{k: v[j : j + 1] for k, v in zip(names, out) if v is not None} for j in range(len(prompts))]

    def conditioning(self, embeds, cfg, n, resolution):
        size = (resolution, resolution)
        config = self.pipe.config
        if getattr(config, "requires_aesthetics_score", False):  # the refiner's conditioning
            ids, negative_ids = (*size, 0, 0, 6.0), (*size, 0, 0, 2.5)
        else:
            ids = negative_ids = (*size, 0, 0, *size)
        time_ids = torch.tensor([ids], device=self.device, dtype=embeds["prompt_embeds"].dtype).repeat(n, 1)
        text = embeds["pooled_prompt_embeds"]
        prompt = embeds["prompt_embeds"]
        if cfg:
            negative = torch.tensor([negative_ids], device=self.device, dtype=time_ids.dtype).repeat(n, 1)
            time_ids = torch.cat([negative, time_ids])
            text = torch.cat([embeds["negative_pooled_prompt_embeds"], text])
            prompt = torch.cat([embeds["negative_prompt_embeds"], prompt])
        return {"encoder_hidden_states": prompt, "added_cond_kwargs": {"text_embeds": text, "time_ids": time_ids}}


class SD3Family(Family):
    """Stable Diffusion 3 / 3.5: an MMDiT transformer on flow matching (rectified flow)."""

    name = "sd3"
    flow = True

    @property
    def denoiser(self) -> Any:
        return self.pipe.transformer

    def native_resolution(self) -> int:
        return int(self.denoiser.config.sample_size * self.pipe.vae_scale_factor)

    def resolution_multiple(self) -> int:
        return self.pipe.vae_scale_factor * int(self.denoiser.config.patch_size)

    def guided(self, guidance_scale: float) -> bool:
        return guidance_scale > 1

    def set_schedule(self, num_inference_steps: int, resolution: int) -> Any:
        scheduler = self.pipe.scheduler
        kwargs = {}
        if scheduler.config.get("use_dynamic_shifting", False):
            kwargs["mu"] = self._mu(resolution)
        scheduler.set_timesteps(num_inference_steps, device=self.device, **kwargs)
        return scheduler

    def tokens_per_side(self, resolution: int) -> int:
        """Image tokens along one side of the latent (the transformer's patches): what the shift depends on."""
        return resolution // self.pipe.vae_scale_factor // int(self.denoiser.config.patch_size)

    def _mu(self, resolution: int) -> float:
        """The resolution-dependent shift of a dynamically shifted schedule (as the family's pipelines compute it)."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        config = self.pipe.scheduler.config
        side = self.tokens_per_side(resolution)
        return calculate_shift(
            side * side,
            config.get("base_image_seq_len", 256),
            config.get("max_image_seq_len", 4096),
            config.get("base_shift", 0.5),
            config.get("max_shift", 1.15),
        )

    short_solver: ClassVar[str] = "FlowMatchEulerDiscreteScheduler"

    def short_schedule(self, start: StartLevel, steps: int) -> tuple[Any, torch.Tensor]:
        """The flow-matching Euler scheduler from the start's sigma, on the fractions [`short_fractions`] of it (no
        shift: the start's sigma is already the shifted one of the full schedule)."""
        from diffusers import FlowMatchEulerDiscreteScheduler

        scheduler = FlowMatchEulerDiscreteScheduler.from_config(
            self.pipe.scheduler.config,
            shift=1.0,
            use_dynamic_shifting=False,
            shift_terminal=None,
            use_karras_sigmas=False,
            use_exponential_sigmas=False,
            use_beta_sigmas=False,
            invert_sigmas=False,
        )
        assert start.sigma is not None  # a flow family's start always has one
        scheduler.set_timesteps(sigmas=start.sigma * short_fractions(steps), device=self.device)
        return scheduler, scheduler.timesteps

    def noised(self, x0, noise, timesteps, pure):
        if pure:
            return noise
        return self.pipe.scheduler.scale_noise(x0, timesteps[:1].repeat(len(x0)), noise)

    def prompt_reader(self) -> tuple[Any, int]:
        if getattr(self.pipe, "text_encoder_3", None) is not None:  # T5 reads 256 tokens (the pipeline's default)
            return self.pipe.tokenizer_3, 256
        return super().prompt_reader()

    def encode_prompts(self, prompts: list[str], guidance_scale: float) -> list[dict[str, torch.Tensor]]:
        cfg = self.guided(guidance_scale)
        out = self.pipe.encode_prompt(
            prompt=prompts,
            prompt_2=None,
            prompt_3=None,
            device=self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=cfg,
        )
        names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
        return [{k: v[j : j + 1] for k, v in zip(names, out) if v is not None} for j in range(len(prompts))]

    def denoise(self, latents, embeds, timesteps, guidance_scale, generators, resolution, scheduler=None):
        transformer = self.pipe.transformer
        scheduler = self.pipe.scheduler if scheduler is None else scheduler
        cfg = self.guided(guidance_scale)
        prompt, pooled = embeds["prompt_embeds"], embeds["pooled_prompt_embeds"]
        if cfg:
            prompt = torch.cat([embeds["negative_prompt_embeds"], prompt])
            pooled = torch.cat([embeds["negative_pooled_prompt_embeds"], pooled])
        for t in timesteps:
            model_input = torch.cat([latents] * 2) if cfg else latents
            prediction = transformer(
                hidden_states=model_input,
                timestep=t.expand(model_input.shape[0]),
                encoder_hidden_states=prompt,
                pooled_projections=pooled,
                return_dict=False,
            )[0]
            if cfg:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + guidance_scale * (cond - uncond)
            latents = scheduler.step(prediction, t, latents, return_dict=False)[0]
        return latents


class FluxFamily(SD3Family):
    """Flux: an MMDiT transformer on packed latents, flow matching with a resolution-dependent shift; dev embeds the
    guidance scale (no classifier-free guidance), schnell takes none."""

    name = "flux"

    def native_resolution(self) -> int:
        return int(self.pipe.default_sample_size * self.pipe.vae_scale_factor)

    def resolution_multiple(self) -> int:
        return self.pipe.vae_scale_factor * 2

    def tokens_per_side(self, resolution: int) -> int:
        return resolution // self.pipe.vae_scale_factor // 2  # 2 x 2 latent patches are packed into one token

    def guided(self, guidance_scale: float) -> bool:
        return False  # the guidance scale is an input of the transformer (dev), not two passes

    def set_schedule(self, num_inference_steps: int, resolution: int) -> Any:
        scheduler = self.pipe.scheduler
        sigmas = np.linspace(1.0, 1 / num_inference_steps, num_inference_steps)
        kwargs = {"mu": self._mu(resolution)} if scheduler.config.get("use_dynamic_shifting", False) else {}
        scheduler.set_timesteps(sigmas=sigmas, device=self.device, **kwargs)
        return scheduler

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        n, c, h, w = latents.shape
        return type(self.pipe)._pack_latents(latents, n, c, h, w)

    def unpack(self, latents: torch.Tensor, resolution: int) -> torch.Tensor:
        return type(self.pipe)._unpack_latents(latents, resolution, resolution, self.pipe.vae_scale_factor)

    def prompt_reader(self) -> tuple[Any, int]:
        tokenizer = self.pipe.tokenizer_2  # T5 carries the sequence; CLIP only the pooled embedding
        return tokenizer, min(512, int(getattr(tokenizer, "model_max_length", 512) or 512))

    def sequence_kwargs(self) -> dict[str, Any]:
        return {"max_sequence_length": self.prompt_reader()[1]}

    def encode_prompts(self, prompts: list[str], guidance_scale: float) -> list[dict[str, torch.Tensor]]:
        prompt_embeds, pooled, text_ids = self.pipe.encode_prompt(
            prompt=prompts,
            prompt_2=None,
            device=self.device,
            num_images_per_prompt=1,
            **self.sequence_kwargs(),
        )
        return [
            {"prompt_embeds": prompt_embeds[j : j + 1], "pooled_prompt_embeds": pooled[j : j + 1], "text_ids": text_ids}
            for j in range(len(prompts))
        ]

    def denoise(self, latents, embeds, timesteps, guidance_scale, generators, resolution, scheduler=None):
        pipe, transformer = self.pipe, self.pipe.transformer
        scheduler = pipe.scheduler if scheduler is None else scheduler
        n = latents.shape[0]
        side = 2 * (resolution // (pipe.vae_scale_factor * 2))
        image_ids = type(pipe)._prepare_latent_image_ids(n, side // 2, side // 2, self.device, latents.dtype)
        guidance = None
        if transformer.config.guidance_embeds:
            guidance = torch.full([n], guidance_scale, device=self.device, dtype=torch.float32)
        text_ids = embeds["text_ids"]
        for t in timesteps:
            prediction = transformer(
                hidden_states=latents,
                timestep=t.expand(n).to(latents.dtype) / 1000,
                guidance=guidance,
                pooled_projections=embeds["pooled_prompt_embeds"],
                encoder_hidden_states=embeds["prompt_embeds"],
                txt_ids=text_ids if text_ids.ndim == 2 else text_ids[0],
                img_ids=image_ids,
                return_dict=False,
            )[0]
            latents = scheduler.step(prediction, t, latents, return_dict=False)[0]
        return latents


FAMILIES: dict[str, type[Family]] = {f.name: f for f in (SDFamily, SDXLFamily, SD3Family, FluxFamily)}


def family_for(pipe: Any) -> Family:
    """The adapter of a loaded pipeline (chosen from its class); an unsupported pipeline is refused."""
    return FAMILIES[family_name(type(pipe).__name__)](pipe)


def _vae_stats(config: Any, like: torch.Tensor) -> tuple[Any, Any, Any]:
    """The VAE's latent shift (SD3, Flux) or per-channel mean and std (some SDXL VAEs), as tensors like `like`."""
    shift = getattr(config, "shift_factor", None)
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    shape = (1, -1, 1, 1)
    as_tensor = lambda v: torch.tensor(v, device=like.device, dtype=like.dtype).view(shape)  # noqa: E731
    return (
        shift,
        None if mean is None else as_tensor(mean),
        None if std is None else as_tensor(std),
    )


def _vae_dtype(vae: Any) -> torch.dtype:
    return torch.float32 if _upcasts(vae) else vae.dtype


def _upcasts(vae: Any) -> bool:
    return bool(getattr(vae.config, "force_upcast", False)) and vae.dtype == torch.float16


class _vae_precision:
    """Run the VAE in float32 while inside, where its config says float16 overflows (and restore it after)."""

    def __init__(self, vae: Any) -> None:
        self.vae, self.upcast = vae, _upcasts(vae)

    def __enter__(self) -> None:
        if self.upcast:
            self.vae.to(torch.float32)

    def __exit__(self, *exc: Any) -> None:
        if self.upcast:
            self.vae.to(torch.float16)


__all__ = [
    "FAMILIES",
    "FAMILY_NAMES",
    "Family",
    "FluxFamily",
    "SD3Family",
    "SDFamily",
    "SDXLFamily",
    "StartLevel",
    "family_for",
    "family_name",
    "sd15_snr",
]
