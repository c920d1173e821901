"""Cheap GeNIe-Ada against exact GeNIe-Ada: agreement on r* and cost per kept image, on the bundled digits model.

    python benchmarks/ada_cheap.py [--pairs 100] [--steps 50] [--json ada_cheap.json]

Prints, for the same held-out (source, target) pairs: how often cheap Ada picks the same r* as exact Ada, the
mean |r*_cheap - r*_exact|, the oracle's label consistency of each method's kept images, and the denoising steps
and seconds per kept image of exact Ada, cheap Ada and plain GeNIe at r = 0.8.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import DEFAULT_GRID, GenieAda, class_prototypes
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.embedders import digits_embedder


def oracle_reads(images: list) -> np.ndarray:
    return digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in images])))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    images, labels, index = digits_arrays("heldout")
    train_images, train_labels, _ = digits_arrays("train")
    pick = rng.choice(len(images), args.pairs, replace=False)
    sources = [Image.fromarray(images[i]) for i in pick]
    targets = [int(rng.choice([c for c in range(10) if c != labels[i]])) for i in pick]
    ids = [f"digits-{index[i]}" for i in pick]
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=args.steps, batch_size=64,
                                         progress=False)  # fmt: skip
    embedder = digits_embedder()
    prototypes = class_prototypes(embedder, [Image.fromarray(x) for x in train_images], train_labels.tolist())
    prompts = digits_prompt_map()
    common = dict(prototypes=prototypes, seed=args.seed, prompts=prompts, source_ids=ids)
    gen.generate(sources[:2], targets[:2], 0.8, seed=0, prompts=prompts)  # warm-up (load, caches)

    timings, outputs = {}, {}
    for mode in ("exact", "cheap"):
        start = time.perf_counter()
        outputs[mode] = GenieAda(gen, embedder, mode=mode).run(sources, targets, **common)
        timings[mode] = (time.perf_counter() - start) / args.pairs
    start = time.perf_counter()
    genie = gen.generate(sources, targets, 0.8, seed=args.seed, prompts=prompts, source_ids=ids)
    timings["genie_0.8"] = (time.perf_counter() - start) / args.pairs

    exact_r = np.array([row["r_star"] for row in outputs["exact"].table])
    cheap_r = np.array([row["r_star"] for row in outputs["cheap"].table])
    steps = {
        "exact": sum(int(args.steps * r) for r in DEFAULT_GRID),
        "cheap": len(DEFAULT_GRID) + float(np.mean([int(args.steps * r) for r in cheap_r])),
        "genie_0.8": int(args.steps * 0.8),
    }
    reach = {name: float((oracle_reads(list(out.images)) == np.array(targets)).mean())
             for name, out in (("exact", outputs["exact"]), ("cheap", outputs["cheap"]), ("genie_0.8", genie))}  # fmt: skip
    figures = {
        "pairs": args.pairs,
        "steps": args.steps,
        "agreement": float((exact_r == cheap_r).mean()),
        "mean_abs_r_difference": float(np.abs(exact_r - cheap_r).mean()),
        "r_star_histogram_exact": {str(r): int((exact_r == r).sum()) for r in DEFAULT_GRID},
        "r_star_histogram_cheap": {str(r): int((cheap_r == r).sum()) for r in DEFAULT_GRID},
        "denoising_steps_per_image": steps,
        "seconds_per_image": {k: round(v, 4) for k, v in timings.items()},
        "cost_vs_genie_0.8": {k: round(timings[k] / timings["genie_0.8"], 2) for k in ("exact", "cheap")},
        "oracle_reaches_target": reach,
    }
    print(f"{args.pairs} held-out pairs, {args.steps} steps, grid {list(DEFAULT_GRID)}")
    print(f"agreement on r*: {figures['agreement']:.1%} (mean |dr| {figures['mean_abs_r_difference']:.3f})")
    print("| method | denoising steps / image | s / image | x GeNIe 0.8 | oracle reads target |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("exact", "cheap", "genie_0.8"):
        ratio = timings[name] / timings["genie_0.8"]
        print(f"| {name} | {steps[name]:.1f} | {timings[name]:.4f} | {ratio:.2f} | {reach[name]:.1%} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
