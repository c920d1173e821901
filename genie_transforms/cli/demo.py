"""`genie demo`: the method working end to end, offline, on the model that the package ships.

It takes a few held-out digits, turns each into a hard negative of another digit over the noise-ratio grid,
asks an oracle classifier what each image shows, prints that table and writes an image grid (source, the r
sweep, real examples of the target) as PNG, with every image's provenance as JSON lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

R_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="GeNIe end to end on the bundled digits model (offline, CPU)")
    parser.add_argument("--out", type=Path, default=Path("genie-output"), help="output folder (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=6, help="number of (source, target) pairs (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps of the full schedule (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="global seed (default: %(default)s)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
    from ..generator import GenieGenerator
    from ..plots import image_grid

    if args.pairs < 1:
        raise ValueError(f"--pairs must be >= 1, got {args.pairs}.")
    rng = np.random.default_rng(args.seed)
    images, labels, index = digits_arrays("heldout")
    train_images, train_labels, _ = digits_arrays("train")
    rows = rng.choice(len(images), size=min(args.pairs, len(images)), replace=False)
    targets = [int(rng.choice([c for c in range(10) if c != labels[i]])) for i in rows]
    prompts = digits_prompt_map()
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", device=args.device, num_inference_steps=args.steps)

    n_r = len(R_GRID)
    sources = [Image.fromarray(images[i]) for i in rows for _ in R_GRID]
    out = gen.generate(
        sources,
        targets=[t for t in targets for _ in R_GRID],
        noise_ratio=list(R_GRID) * len(rows),
        seed=args.seed,
        prompts=prompts,
        source_ids=[f"digits-{index[i]}" for i in rows for _ in R_GRID],
    )
    predicted = digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in out.images])))

    args.out.mkdir(parents=True, exist_ok=True)
    grid_rows, row_labels = [], []
    print(f"{'source -> target':<18}" + "".join(f"r={r:<5}" for r in R_GRID) + "  (oracle's reading of each image)")
    for k, i in enumerate(rows):
        source, target = int(labels[i]), targets[k]
        reads = predicted[k * n_r : (k + 1) * n_r]
        print(f"{prompts.name(source):>7} -> {prompts.name(target):<7} " + "".join(f"{prompts.name(p):<7}" for p in reads))
        examples = [Image.fromarray(train_images[j]) for j in np.flatnonzero(train_labels == target)[:3]]
        grid_rows.append([Image.fromarray(images[i]), *out.images[k * n_r : (k + 1) * n_r], *examples])
        row_labels.append(f"{source} -> {target}")
    col_labels = ["source", *[f"r={r}" for r in R_GRID], "target", "examples", ""]
    grid_path = args.out / "grid.png"
    image_grid(grid_rows, col_labels=col_labels, row_labels=row_labels).save(grid_path)
    with open(args.out / "records.jsonl", "w") as f:
        for record, pred in zip(out.records, predicted):
            f.write(json.dumps({**record.to_dict(), "oracle_prediction": int(pred)}) + "\n")
    reached = np.array([p == t for p, t in zip(predicted, [t for t in targets for _ in R_GRID])]).reshape(-1, n_r)
    print("reaches the target: " + "  ".join(f"r={r}: {m:.0%}" for r, m in zip(R_GRID, reached.mean(axis=0))))
    print(f"wrote {grid_path} and {args.out / 'records.jsonl'}")
    return 0
