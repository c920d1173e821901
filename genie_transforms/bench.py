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
from .images import tensor_to_pil
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


def timed_pair(
    a: Callable[[], Any], b: Callable[[], Any], device: torch.device, repeats: int = 1
) -> tuple[float, float]:
    """Best wall times of `a` and `b` (after one warm-up run of each), their runs alternated so that the machine's
    drift during the measurement hits both alike; for a ratio within one run."""
    a()
    b()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, fn in enumerate((a, b)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[k] = min(best[k], time.perf_counter() - start)
    return best[0], best[1]


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA), or the process's peak resident memory (CPU), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peer_pipeline(gen: GenieGenerator) -> Any:
    """The model family's own diffusers img2img pipeline on the engine's weights (no hook of ours)."""
    from diffusers import AutoPipelineForImage2Image

    peer = AutoPipelineForImage2Image.from_pipe(gen.pipe)
    peer.set_progress_bar_config(disable=True)
    return peer


def _peer_call(gen: GenieGenerator, peer: Any, r: float) -> Callable[..., Any]:
    """A call of `peer` that runs the steps the engine runs at `r`, at the engine's settings and resolution."""
    import inspect

    from .settings import denoising_steps

    steps = gen.num_inference_steps
    strength = peer_strength(denoising_steps(r, steps), steps, gen.family.flow)
    accepted = inspect.signature(peer.__call__).parameters
    size = {k: gen.resolution for k in ("height", "width") if k in accepted}
    return functools.partial(
        peer,
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=gen.guidance_scale,
        **size,
        **gen.family.sequence_kwargs(),
    )


def naive_loop(
    gen: GenieGenerator,
    sources: Sequence[Image.Image],
    targets: Sequence[int],
    r: float,
    prompts: PromptMap,
    seed: int = 0,
) -> list:
    """The reference code's way: the family's diffusers img2img pipeline called once per image, with its own
    preprocessing."""
    call = _peer_call(gen, _peer_pipeline(gen), r)
    return [
        call(prompt=prompts.prompt(t), image=image, generator=torch_generator(derive_seed(seed, str(i), t))).images[0]
        for i, (image, t) in enumerate(zip(sources, targets))
    ]


