"""The committed evaluation: the paper's protocols on the bundled digits model, every method on the same budget.

    python benchmarks/evaluate.py [--episodes 600] [--steps 20] [--seeds 0 1 2] [--out benchmarks/results]

- Few-shot: 5-way 1-shot and 5-shot, 16 queries per class, on the held-out digits' novel classes 5-9 (the
  backbone was trained on 0-4 only), a linear probe on the frozen backbone's features (the paper's protocol, docs/guides/method.md).
  Every method adds K(N-1) images per class. Paired differences over the same episodes (paired t, 95%).
- Long-tail: a long-tailed subset of the train split (imbalance 10), the classes topped up to the head's count
  by each method, accuracy on the held-out split overall and on the few-shot classes, for each seed; the
  difference between methods is paired over seeds.

Writes OUT/evaluation.json (updated as it goes) and OUT/evaluation.md (the tables the README shows).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genie_transforms import GenieGenerator, __version__
from genie_transforms.digits import digits_arrays, digits_prompt_map
from genie_transforms.embedders import digits_embedder
from genie_transforms.evaluation import FewShotConfig, evaluate_few_shot, evaluate_long_tail
from genie_transforms.evaluation.fewshot import GeneratedBank, paired_differences

FEW_SHOT_PAIRS = (
    ("genie", "txt2img"),
    ("genie", "img2img_0.7"),
    ("genie", "img2img_0.3"),
    ("genie", "none"),
    ("genie_ada", "genie"),
    ("genie_ada", "txt2img"),
    ("genie_filtered", "genie"),
)
LONG_TAIL_PAIRS = (("genie", "txt2img"), ("genie", "none"), ("genie_filtered", "genie"))


def few_shot_table(results: dict) -> list[str]:
    lines = ["| method | accuracy (95% interval) |", "| --- | --- |"]
    lines += [f"| {m} | {100 * r['mean']:.1f} ± {100 * r['ci95']:.1f} |" for m, r in results["methods"].items()]
    lines += ["", "| paired difference | points | 95% interval | significant |", "| --- | --- | --- | --- |"]
    for name, d in results["paired"].items():
        lines.append(
            f"| {name} | {100 * d['mean']:+.2f} | [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] | "
            f"{'yes' if d['significant'] else 'no'} |"
        )
    return lines


def long_tail_table(runs: list[dict]) -> list[str]:
    methods = list(runs[0]["methods"])
    lines = ["| method | overall | few-shot classes | extra images |", "| --- | --- | --- | --- |"]
    for m in methods:
        overall = [100 * r["methods"][m]["overall"] for r in runs]
        few = [100 * r["methods"][m]["few"] for r in runs]
        lines.append(
            f"| {m} | {np.mean(overall):.1f} ({', '.join(f'{v:.1f}' for v in overall)}) | "
            f"{np.mean(few):.1f} ({', '.join(f'{v:.1f}' for v in few)}) | "
            f"{runs[0]['methods'][m]['extra_images']} |"
        )
    for key, label in (("overall", "overall"), ("few", "few-shot classes")):
        paired = paired_differences({m: [r["methods"][m][key] for r in runs] for m in methods}, LONG_TAIL_PAIRS)
        lines += [
            "",
            f"| paired difference over seeds, {label} | points | 95% interval | significant |",
            "| --- | --- | --- | --- |",
        ]
        for name, d in paired.items():
            lines.append(
                f"| {name} | {100 * d['mean']:+.2f} | [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] | "
                f"{'yes' if d['significant'] else 'no'} |"
            )
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--steps", type=int, default=20, help="denoising schedule (20: preset='fast')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="long-tail seeds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    gen = GenieGenerator.from_pretrained(
        "genie-tiny-digits", num_inference_steps=args.steps, batch_size=64, progress=False
    )
    embedder, prompts = digits_embedder(), digits_prompt_map()
    held, held_labels, _ = digits_arrays("heldout")
    held = [Image.fromarray(x) for x in held]
    report: dict = {
        "command": "python benchmarks/evaluate.py " + " ".join(argv or []),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        "library_version": __version__,
        "model_id": gen.model_id,
        "model_revision": gen.model_revision,
        "steps": args.steps,
        "few_shot": {},
        "long_tail": [],
    }

    def save() -> None:
        report["seconds"] = round(time.time() - started, 1)
        (args.out / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")

    bank = GeneratedBank(held, embedder, prompts, seed=0)
    for shots in args.shots:
        config = FewShotConfig(
            n_way=5, k_shot=shots, n_query=16, n_episodes=args.episodes, flip=False, crop_scale=(0.6, 1.0), seed=0
        )
        key = f"5-way {shots}-shot"

        def progress(results: dict, key: str = key) -> None:
            report["few_shot"][key] = results
            save()

        results = evaluate_few_shot(
            held,
            held_labels.tolist(),
            embedder,
            config,
            generator=gen,
            prompts=prompts,
            classes=[5, 6, 7, 8, 9],
            on_episode=progress,
            bank=bank,
        )
        results["paired"] = paired_differences(
            {m: r["accuracies"] for m, r in results["methods"].items()}, FEW_SHOT_PAIRS
        )
        progress(results)
        report["few_shot_seconds_after_" + key] = round(time.time() - started, 1)
    train, train_labels, _ = digits_arrays("train")
    train = [Image.fromarray(x) for x in train]
    for seed in args.seeds:
        run = evaluate_long_tail(
            train,
            train_labels.tolist(),
            held,
            held_labels.tolist(),
            embedder,
            generator=gen,
            prompts=prompts,
            imbalance=10.0,
            seed=seed,
        )
        report["long_tail"].append({"seed": seed, **run})
        save()
    save()
    lines = [
        f"Measured with `{report['command'].strip()}` (genie-transforms {__version__}, {args.steps} steps, "
        f"{report['machine']}; {report['seconds'] / 60:.0f} minutes).",
        "",
    ]
    for key, results in report["few_shot"].items():
        lines += [
            f"**{key}**, {results['episodes']} episodes, {results['config']['k_shot'] * 4} extra images per "
            f"class (filter kept {100 * results['filter_kept']:.0f}% of GeNIe's images):",
            "",
        ]
        lines += [*few_shot_table(results), ""]
    if report["long_tail"]:
        lines += [f"**Long-tail** (imbalance 10, seeds {args.seeds}; mean, then each seed):", ""]
        lines += [*long_tail_table(report["long_tail"]), ""]
    (args.out / "evaluation.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
