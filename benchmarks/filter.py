"""What the keep-hard-negatives filter does on the bundled digits model: which images it keeps and drops, read by an
independent oracle (an RBF SVM on pixels, not the backbone the filter uses).

    python benchmarks/filter.py [--pairs 300] [--ratio 0.7] [--steps 50] [--json filter.json]

Pairs are held-out digits turned into a random other digit; the filter uses the bundled backbone (trained on the
base classes 0-4 only) with prototypes from the train split's real images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import class_prototypes
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.embedders import digits_embedder
from genie_transforms.filtering import HardNegativeFilter


def reads(predicted: np.ndarray, targets: np.ndarray, sources: np.ndarray) -> dict[str, float | int]:
    """How the oracle reads a set of hard negatives: as the target, the source, or neither."""
    if not len(predicted):
        return {"images": 0, "target": float("nan"), "source": float("nan"), "neither": float("nan")}
    target, source = predicted == targets, predicted == sources
    return {
        "images": len(predicted),
        "target": float(target.mean()),
        "source": float(source.mean()),
        "neither": float((~target & ~source).mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--ratio", type=float, default=0.7)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--margins", type=float, nargs="+", default=[-0.05, 0.0, 0.05])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.time()
    rng = np.random.default_rng(args.seed)
    images, labels, _ = digits_arrays("heldout")
    train_images, train_labels, _ = digits_arrays("train")
    pick = rng.choice(len(images), args.pairs, replace=False)
    sources = labels[pick]
    targets = np.array([int(rng.choice([c for c in range(10) if c != s])) for s in sources])
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=args.steps, batch_size=64)
    out = gen.generate(
        [Image.fromarray(images[i]) for i in pick],
        targets.tolist(),
        args.ratio,
        seed=args.seed,
        prompts=digits_prompt_map(),
        source_ids=[f"heldout-{i}" for i in pick],
    )
    embedder = digits_embedder()
    prototypes = class_prototypes(embedder, [Image.fromarray(x) for x in train_images], train_labels.tolist())
    scores = HardNegativeFilter(embedder, prototypes).scores(out.images, targets, sources)
    predicted = digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in out.images])))
    figures = {
        "pairs": args.pairs,
        "noise_ratio": args.ratio,
        "steps": args.steps,
        "seed": args.seed,
        "all": reads(predicted, targets, sources),
        "margins": {},
    }
    for margin in args.margins:
        kept = scores > margin
        figures["margins"][str(margin)] = {
            "kept_fraction": float(kept.mean()),
            "kept": reads(predicted[kept], targets[kept], sources[kept]),
            "dropped": reads(predicted[~kept], targets[~kept], sources[~kept]),
        }
    figures["seconds"] = round(time.time() - started, 1)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