def denoiser_floor(gen: GenieGenerator, generate: Callable[[], Any]) -> Callable[[], None]:
    """The denoiser's (UNet's or transformer's) forward passes of one `generate()` run, recorded with their inputs
    and replayed alone: the physical floor of that generation for this model, steps and batch."""
    calls: list[tuple[tuple, dict]] = []
    denoiser = gen.family.denoiser
    hook = denoiser.register_forward_pre_hook(
        lambda _module, args, kwargs: calls.append((args, kwargs)), with_kwargs=True
    )
    try:
        generate()
    finally:
        hook.remove()

    def run() -> None:
        with torch.inference_mode():
            for args, kwargs in calls:
                denoiser(*args, **kwargs)

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
    """Images per second of the engine at each batch size and of the naive loop, with the denoiser-only floor."""
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
    gen.clear_cache()
    floor = timed(
        denoiser_floor(
            gen,
            functools.partial(
                gen.generate, sources, targets, r, seed=0, prompts=prompts, batch_size=best, progress=False
            ),
        ),
        device,
        repeats,
    )
    return {
        "images": n,
        "noise_ratio": r,
        "steps": gen.num_inference_steps,
        "naive_images_per_s": n / naive,
        "engine_images_per_s": {str(bs): n / t for bs, t in engine.items()},
        "speedup_vs_naive": {str(bs): naive / t for bs, t in engine.items()},
        "denoiser_floor_s": floor,
        "engine_s_at_best_batch": engine[best],
        "overhead_over_denoiser_floor": engine[best] / floor,
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
            "cheap": float(cheap_steps * len(grid) + np.mean([int(steps * r) for r in cheap_r])),
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


def peer_strength(steps_run: int, num_inference_steps: int, flow: bool) -> float:
    """A `strength` for which the family's own img2img pipeline runs exactly `steps_run` steps: Stable Diffusion's
    pipelines run `int(n * strength)`, the flow-matching ones (SD3, Flux) start at `int(n - n * strength)`."""
    if steps_run >= num_inference_steps:
        return 1.0
    return (steps_run + (-0.5 if flow else 0.5)) / num_inference_steps


def bench_peer(
    gen: GenieGenerator, sources: list, targets: list[int], prompts: PromptMap, r: float = 0.8, repeats: int = 1
) -> dict[str, Any]:
    """The strongest peer: the model family's own diffusers img2img pipeline (same weights, scheduler, steps,
    guidance) called **once** with the whole batch (a list of prompts, one strength), against the engine generating
    the same batch in one call, its prompt cache emptied before each call as the peer keeps none. Also the pixel
    difference between the two at the same noise: the peer's own noise (recorded from its scheduler's `add_noise`,
    or `scale_noise` for flow matching) is given to the engine's `denoise` on its VAE-mode latents (the peer
    samples the posterior)."""
    n, device, flow = len(sources), gen.pipe.device, gen.family.flow
    peer = _peer_pipeline(gen)
    call = _peer_call(gen, peer, r)
    texts = [prompts.prompt(t) for t in targets]
    seeds = [derive_seed(0, f"bench-{i}", t) for i, t in enumerate(targets)]

    def peer_call() -> list:
        return call(prompt=texts, image=list(sources), generator=[torch_generator(s) for s in seeds]).images

    ids = [f"bench-{i}" for i in range(n)]

    def engine_call() -> Any:
        gen.clear_cache()  # like for like: the peer encodes its prompts in every call
        return gen.generate(sources, targets, r, seed=0, prompts=prompts, source_ids=ids, batch_size=n)

    peer_s, engine_s = timed_pair(peer_call, engine_call, device, repeats)
    # the same noise: record the peer's, then denoise the engine's plan with it
    captured: list[torch.Tensor] = []
    name = "scale_noise" if flow else "add_noise"
    noising = getattr(peer.scheduler, name)

    def recording(*args: Any) -> torch.Tensor:
        captured.append((args[2] if flow else args[1]).detach().cpu())  # (sample, t, noise) / (sample, noise, t)
        return noising(*args)

    setattr(peer.scheduler, name, recording)
    try:
        peer_images = peer_call()
    finally:
        setattr(peer.scheduler, name, noising)
    plan = gen.plan(sources, targets, r, seed=0, prompts=prompts, source_ids=ids, batch_size=n)
    engine_images = [tensor_to_pil(t) for t in gen.denoise(plan, list(range(n)), noise=captured[0])]
    diff = np.abs(
        np.stack([np.asarray(a, dtype=np.int16) for a in peer_images])
        - np.stack([np.asarray(b, dtype=np.int16) for b in engine_images])
    )
    return {
        "family": gen.model_family,
        "images": n,
        "peer_images_per_s": n / peer_s,
        "engine_images_per_s": n / engine_s,
        "engine_vs_peer": peer_s / engine_s,
        "pixel_difference_same_noise": {"mean": float(diff.mean()), "max": int(diff.max())},
    }


def bench_training(
    bank: Any,
    images: Sequence[Any],
    labels: Sequence[int],
    host: str,
    num_workers: int,
    size: int = 224,
    p: float = 0.5,
    repeats: int = 5,
    placement: str = "after",
) -> dict[str, float]:
    """A DataLoader epoch of a realistic pipeline (decode PNG bytes, RandomResizedCrop to `size`, GenieTransform in
    bank mode with probability `p`, to a float tensor) against the same pipeline without GenieTransform, for `host`
    ("albumentations" or "torchvision") with `num_workers` workers: `repeats` pairs of epochs, the two alternated;
    the median samples per second of each and the median of the pairs' ratios. `placement` puts GenieTransform
    `"after"` the crop (the negative is fitted into the crop, uncropped) or `"before"` it (the negative is fitted to
    the decoded image and then cropped like any sample)."""
    if placement not in ("before", "after"):
        raise ValueError(f"`placement` must be 'before' or 'after' the crop, got {placement!r}.")
    import io

    from torch.utils.data import DataLoader, Dataset

    encoded = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    num_classes = int(max(labels)) + 1

    def pipeline(with_genie: bool) -> Callable[[Any, int], tuple[torch.Tensor, int]]:
        if host == "albumentations":
            import albumentations as A

            from .albumentations import GenieTransform as AlbGenie

            steps: list[Any] = [A.RandomResizedCrop(size=(size, size), scale=(0.5, 1.0))]
            if with_genie:
                steps.insert(0 if placement == "before" else 1, AlbGenie(bank=bank, p=p, num_classes=num_classes))
            aug = A.Compose(steps, seed=0)

            def run_alb(image: Any, label: int) -> tuple[torch.Tensor, int]:
                out = aug(image=np.asarray(image), label=label)
                return torch.from_numpy(out["image"].copy()).permute(2, 0, 1).float() / 255, int(out["label"])

            return run_alb
        from torchvision.transforms import v2

        from .torchvision import GenieTransform as TvGenie

        tv_steps: list[Any] = [v2.PILToTensor(), v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True)]
        if with_genie:
            tv_steps.insert(1 if placement == "before" else 2, TvGenie(bank=bank, p=p, num_classes=num_classes))
        tv_steps.append(v2.ToDtype(torch.float32, scale=True))
        tf = v2.Compose(tv_steps)

        def run_tv(image: Any, label: int) -> tuple[torch.Tensor, int]:
            out, new_label = tf(image, label)
            return out, int(new_label)

        return run_tv

    class Encoded(Dataset):
        def __init__(self, transform: Callable[[Any, int], tuple[torch.Tensor, int]]) -> None:
            self.transform = transform

        def __len__(self) -> int:
            return len(encoded)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            image = Image.open(io.BytesIO(encoded[i])).convert("RGB")  # decode
            return self.transform(image, int(labels[i]))

    loaders = {
        name: DataLoader(
            Encoded(pipeline(with_genie)),
            batch_size=64,
            shuffle=True,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )
        for name, with_genie in (("without", False), ("with", True))
    }
    rates: dict[str, list[float]] = {"without": [], "with": []}
    for loader in loaders.values():  # warm-up (workers start, caches fill)
        next(iter(loader))
    for _ in range(repeats):  # alternate the two: each pair of epochs shares the machine's state at the time
        for name, loader in loaders.items():
            start = time.perf_counter()
            for _batch in loader:
                pass
            rates[name].append(len(encoded) / (time.perf_counter() - start))
    ratios = [with_ / without for with_, without in zip(rates["with"], rates["without"])]
    return {  # medians: one slow epoch on a shared machine moves neither the rates nor the ratio
        "samples_per_s_without": float(np.median(rates["without"])),
        "samples_per_s_with": float(np.median(rates["with"])),
        "ratio": float(np.median(ratios)),
    }


