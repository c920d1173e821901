"""`genie bench`: measured speed of the engine, printed and written as JSON.

On one model (the shipped `genie-tiny-digits` by default; `tiny` for the random test pipeline; `sd15-random`,
`sdxl-random`, `sd3-random` or `flux-random` for Stable Diffusion 1.5's, SDXL's, SD3.5 medium's or (at reduced depth)
Flux's architecture with random weights, built in code; or any Hub id or folder of a supported family), in one run:
images per second of GenieGenerator at several batch sizes against the reference code's per-image loop on the same
model, steps and r, and against the family's own diffusers img2img pipeline called once with the whole batch (the
strongest peer), with the pixel difference at the same noise; the time over the denoiser-only floor (the same
UNet or transformer passes replayed alone); peak memory; on
the digits model, the cost of exact and cheap GeNIe-Ada with cheap Ada's cost-agreement curve, the `fast` preset's
label consistency, and the training throughput of a DataLoader with GenieTransform (both hosts, 0 and 2 workers).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from ..architectures import RANDOM_MODELS
from .common import add_parser, report


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "bench", "measure the engine's speed (printed and written as JSON)", __doc__)
    parser.add_argument(
        "--model",
        default="genie-tiny-digits",
        help=f"genie-tiny-digits, tiny, {', '.join(RANDOM_MODELS)} (random weights), or a Hub id / folder",
    )
    parser.add_argument("--resolution", type=int, default=None, help="image side in pixels (default: the model's own)")
    parser.add_argument("--dtype", default=None, help="float16 / bfloat16 / float32 (default: float16 on CUDA)")
    parser.add_argument("--images", type=int, default=16, help="images per measurement (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps of the full schedule")
    parser.add_argument("--noise-ratio", type=float, default=0.8, help="r of the throughput figures")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="engine batch sizes to time")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per figure, best kept (after a warm-up)")
    parser.add_argument("--ada-pairs", type=int, default=32, help="pairs for the Ada figures (0 to skip)")
    parser.add_argument(
        "--quality-images", type=int, default=200, help="images for the fast preset's oracle figures (0 to skip)"
    )
    parser.add_argument(
        "--cheap-steps", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6], help="cheap Ada's curve (none to skip)"
    )
    parser.add_argument(
        "--training-images", type=int, default=1024, help="DataLoader epoch size of the training figures (0 to skip)"
    )
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--channels-last", action="store_true", help="measure with the UNet in channels-last format")
    parser.add_argument("--compile", action="store_true", help="measure with torch.compile on the UNet")
    parser.add_argument(
        "--output",
        "--json",
        type=Path,
        default=Path("genie-bench.json"),
        help="JSON file to write the figures to (--json is an old spelling)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from ..bench import (
        bench_ada,
        bench_cheap_ada_curve,
        bench_peer,
        bench_throughput,
        bench_training,
        oracle_consistency,
        timed,
    )
    from ..digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
    from ..generator import PRESETS, GenieGenerator
    from ..testing import save_tiny_pipeline

    model = args.model
    if model == "tiny":
        model = str(save_tiny_pipeline(Path(tempfile.mkdtemp()) / "tiny-sd"))
    settings = {
        "num_inference_steps": args.steps,
        "progress": False,
        "channels_last": args.channels_last,
        "resolution": args.resolution,
    }
    if model in RANDOM_MODELS:
        from ..architectures import make_random_pipeline

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, args.dtype or ("float16" if device == "cuda" else "float32"))
        pipe: Any = make_random_pipeline(model, dtype=dtype, device=device)  # built where it runs: fast on a GPU
        gen = GenieGenerator(pipe, compile_unet=args.compile, **settings)
    else:
        dtype_arg = {"dtype": args.dtype} if args.dtype else {}
        gen = GenieGenerator.from_pretrained(
            model, device=args.device, compile_unet=args.compile, **dtype_arg, **settings
        )
    digits = args.model == "genie-tiny-digits"
    rng = np.random.default_rng(0)
    images, labels, _ = digits_arrays("heldout")
    prompts = digits_prompt_map()
    size = gen.resolution

    def sample(n: int) -> tuple[list, list[int]]:
        pick = rng.choice(len(images), n, replace=n > len(images))
        src = [Image.fromarray(images[i]).resize((size, size), Image.Resampling.BICUBIC) for i in pick]
        return src, [int(rng.choice([c for c in range(10) if c != labels[i]])) for i in pick]

    sources, targets = sample(args.images)
    figures: dict = {
        "model": args.model,
        "device": str(gen.pipe.device),
        "env": report(),
        "channels_last": args.channels_last,
        "compile": args.compile,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "architecture": RANDOM_MODELS.get(args.model),
        "family": gen.model_family,
        "resolution": gen.resolution,
        "dtype": str(gen.family.dtype),
    }
    if args.model in RANDOM_MODELS:
        print(f"{args.model}: {RANDOM_MODELS[args.model]}")
    figures["throughput"] = t = bench_throughput(
        gen, sources, targets, prompts, args.noise_ratio, args.batch_sizes, args.repeats
    )
    print(
        f"{args.model} ({gen.model_family}, {gen.resolution} px) on {figures['device']}, {args.images} images, "
        f"r = {args.noise_ratio}, {args.steps} steps"
    )
    print("| batch | images/s | x naive loop |\n| --- | --- | --- |")
    print(f"| naive (1 call per image) | {t['naive_images_per_s']:.2f} | 1.00 |")
    for bs, ips in t["engine_images_per_s"].items():
        print(f"| {bs} | {ips:.2f} | {t['speedup_vs_naive'][bs]:.2f} |")
    print(
        f"denoiser-only floor {t['denoiser_floor_s']:.2f} s; engine {t['engine_s_at_best_batch']:.2f} s "
        f"({t['overhead_over_denoiser_floor']:.2f}x the floor); peak memory {t['peak_memory_mb']:.0f} MiB"
    )
    figures["peer"] = peer = bench_peer(gen, sources, targets, prompts, args.noise_ratio, args.repeats)
    print(
        f"diffusers' {peer['family']} img2img called once with all {peer['images']} images: {peer['peer_images_per_s']:.2f} images/s; "
        f"the engine {peer['engine_images_per_s']:.2f} ({peer['engine_vs_peer']:.2f}x); at the same noise the "
        f"images differ by {peer['pixel_difference_same_noise']['mean']:.2f} levels on average "
        f"(max {peer['pixel_difference_same_noise']['max']})"
    )
    if digits and args.ada_pairs > 0:
        from ..ada import class_prototypes
        from ..embedders import digits_embedder

        embedder = digits_embedder(args.device)
        train_images, train_labels, _ = digits_arrays("train")
        protos = class_prototypes(embedder, [Image.fromarray(x) for x in train_images], train_labels.tolist())
        ada_sources, ada_targets = sample(args.ada_pairs)
        figures["ada"] = a = bench_ada(gen, embedder, ada_sources, ada_targets, protos, prompts)
        print("| per kept image | denoiser passes | seconds | x GeNIe 0.8 |\n| --- | --- | --- | --- |")
        for k in ("genie_0.8", "exact", "cheap"):
            ratio = a["seconds_per_image"][k] / a["seconds_per_image"]["genie_0.8"]
            print(f"| {k} | {a['steps_per_image'][k]:.1f} | {a['seconds_per_image'][k]:.4f} | {ratio:.2f} |")
        print(f"cheap Ada picks the same r* as exact Ada for {a['agreement']:.0%} of {a['pairs']} pairs")
        if args.cheap_steps:
            figures["cheap_ada_curve"] = c = bench_cheap_ada_curve(
                gen, embedder, ada_sources, ada_targets, protos, prompts, args.cheap_steps
            )
            print(
                "| cheap Ada short steps per grid point | passes, x GeNIe 0.8 | time, x GeNIe 0.8 | same r* as exact "
                "| within one grid step |\n| --- | --- | --- | --- | --- |"
            )
            for row in c["curve"]:
                print(
                    f"| {row['cheap_steps']} | {row['passes_vs_genie_0.8']:.2f} | {row['cost_vs_genie_0.8']:.2f} | "
                    f"{row['agreement']:.0%} | {row['within_one_grid_step']:.0%} |"
                )
    if digits and args.quality_images > 0:

        def oracle(ims):
            return digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in ims])))

        q_sources, q_targets = sample(args.quality_images)
        fast = GenieGenerator.from_pretrained(model, device=args.device, preset="fast", progress=False, batch_size=16)
        best = str(max(args.batch_sizes))
        fast_s = timed(
            lambda: fast.generate(sources, targets, args.noise_ratio, seed=0, prompts=prompts), fast.pipe.device
        )
        figures["fast_preset"] = f = {
            "settings": PRESETS["fast"],
            "images_per_s": args.images / fast_s,
            "speedup_vs_naive_at_paper_steps": (args.images / fast_s) / t["naive_images_per_s"],
            "paper_engine_images_per_s": t["engine_images_per_s"][best],
            "oracle_reads_target_paper": oracle_consistency(
                gen, q_sources, q_targets, prompts, oracle, args.noise_ratio
            ),
            "oracle_reads_target_fast": oracle_consistency(
                fast, q_sources, q_targets, prompts, oracle, args.noise_ratio
            ),
        }
        print(
            f"fast preset ({PRESETS['fast']['num_inference_steps']} steps): {f['images_per_s']:.2f} images/s, "
            f"{f['speedup_vs_naive_at_paper_steps']:.1f}x the reference loop at {args.steps} steps; oracle reads the "
            f"target {f['oracle_reads_target_fast']:.1%} (paper settings: {f['oracle_reads_target_paper']:.1%})"
        )
    if digits and args.training_images > 0:
        from ..datasets import generate_hard_negatives
        from ..digits import load_digits_dataset

        train = load_digits_dataset("train")
        bank = generate_hard_negatives(
            train.select(range(min(200, len(train)))), gen.with_settings(num_inference_steps=10), targets="random_k:1"
        )
        pick = rng.choice(len(images), args.training_images, replace=args.training_images > len(images))
        epoch = [Image.fromarray(images[i]).resize((256, 256), Image.Resampling.BICUBIC) for i in pick]  # ImageNet-like
        epoch_labels = [int(labels[i]) for i in pick]
        figures["training"] = {}
        print("| DataLoader epoch | workers | samples/s without | with GenieTransform (bank, p=0.5) | ratio |")
        print("| --- | --- | --- | --- | --- |")
        import importlib.util

        hosts = [h for h in ("albumentations", "torchvision") if importlib.util.find_spec(h) is not None]
        for host in hosts:  # the hosts installed here
            for workers in (0, 2):
                row = bench_training(bank, epoch, epoch_labels, host, workers)
                figures["training"][f"{host}, {workers} workers"] = row
                print(
                    f"| {host} | {workers} | {row['samples_per_s_without']:.0f} | {row['samples_per_s_with']:.0f} | "
                    f"{row['ratio']:.2f} |"
                )
    args.output.write_text(json.dumps(figures, indent=2, default=str))
    print(f"wrote {args.output}")
    return 0


__all__ = [
    "register",
    "run",
]
