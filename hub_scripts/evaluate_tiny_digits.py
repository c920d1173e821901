"""Measure the figures of the `genie-tiny-digits` model card and print them (as a table and as JSON).

On held-out sources, each with a random other digit as target, at 50 DPM-Solver++ steps and guidance 7.5, an
oracle classifier (an RBF SVM on the train split) reads every hard negative; for each r we report the fractions
read as the target, as the source, and as neither. Sample diversity: mean pairwise distance between r = 1
samples of a class over that between real held-out images of that class, averaged over classes.

    python hub_scripts/evaluate_tiny_digits.py [--model genie-tiny-digits] [--limit 539] [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.evaluation import label_flip_curve, sample_diversity

RATIOS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def oracle_predict(images: list) -> np.ndarray:
    return digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in images])))


def measure(model: str = "genie-tiny-digits", limit: int | None = None, steps: int = 50, guidance: float = 7.5,
            seed: int = 0, per_class: int = 20) -> dict:  # fmt: skip
    rng = np.random.default_rng(seed)
    images, labels, index = digits_arrays("heldout")
    order = rng.permutation(len(images))[:limit]
    images, labels, index = images[order], labels[order], index[order]
    targets = np.array([rng.choice([c for c in range(10) if c != y]) for y in labels])
    gen = GenieGenerator.from_pretrained(model, num_inference_steps=steps, guidance_scale=guidance, batch_size=64)
    prompts = digits_prompt_map()
    started = time.time()
    curve = label_flip_curve(
        gen, [Image.fromarray(im) for im in images], labels.tolist(), targets.tolist(), RATIOS,
        oracle=oracle_predict, prompts=prompts, seed=seed, source_ids=[f"digits-{i}" for i in index],
    )  # fmt: skip
    # diversity: r = 1 samples of each class (from random sources) against the real held-out images of the class
    all_images, all_labels, _ = digits_arrays("heldout")
    sources = [Image.fromarray(all_images[i]) for i in rng.choice(len(all_images), per_class * 10)]
    out = gen.generate(sources, [c for c in range(10) for _ in range(per_class)], 1.0, seed=seed, prompts=prompts)
    samples = np.stack([np.asarray(im, dtype=np.float32) for im in out.images]).reshape(10, per_class, -1)
    diversity = [sample_diversity(samples[c], all_images[all_labels == c].astype(np.float32)) for c in range(10)]
    return {
        "model": model,
        "sources": len(images),
        "steps": steps,
        "guidance_scale": guidance,
        "seed": seed,
        "label_flip": curve,
        "diversity_per_class": [round(d, 3) for d in diversity],
        "diversity": float(np.mean(diversity)),
        "seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="genie-tiny-digits")
    parser.add_argument("--limit", type=int, default=None, help="number of held-out sources (default: all 539)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = measure(args.model, args.limit, args.steps, args.guidance, args.seed)
    print(f"{figures['sources']} held-out sources, {args.steps} steps, guidance {args.guidance}")
    print("| r | target | source | neither |\n| --- | --- | --- | --- |")
    for r, row in figures["label_flip"].items():
        print(f"| {r} | {row['target']:.1%} | {row['source']:.1%} | {row['neither']:.1%} |")
    print(f"sample diversity at r = 1 (generated / real pairwise distance): {figures['diversity']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
