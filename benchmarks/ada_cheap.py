"""Cheap GeNIe-Ada against exact GeNIe-Ada on the bundled digits model: agreement on r* and cost per kept image.

python benchmarks/ada_cheap.py [--pairs 100] [--steps 50] [--json ada_cheap.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import class_prototypes
from genie_transforms.bench import bench_ada
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.embedders import digits_embedder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    images, labels, _ = digits_arrays("heldout")
    train_images, train_labels, _ = digits_arrays("train")
    pick = rng.choice(len(images), args.pairs, replace=False)
    targets = [int(rng.choice([c for c in range(10) if c != labels[i]])) for i in pick]
    gen = GenieGenerator.from_pretrained(
        "genie-tiny-digits", num_inference_steps=args.steps, batch_size=64, progress=False
    )
    embedder = digits_embedder()
    prototypes = class_prototypes(embedder, [Image.fromarray(x) for x in train_images], train_labels.tolist())

    def oracle(ims):
        return digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in ims])))

    gen.generate([Image.fromarray(images[0])], [1], 0.8, seed=0, prompts=digits_prompt_map())  # warm-up
    figures = bench_ada(
        gen,
        embedder,
        [Image.fromarray(images[i]) for i in pick],
        targets,
        prototypes,
        digits_prompt_map(),
        oracle=oracle,
        seed=args.seed,
    )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
