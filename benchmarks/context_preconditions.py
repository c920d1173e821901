"""The generation-level preconditions of the context-shift benchmark (P1-P3 of `benchmarks/context_protocol.md`),
measured before any accuracy, as curves over r. `benchmarks/context.py` measures them first with these functions.

    python benchmarks/context_preconditions.py [--model genie-tiny-context] [--pairs 500] [--steps 20] [--output FILE]

Pairs: `--pairs` (source, target) pairs of held-out context-world images of the novel classes 5-9, the target a
different novel class, drawn with seed 0. For each r of the grid, GeNIe's image of every pair (seed 0) is read by
the two oracles, which are not the evaluation's backbone: the digit oracle (`digits.context.read_digit`: the
digits' SVM on the image with its context stripped) and the context oracle (`digits.context.read_context`: the
nearest background, stroke-coloured pixels left out). First both oracles are checked on the held-out renders.

P1: at r = 0.8, at least 90% of the images read as their target digit. P2: at r = 0.8, at least 80% keep their
source's context. P3: at r = 1 (Txt2Img), every context is at least 10% of the images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from genie_transforms import GenieGenerator

GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
NOVEL = (5, 6, 7, 8, 9)


def measure(gen: GenieGenerator, pairs: int = 500, progress: bool = True) -> dict:
    """The oracles' accuracy on the held-out renders, the curves over `GRID` and P1-P3 (value, threshold, holds)."""
    from PIL import Image

    from genie_transforms.digits import CONTEXT_NAMES, context_digits_arrays, digits_oracle, digits_prompt_map
    from genie_transforms.digits.context import read_context, read_digit

    images, labels, contexts, _ = context_digits_arrays("heldout")
    oracle = digits_oracle()
    oracles = {
        "digit_oracle_accuracy": float(np.mean(read_digit(images, oracle) == labels)),
        "context_oracle_accuracy": float(np.mean(read_context(images) == contexts)),
    }
    print(
        f"oracles on {len(labels)} held-out renders: digit {oracles['digit_oracle_accuracy']:.1%}, "
        f"context {oracles['context_oracle_accuracy']:.1%}"
    )
    rng = np.random.default_rng(0)
    novel = np.flatnonzero(np.isin(labels, NOVEL))
    sources = rng.choice(novel, pairs)
    targets = np.array([rng.choice([c for c in NOVEL if c != labels[s]]) for s in sources])
    pictures = [Image.fromarray(images[s]) for s in sources]
    ids = [f"heldout{s}" for s in sources]
    curves = []
    for r in GRID:
        out = gen.generate(
            pictures,
            targets=targets.tolist(),
            noise_ratio=r,
            prompts=digits_prompt_map(),
            seed=0,
            source_ids=ids,
            progress=progress and f"preconditions: {pairs} pairs at r = {r}",
        )
        made = np.stack([np.asarray(im.convert("RGB")) for im in out.images])
        read, kept = read_digit(made, oracle), read_context(made)
        spread = np.bincount(kept, minlength=len(CONTEXT_NAMES)) / len(kept)
        curves.append(
            {
                "r": r,
                "reads_as_target": float(np.mean(read == targets)),
                "reads_as_source": float(np.mean(read == labels[sources])),
                "keeps_source_context": float(np.mean(kept == contexts[sources])),
                "context_spread": dict(zip(CONTEXT_NAMES, spread.round(4).tolist())),
            }
        )
        row = curves[-1]
        print(
            f"r = {r}: target {row['reads_as_target']:.1%}, source {row['reads_as_source']:.1%}, "
            f"context kept {row['keeps_source_context']:.1%}, contexts {spread.round(2).tolist()}"
        )
    at = {row["r"]: row for row in curves}
    shares = min(at[1.0]["context_spread"].values())
    checks = {
        "P1_target_at_0.8": (at[0.8]["reads_as_target"], 0.90),
        "P2_context_kept_at_0.8": (at[0.8]["keeps_source_context"], 0.80),
        "P3_txt2img_min_context_share": (shares, 0.10),
    }
    preconditions = {k: {"value": v, "threshold": t, "holds": bool(v >= t)} for k, (v, t) in checks.items()}
    for name, row in preconditions.items():
        print(f"{name}: {row['value']:.1%} (threshold {row['threshold']:.0%}): {'holds' if row['holds'] else 'FAILS'}")
    return {"pairs": pairs, "grid": list(GRID), "oracles": oracles, "curves": curves, "preconditions": preconditions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="genie-tiny-context", help="the context world's model (id or folder)")
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20, help="denoising schedule (20: the benchmark's)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/context_preconditions.json"))
    args = parser.parse_args()

    from genie_transforms import GenieGenerator

    started = time.perf_counter()
    gen = GenieGenerator.from_pretrained(args.model, num_inference_steps=args.steps, batch_size=64, progress=False)
    report = {"model": args.model, "steps": gen.num_inference_steps, **measure(gen, args.pairs)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
