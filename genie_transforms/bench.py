"""Measured speed: the engine against the reference code's per-image loop, against the UNet-only floor, the cost of
GeNIe-Ada, peak memory, and the fast preset's quality. Figures are printed and written as JSON; no timing is
asserted anywhere."""

from __future__ import annotations

import functools
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from .generator import GenieGenerator
from .prompts import PromptMap
from .seeding import derive_seed, torch_generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 1) -> float:
    """Best wall time of `repeats` runs of `fn` (after one warm-up run), in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA), or the process's peak resident memory (CPU), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_loop(
    gen: GenieGenerator,
    sources: Sequence[Image.Image],
    targets: Sequence[int],
    r: float,
    prompts: PromptMap,
    seed: int = 0,
) -> list:
    """The reference code's way: the diffusers img2img pipeline called once per image, with its own preprocessing."""
    out = []
    for i, (image, t) in enumerate(zip(sources, targets)):
        result = gen.pipe(
            prompt=prompts.prompt(t),
            image=image,
            strength=r,
            num_inference_steps=gen.num_inference_steps,
            guidance_scale=gen.guidance_scale,
            generator=torch_generator(derive_seed(seed, str(i), t)),
        )
        out.append(result.images[0])
    return out


def unet_floor(gen: GenieGenerator, batch: int, r: float) -> Callable[[], None]:
    """The same UNet forward passes alone (steps run x guided batch) on tensors of the same shapes: the physical
    floor of a generation for this model, step count and batch."""
    pipe = gen.pipe
    steps = int(gen.num_inference_steps * r)
    cfg = gen.guidance_scale > 1
    size = gen.resolution // pipe.vae_scale_factor
    rows = batch * (2 if cfg else 1)
    latents = torch.randn(rows, pipe.unet.config.in_channels, size, size, device=pipe.device, dtype=pipe.unet.dtype)
    embeds = pipe.encode_prompt(["a photo"], pipe.device, 1, False)[0].repeat(rows, 1, 1)
    timesteps = torch.linspace(999 * r, 1, steps).long().to(pipe.device)

    def run() -> None:
        with torch.inference_mode():
            for t in timesteps:
                pipe.unet(latents, t, encoder_hidden_states=embeds, return_dict=False)

    return run


def bench_throughput(
    gen: GenieGenerator,
    sources: list,
    targets: list[int],
    prompts: PromptMap,
    r: float = 0.8,
    batch_sizes: Sequence[int] = (1, 4, 16),
    repeats: int = 1,
) -> dict[str, Any]:
    """Images per second of the engine at each batch size and of the naive loop, with the UNet-only floor."""
    device = gen.pipe.device
    n = len(sources)
    naive = timed(lambda: naive_loop(gen, sources, targets, r, prompts), device, repeats)
    engine: dict[int, Any] = {}
    for bs in batch_sizes:
        gen.clear_cache()
        engine[bs] = timed(
            functools.partial(
                gen.generate, sources, targets, r, seed=0, prompts=prompts, batch_size=bs, progress=False
            ),
            device,
            repeats,
        )
    best = max(batch_sizes)
    floor = sum(timed(unet_floor(gen, min(best, n - s), r), device, repeats) for s in range(0, n, best))
    return {
        "images": n,
        "noise_ratio": r,
        "steps": gen.num_inference_steps,
        "naive_images_per_s": n / naive,
        "engine_images_per_s": {str(bs): n / t for bs, t in engine.items()},
        "speedup_vs_naive": {str(bs): naive / t for bs, t in engine.items()},
        "unet_floor_s": floor,
        "engine_s_at_best_batch": engine[best],
        "overhead_over_unet_floor": engine[best] / floor,
        "peak_memory_mb": peak_memory_mb(device),
    }


def oracle_consistency(
    gen: GenieGenerator,
    sources: list,
    targets: list[int],
    prompts: PromptMap,
    oracle: Callable[[list], np.ndarray],
    r: float = 0.8,
) -> float:
    """Fraction of hard negatives at `r` that an oracle classifier reads as their target."""
    out = gen.generate(sources, targets, r, seed=0, prompts=prompts, progress=False)
    return float((np.asarray(oracle(list(out.images))) == np.asarray(targets)).mean())


def bench_ada(
    gen: GenieGenerator,
    embedder: Any,
    sources: list,
    targets: list[int],
    prototypes: dict,
    prompts: PromptMap,
    oracle: Callable[[list], np.ndarray] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Exact against cheap GeNIe-Ada on the same pairs: agreement on r*, and seconds and denoising steps per kept
    image of each (and of plain GeNIe at r = 0.8), with the oracle's label consistency when one is given."""
    from .ada import GenieAda

    device = gen.pipe.device
    n = len(sources)
    ids = [f"bench-{i}" for i in range(n)]
    outputs: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    cheap_steps = GenieAda(gen, embedder, mode="cheap").cheap_steps
    for mode in ("exact", "cheap"):
        ada = GenieAda(gen, embedder, mode=mode)
        _sync(device)
        start = time.perf_counter()
        outputs[mode] = ada.run(sources, targets, prototypes=prototypes, seed=seed, prompts=prompts, source_ids=ids)
        _sync(device)
        seconds[mode] = (time.perf_counter() - start) / n
    _sync(device)
    start = time.perf_counter()
    outputs["genie_0.8"] = gen.generate(
        sources, targets, 0.8, seed=seed, prompts=prompts, source_ids=ids, progress=False
    )
    _sync(device)
    seconds["genie_0.8"] = (time.perf_counter() - start) / n
    grid = GenieAda(gen, embedder).grid
    exact_r = np.array([row["r_star"] for row in outputs["exact"].table])
    cheap_r = np.array([row["r_star"] for row in outputs["cheap"].table])
    steps = gen.num_inference_steps
    figures = {
        "pairs": n,
        "grid": list(grid),
        "agreement": float((exact_r == cheap_r).mean()),
        "mean_abs_r_difference": float(np.abs(exact_r - cheap_r).mean()),
        "r_star_exact": {str(r): int((exact_r == r).sum()) for r in grid},
        "r_star_cheap": {str(r): int((cheap_r == r).sum()) for r in grid},
        "steps_per_image": {
            "exact": float(sum(int(steps * r) for r in grid)),
            "cheap": float(sum(int(cheap_steps * r) for r in grid) + np.mean([int(steps * r) for r in cheap_r])),
            "genie_0.8": float(int(steps * 0.8)),
        },
        "seconds_per_image": seconds,
        "cost_vs_genie_0.8": {k: seconds[k] / seconds["genie_0.8"] for k in ("exact", "cheap")},
    }
    if oracle is not None:
        figures["oracle_reads_target"] = {
            k: float((np.asarray(oracle(list(o.images))) == np.asarray(targets)).mean()) for k, o in outputs.items()
        }
    return figures
