"""What comes before and after denoising: a validated call as a plan of rows (sources, ids, seeds, the start of each
noise ratio, source latents, prompt embeddings), and the output with one provenance record per row."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._version import __version__
from .errors import GenieWarning
from .families import Family, StartLevel, sd15_snr
from .images import ImageSpec, content_hash, fit_square, join_batch, pil_to_tensor, restore, tensor_to_pil, to_rgb
from .outputs import GenieOutput, GenieRecord
from .prompts import PromptMap
from .seeding import NOISE_SCHEME, SEED_SCHEME, check_seed, derive_seed
from .settings import as_scalar, check_noise_ratio, denoising_steps


class UnknownLabelError(KeyError, ValueError):
    """A label that the prompt map does not know (a `KeyError` and a `ValueError`, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_target(value: Any) -> int | str:
    """One target: an int class index or a class name (numpy and torch scalars too)."""
    value = as_scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"A target must be an int class index or a class name, got {value!r}.")
    return value if isinstance(value, str) else int(value)


def per_row(value: Any, n: int, name: str) -> list:
    """`value` as one entry per row: a scalar repeated, or a sequence of exactly `n` entries."""
    value = as_scalar(value)
    if isinstance(value, (str, numbers.Number)) or not isinstance(value, (Sequence, np.ndarray, torch.Tensor)):
        return [value] * n
    values = value.tolist() if isinstance(value, (np.ndarray, torch.Tensor)) else list(value)
    if len(values) != n:
        raise ValueError(f"`{name}` has {len(values)} values for {n} images; give one per image, or a single value.")
    return values


def steps_for(family: Family, noise_ratio: float, num_inference_steps: int, noise_rule: str, resolution: int) -> int:
    """The steps a row of ratio r runs, by the noise rule (see `settings.NOISE_RULES`)."""
    if noise_rule == "sd15-snr":
        return family.steps_for_snr(num_inference_steps, sd15_snr(noise_ratio), resolution)
    return denoising_steps(noise_ratio, num_inference_steps)


@dataclass
class PromptCache:
    """Prompt embeddings computed once per distinct prompt and guidance mode, kept across calls."""

    entries: dict[tuple[str, bool], dict[str, torch.Tensor]] = field(default_factory=dict)

    def embed(self, family: Family, prompts: list[str], guidance_scale: float) -> dict[str, dict[str, torch.Tensor]]:
        cfg = family.guided(guidance_scale)
        new = sorted({p for p in prompts if (p, cfg) not in self.entries})
        if new:
            for p, embeds in zip(new, family.encode_prompts(new, guidance_scale)):
                self.entries[(p, cfg)] = embeds
        return {p: self.entries[(p, cfg)] for p in set(prompts)}

    def knows(self, prompt: str) -> bool:
        """Whether `prompt` was embedded before (in either guidance mode)."""
        return (prompt, True) in self.entries or (prompt, False) in self.entries

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


def check_prompt_lengths(family: Family, named: Mapping[str, str]) -> None:
    """Refuse a prompt that the model's text encoder would cut before the end of its class name (`named` maps
    each prompt to the class name it must show); warn (`GenieWarning`) when only words after the name are cut."""
    tokenizer, limit = family.prompt_reader()
    for prompt, name in named.items():
        total = len(tokenizer(prompt).input_ids)
        if total <= limit:
            continue
        end = prompt.find(name)
        upto = len(tokenizer(prompt[: end + len(name)]).input_ids) if end >= 0 else total
        if upto > limit:
            raise ValueError(
                f"The prompt for class {name!r} is {total} tokens and the model's text encoder reads {limit}: the "
                f"class name would be cut off ({prompt[:80]!r}...). Shorten the template or the class name."
            )
        warnings.warn(
            f"The prompt for class {name!r} is {total} tokens and the model's text encoder reads {limit}: the words "
            f"after the class name are cut ({prompt[:80]!r}...).",
            GenieWarning,
            stacklevel=4,
        )


def encode_sources(family: Family, sources: list, keys: list[str], batch_size: int) -> dict[str, torch.Tensor]:
    """Encode each distinct source once, by the model's family (VAE posterior mode, normalised as the family does:
    times the scaling factor, as the reference code)."""
    unique = dict(zip(keys, sources))
    order = list(unique)
    latents: dict[str, torch.Tensor] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        z = family.encode(torch.stack([pil_to_tensor(unique[k]) for k in chunk]))
        for k, zi in zip(chunk, z):
            latents[k] = zi[None]
    return latents


@dataclass
class GenerationPlan:
    """One validated call, ready to denoise (`GenieGenerator.plan`): per-row values, the start of each noise ratio,
    and the cached source latents and prompt embeddings the rows index."""

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
    starts: dict[float, StartLevel]
    resolution: int

    def chunks(self, batch_size: int) -> Iterator[tuple[float, list[int]]]:
        """(r, row indices) groups: rows with the same r, at most `batch_size` at a time, in r order."""
        for r in sorted(set(self.ratios)):
            group = [i for i, ri in enumerate(self.ratios) if ri == r]
            for start in range(0, len(group), batch_size):
                yield r, group[start : start + batch_size]

    def embeddings(self, rows: list[int]) -> dict[str, torch.Tensor]:
        """The prompt embeddings of these rows, stacked (what the family's denoiser takes)."""
        first = self.embeds[self.prompts[rows[0]]]
        return {
            name: value if name == "text_ids" else torch.cat([self.embeds[self.prompts[i]][name] for i in rows])
            for name, value in first.items()
        }


