"""Cheap GeNIe-Ada against exact GeNIe-Ada on the bundled digits model: agreement on r* and cost per kept image.

    python benchmarks/ada_cheap.py [--pairs 200] [--cheap-steps 1 2 3 4 5 6] [--json ada_cheap.json]

For the same held-out (source, target) pairs and seed: exact Ada (every grid point generated in full, 50 steps),
GeNIe at r = 0.8 (the unit of cost), cheap Ada's anchored sweep for each number of short steps (every grid point
started exactly where exact Ada starts it, then k steps of its own), and the previous cheap mode (the sweep on a
coarse 10-step schedule, then one full generation at r*; its r* is exact Ada's on that schedule). Cost is counted
in denoiser passes per kept image (exact: the grid's steps; cheap: k per grid point plus the full run at r*) and
timed, all in one run; the oracle's label reads of the kept images come with them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import GenieAda, class_prototypes
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.embedders import digits_embedder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cheap-steps", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--coarse-steps", type=int, default=10, help="the previous cheap mode's coarse schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    images, labels, _ = digits_arrays("heldout")
    train_images, train_labels, _ = digits_arrays("train")
    pick = rng.choice(len(images), args.pairs, replace=False)
    targets = [int(rng.choice([c for c in range(10) if c != labels[i]])) for i in pick]
    sources = [Image.fromarray(images[i]) for i in pick]
    ids = [f"pair-{i}" for i in range(args.pairs)]
    gen = GenieGenerator.from_pretrained(
        "genie-tiny-digits", num_inference_steps=args.steps, batch_size=64, progress=False
    )
    embedder = digits_embedder()
    prototypes = class_prototypes(embedder, [Image.fromarray(x) for x in train_images], train_labels.tolist())
    prompts = digits_prompt_map()

    def oracle(ims: list) -> float:
        reads = digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in ims])))
        return float((reads == np.asarray(targets)).mean())

    def timed(run):
        start = time.perf_counter()
        out = run()
        return out, (time.perf_counter() - start) / args.pairs

    gen.generate(sources[:1], targets[:1], 0.8, seed=0, prompts=prompts)  # warm-up
    kwargs = {"prototypes": prototypes, "seed": args.seed, "prompts": prompts, "source_ids": ids}
    genie, genie_s = timed(
        lambda: gen.generate(sources, targets, 0.8, seed=args.seed, prompts=prompts, source_ids=ids, progress=False)
    )
    genie_passes = int(args.steps * 0.8)
    exact_ada = GenieAda(gen, embedder)
    grid = exact_ada.grid
    exact, exact_s = timed(lambda: exact_ada.run(sources, targets, **kwargs))
    exact_r = np.array([row["r_star"] for row in exact.table])
    full = {r: int(args.steps * r) for r in grid}

    def at_r_star(r_star: np.ndarray) -> float:  # the full generation at r*, per kept image
        return float(np.mean([full[r] for r in r_star]))

    def row(name: str, r_star: np.ndarray, passes: float, seconds: float, kept: list) -> dict:
        return {
            "mode": name,
            "passes_per_image": passes,
            "passes_vs_genie_0.8": passes / genie_passes,
            "seconds_vs_genie_0.8": seconds / genie_s,
            "agreement": float((r_star == exact_r).mean()),
            "within_one_grid_step": float((np.abs(r_star - exact_r) <= 0.1 + 1e-9).mean()),
            "oracle_reads_target": oracle(kept),
        }

    rows = [row("exact", exact_r, float(sum(full.values())), exact_s, list(exact.images))]
    for k in args.cheap_steps:
        out, seconds = timed(
            lambda k=k: GenieAda(gen, embedder, mode="cheap", cheap_steps=k).run(sources, targets, **kwargs)
        )
        r_star = np.array([r["r_star"] for r in out.table])
        rows.append(
            row(
                f"cheap, anchored, {k} short steps",
                r_star,
                k * len(grid) + at_r_star(r_star),
                seconds,
                list(out.images),
            )
        )
    coarse = gen.with_settings(num_inference_steps=args.coarse_steps)

    def previous_cheap():  # the previous cheap mode: r* from a coarse sweep, then the full image at r*
        table = GenieAda(coarse, embedder).run(sources, targets, **kwargs).table
        r_star = [r["r_star"] for r in table]
        kept = gen.generate(sources, targets, r_star, seed=args.seed, prompts=prompts, source_ids=ids, progress=False)
        return np.array(r_star), kept

    (coarse_r, kept), seconds = timed(previous_cheap)
    sweep = sum(int(args.coarse_steps * r) for r in grid)
    name = f"cheap, previous ({args.coarse_steps}-step coarse sweep)"
    rows.append(row(name, coarse_r, sweep + at_r_star(coarse_r), seconds, list(kept.images)))
    figures = {
        "pairs": args.pairs,
        "grid": list(grid),
        "genie_0.8": {
            "passes_per_image": genie_passes,
            "seconds_per_image": genie_s,
            "oracle_reads_target": oracle(list(genie.images)),
        },
        "r_star_exact": {str(r): int((exact_r == r).sum()) for r in grid},
        "rows": rows,
    }
    print(f"{args.pairs} pairs; GeNIe at r = 0.8: {genie_passes} passes, {genie_s * 1000:.1f} ms per image")
    print(
        "| mode | passes, x GeNIe 0.8 | time, x GeNIe 0.8 | same r* as exact | within one grid step | oracle reads target |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['mode']} | {r['passes_vs_genie_0.8']:.2f} | {r['seconds_vs_genie_0.8']:.2f} | {r['agreement']:.1%} | "
            f"{r['within_one_grid_step']:.1%} | {r['oracle_reads_target']:.1%} |"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
