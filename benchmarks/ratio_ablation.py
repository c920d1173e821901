"""Why GeNIe does or does not beat Txt2Img on the bundled model: the committed 5-way 1-shot protocol with GeNIe at
several noise ratios (r = 1 is Txt2Img), on the same episodes, with paired differences against Txt2Img.

    python benchmarks/ratio_ablation.py [--episodes 600] [--ratios 0.6 0.7 0.8 0.9] [--steps 20]

Writes benchmarks/results/ratio_ablation.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from genie_transforms import GenieGenerator, __version__
from genie_transforms.digits import digits_arrays, digits_prompt_map
from genie_transforms.embedders import digits_embedder
from genie_transforms.evaluation import FewShotConfig, evaluate_few_shot
from genie_transforms.evaluation.fewshot import GeneratedBank, paired_differences


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    started = time.time()
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=args.steps, batch_size=64)
    embedder, prompts = digits_embedder(), digits_prompt_map()
    held, labels, _ = digits_arrays("heldout")
    held = [Image.fromarray(x) for x in held]
    bank = GeneratedBank(held, embedder, prompts, seed=0)
    accuracies: dict[str, list[float]] = {}
    for r in args.ratios:
        methods = ("txt2img", "genie") if not accuracies else ("genie",)
        config = FewShotConfig(
            n_way=5,
            k_shot=1,
            n_query=16,
            n_episodes=args.episodes,
            flip=False,
            crop_scale=(0.6, 1.0),
            genie_ratio=r,
            methods=methods,
            seed=0,
        )
        results = evaluate_few_shot(
            held, labels.tolist(), embedder, config, generator=gen, prompts=prompts, classes=[5, 6, 7, 8, 9], bank=bank
        )
        if "txt2img" in results["methods"]:
            accuracies["txt2img"] = results["methods"]["txt2img"]["accuracies"]
        accuracies[f"genie r={r}"] = results["methods"]["genie"]["accuracies"]
    paired = paired_differences(accuracies, [(f"genie r={r}", "txt2img") for r in args.ratios])
    report = {
        "command": "python benchmarks/ratio_ablation.py " + " ".join(argv or []),
        "library_version": __version__,
        "episodes": args.episodes,
        "steps": args.steps,
        "seconds": round(time.time() - started, 1),
        "mean": {k: sum(v) / len(v) for k, v in accuracies.items()},
        "paired": paired,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ratio_ablation.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| GeNIe's r | accuracy | minus Txt2Img (95% interval) |", "| --- | --- | --- |"]
    for r in args.ratios:
        d = paired[f"genie r={r} - txt2img"]
        lines.append(
            f"| {r} | {100 * report['mean'][f'genie r={r}']:.1f} | {100 * d['mean']:+.2f} "
            f"[{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] |"
        )
    lines.append(f"| 1.0 (Txt2Img) | {100 * report['mean']['txt2img']:.1f} | 0 |")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