def build_plan(
    family: Family,
    prompt_map: PromptMap,
    images: list | None,
    batch_kind: str | None,
    targets: Any,
    noise_ratio: Any,
    *,
    seed: int,
    source_ids: Sequence[str | int] | None,
    batch_size: int,
    num_inference_steps: int,
    guidance_scale: float,
    noise_rule: str,
    resolution: int,
    min_image_size: int,
    cache: PromptCache,
) -> GenerationPlan:
    """Validate one call and compute everything before denoising. `images=None` is text-to-image (one row per
    target, at r = 1); else `images` is the list of inputs `images.split_batch` made."""
    seed = check_seed(seed)
    n = len(targets) if images is None else len(images)
    if n == 0:
        raise ValueError("`images` is empty; pass at least one image.")
    target_list = [check_target(t) for t in per_row(targets, n, "targets")]
    ratios = [check_noise_ratio(r, num_inference_steps) for r in per_row(noise_ratio, n, "noise_ratio")]
    if source_ids is not None and (isinstance(source_ids, (str, int)) or len(source_ids) != n):
        raise ValueError(f"`source_ids` must be a sequence with one id per image ({n}), got {source_ids!r}.")
    target_idx = []
    for t in target_list:
        try:
            target_idx.append(prompt_map.index(t))
        except KeyError as err:
            raise UnknownLabelError(f"Unknown target {t!r}: {err}") from None
    if images is None:
        keys = ["txt2img"] * n
        specs = [ImageSpec("pil", resolution, resolution, 3, "uint8", mode="RGB")] * n
        with torch.inference_mode():
            zero = torch.zeros(1, *family.latent_shape(resolution), device=family.device, dtype=family.dtype)
        latents = {"txt2img": zero}
    else:
        sources, specs = [], []
        for i, image in enumerate(images):
            rgb, spec = to_rgb(image, what=f"images[{i}]")
            if min(spec.height, spec.width) < min_image_size:
                raise ValueError(
                    f"images[{i}] is {spec.width}x{spec.height} px, smaller than min_image_size={min_image_size} on "
                    f"its shorter side; upscale it first, or lower `min_image_size`."
                )
            sources.append(fit_square(rgb, resolution))
            specs.append(spec)
        keys = [content_hash(s) for s in sources]
        with torch.inference_mode():
            latents = encode_sources(family, sources, keys, batch_size)
    ids = keys if source_ids is None else [str(s) for s in source_ids]
    prompt_texts = [prompt_map.prompt(t) for t in target_idx]
    unchecked = {p: prompt_map.name(t) for p, t in zip(prompt_texts, target_idx) if not cache.knows(p)}
    check_prompt_lengths(family, unchecked)  # a prompt in the cache was checked when it was first embedded
    with torch.inference_mode():
        embeds = cache.embed(family, prompt_texts, guidance_scale)
    return GenerationPlan(
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
        starts={
            r: family.start(
                num_inference_steps, steps_for(family, r, num_inference_steps, noise_rule, resolution), resolution
            )[0]
            for r in set(ratios)
        },
        resolution=resolution,
    )


def plan_output(
    plan: GenerationPlan, tensors: Sequence[torch.Tensor | None], provenance: Mapping[str, Any]
) -> GenieOutput:
    """Images back in their input form and size, with one provenance record per row. `provenance` holds the
    generator-wide fields of `GenieRecord` (model, settings, scheduler as run)."""
    images, records = [], []
    for i, tensor in enumerate(tensors):
        assert tensor is not None  # every row was denoised
        images.append(restore(tensor_to_pil(tensor), plan.specs[i]))
        start = plan.starts[plan.ratios[i]]
        records.append(
            GenieRecord(
                source_id=plan.ids[i],
                target=plan.targets[i],
                target_name=plan.names[i],
                prompt=plan.prompts[i],
                prompt_template=plan.templates[i],
                noise_ratio=plan.ratios[i],
                steps_run=start.steps_run,
                start_timestep=round(start.timestep),
                text_to_image=plan.ratios[i] >= 1.0,
                seed=plan.seed,
                noise_seed=plan.noise_seeds[i],
                seed_scheme=SEED_SCHEME,
                noise_scheme=NOISE_SCHEME,
                resolution=plan.resolution,
                library_version=__version__,
                start_sigma=start.sigma,
                start_snr=start.snr,
                **provenance,
            )
        )
    return GenieOutput(images=join_batch(images, plan.batch_kind), records=records)


__all__ = [
    "GenerationPlan",
    "PromptCache",
    "UnknownLabelError",
    "build_plan",
    "check_prompt_lengths",
    "check_target",
    "encode_sources",
    "per_row",
    "plan_output",
    "steps_for",
]
