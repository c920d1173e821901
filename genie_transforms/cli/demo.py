"""`genie demo`: the whole method, end to end, offline on the model that the package ships.

It runs the paper's few-shot protocol on the digits' novel classes (5-9, held out, unseen by the backbone) with
every augmentation method on the same budget, prints the results table, and writes into the output folder:
`results.json`, `grid.png` (sources, their hard negatives over the r grid, real examples of the target), `pca.png`
(backbone features of the source class, the target class and the hard negatives at each r) and `records.jsonl`
(the grid images' provenance). With `--model` and `--dataset` (and `--embedder`), the same runs on Stable Diffusion
and a real dataset on a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

R_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="GeNIe end to end: few-shot evaluation, grid and PCA pictures (offline)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("genie-output"), help="output folder (default: %(default)s)")
    parser.add_argument("--model", default="genie-tiny-digits", help="Hub id or folder (default: the bundled model)")
    parser.add_argument("--revision", default=None, help="Hub revision of --model")
    parser.add_argument("--dataset", default=None, help="Hub id or folder of an image-classification dataset "
                        "(default: the digits' held-out split)")  # fmt: skip
    parser.add_argument("--split", default="train")
    parser.add_argument("--image-column", default="image")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--embedder", default="genie-tiny-digits", help="genie-tiny-digits or torchvision:ARCH")
    parser.add_argument("--embedder-weights", type=Path, default=None)
    parser.add_argument("--episodes", type=int, default=10, help="few-shot episodes (default: 10; the paper: 600)")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--methods", nargs="+", default=None, help="subset of the methods (default: all)")
    parser.add_argument("--steps", type=int, default=20,
                        help="denoising steps of the full schedule (default: 20, the fast preset; the paper: 50)")
    parser.add_argument("--pairs", type=int, default=4, help="(source, target) pairs in the grid (default: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def load_data(args: argparse.Namespace):
    """(images, labels, prompt map, few-shot classes, flip) of the demo's dataset."""
    from ..digits import digits_arrays, digits_prompt_map

    if args.dataset is None:
        images, labels, _ = digits_arrays("heldout")
        return [Image.fromarray(x) for x in images], labels.tolist(), digits_prompt_map(), [5, 6, 7, 8, 9], False
    from ..datasets import check_dataset, prompt_map_for
    from ..jobs import load_source

    ds = load_source(args.dataset, args.split)
    check_dataset(ds, args.image_column, args.label_column)
    prompts = prompt_map_for(ds.features, args.label_column)
    return [im.convert("RGB") for im in ds[args.image_column]], list(ds[args.label_column]), prompts, None, True


def write_pictures(gen, prompts, images, labels, classes, embedder, args, out: Path) -> None:
    """grid.png, records.jsonl and pca.png: what the hard negatives look like and where they lie."""
    from ..plots import image_grid, pca_plot

    rng = np.random.default_rng(args.seed)
    labels = np.asarray(labels)
    pool = sorted(set(labels.tolist()) if classes is None else classes)
    rows, grid_rows, row_labels, records = [], [], [], []
    for _ in range(args.pairs):
        source, target = (int(c) for c in rng.choice(pool, 2, replace=False))
        rows.append((int(rng.choice(np.flatnonzero(labels == source))), target))
    sweep = gen.generate([images[r] for r, _ in rows for _ in R_GRID], [t for _, t in rows for _ in R_GRID],
                         list(R_GRID) * len(rows), seed=args.seed, prompts=prompts,
                         source_ids=[f"row{r}" for r, _ in rows for _ in R_GRID])  # fmt: skip
    for k, (r, target) in enumerate(rows):
        examples = [images[j] for j in np.flatnonzero(labels == target)[:3]]
        grid_rows.append([images[r], *sweep.images[k * len(R_GRID) : (k + 1) * len(R_GRID)], *examples])
        row_labels.append(f"{prompts.name(int(labels[r]))} -> {prompts.name(target)}")
    col_labels = ["source", *[f"r={r}" for r in R_GRID], "target", "examples", ""]
    image_grid(grid_rows, col_labels=col_labels, row_labels=row_labels).save(out / "grid.png")
    with open(out / "records.jsonl", "w") as f:
        for record in sweep.records:
            f.write(json.dumps(record.to_dict()) + "\n")
    # PCA: sources of one class turned towards one target class, over the r grid
    source, target = int(labels[rows[0][0]]), rows[0][1]
    source_rows = np.flatnonzero(labels == source)[:12]
    target_rows = np.flatnonzero(labels == target)[:40]
    ratios = (0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
    gen_pca = gen.generate([images[r] for r in source_rows for _ in ratios], target, list(ratios) * len(source_rows),
                           seed=args.seed, prompts=prompts, source_ids=[f"row{r}" for r in source_rows for _ in ratios])  # fmt: skip
    feats = embedder(list(gen_pca.images)).reshape(len(source_rows), len(ratios), -1)
    pca_plot(embedder([images[r] for r in np.flatnonzero(labels == source)[:40]]), embedder([images[r] for r in target_rows]),
             {r: feats[:, i] for i, r in enumerate(ratios)}, str(out / "pca.png"),
             source_name=prompts.name(source), target_name=prompts.name(target))  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..evaluation.fewshot import METHODS, FewShotConfig, evaluate_few_shot
    from ..generator import GenieGenerator
    from .ada import build_embedder

    if args.pairs < 1:
        raise ValueError(f"--pairs must be >= 1, got {args.pairs}.")
    started = time.time()
    images, labels, prompts, classes, flip = load_data(args)
    gen = GenieGenerator.from_pretrained(args.model, revision=args.revision, device=args.device,
                                         num_inference_steps=args.steps, batch_size=64, progress=False)  # fmt: skip
    embedder = build_embedder(args.embedder, args.embedder_weights, args.device)
    config = FewShotConfig(n_way=args.ways, k_shot=args.shots, n_query=args.queries, n_episodes=args.episodes,
                           flip=flip, crop_scale=(0.6, 1.0) if not flip else (0.2, 1.0), seed=args.seed,
                           methods=tuple(args.methods or METHODS))  # fmt: skip
    results = evaluate_few_shot(images, labels, embedder, config, generator=gen, prompts=prompts, classes=classes,
                                progress=not args.no_progress)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_pictures(gen, prompts, images, labels, classes, embedder, args, args.out)
    results.update({"model_id": gen.model_id, "model_revision": gen.model_revision, "embedder": embedder.name,
                    "dataset": args.dataset or "sklearn-digits heldout (classes 5-9)",
                    "seconds": round(time.time() - started, 1)})  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{args.ways}-way {args.shots}-shot, {results['episodes']} episodes, {config.per_class} extra images per "
          f"class for every method (mean accuracy, 95% interval)")  # fmt: skip
    print("| method | accuracy |\n| --- | --- |")
    for method, row in results["methods"].items():
        print(f"| {method} | {100 * row['mean']:.1f} +- {100 * row['ci95']:.1f} |")
    print(f"wrote {args.out / 'results.json'}, grid.png, pca.png and records.jsonl in {results['seconds']} s")
    return 0