def bench_cheap_ada_curve(
    gen: GenieGenerator,
    embedder: Any,
    sources: list,
    targets: list[int],
    prototypes: dict,
    prompts: PromptMap,
    cheap_steps: Sequence[int] = (1, 2, 3, 4, 5, 6),
    seed: int = 0,
) -> dict[str, Any]:
    """Cost against agreement for cheap GeNIe-Ada over the short schedule of its sweep: for each `cheap_steps`,
    the denoiser passes and the seconds per kept image relative to GeNIe at r = 0.8, and the fraction of pairs whose
    r* equals the exact rule's (and is within one grid step of it)."""
    from .ada import GenieAda

    device = gen.pipe.device
    n = len(sources)
    ids = [f"bench-{i}" for i in range(n)]
    steps = gen.num_inference_steps

    def run(ada: Any) -> tuple[float, np.ndarray]:
        _sync(device)
        start = time.perf_counter()
        out = ada.run(sources, targets, prototypes=prototypes, seed=seed, prompts=prompts, source_ids=ids)
        _sync(device)
        return (time.perf_counter() - start) / n, np.array([row["r_star"] for row in out.table])

    exact = GenieAda(gen, embedder)
    exact_s, exact_r = run(exact)
    _sync(device)
    start = time.perf_counter()
    gen.generate(sources, targets, 0.8, seed=seed, prompts=prompts, source_ids=ids, progress=False)
    _sync(device)
    genie_s = (time.perf_counter() - start) / n
    genie_passes = int(steps * 0.8)
    grid_step = min(b - a for a, b in zip(exact.grid, exact.grid[1:]))
    curve = []
    for k in cheap_steps:
        seconds, r_star = run(GenieAda(gen, embedder, mode="cheap", cheap_steps=k))
        passes = k * len(exact.grid) + float(np.mean([int(steps * r) for r in r_star]))
        curve.append(
            {
                "cheap_steps": k,
                "passes_vs_genie_0.8": passes / genie_passes,
                "cost_vs_genie_0.8": seconds / genie_s,
                "agreement": float((r_star == exact_r).mean()),
                "within_one_grid_step": float((np.abs(r_star - exact_r) <= grid_step + 1e-9).mean()),
            }
        )
    return {
        "pairs": n,
        "exact_passes_vs_genie_0.8": sum(int(steps * r) for r in exact.grid) / genie_passes,
        "exact_cost_vs_genie_0.8": exact_s / genie_s,
        "curve": curve,
    }


__all__ = [
    "bench_ada",
    "bench_cheap_ada_curve",
    "bench_peer",
    "bench_throughput",
    "bench_training",
    "denoiser_floor",
    "naive_loop",
    "oracle_consistency",
    "peak_memory_mb",
    "peer_strength",
    "timed",
    "timed_pair",
]
