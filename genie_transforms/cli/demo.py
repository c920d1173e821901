"""`genie demo`: the whole method, end to end, offline on the model that the package ships.

It runs the paper's few-shot protocol on the digits' novel classes (5-9, held out, unseen by the backbone) with
every augmentation method on the same budget, prints the results table and the paired differences between
methods, and writes into the output folder as it goes: `grid.png` (sources, their hard negatives over the r grid,
real examples of the target), `pca.png` (backbone features of the source class, the target class and the hard
negatives at each r), `records.jsonl` (the grid images' provenance), and `results.json` (updated after every
episode). With `--model`, `--dataset` and `--embedder`, the same runs on Stable Diffusion and a real dataset on a
GPU. `--world context` runs it on the context world instead: the digits drawn over five contexts (background
colour and texture), with its own model (`genie-tiny-context`) and backbone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .common import (
    BUNDLED_MODEL,
    UsageError,
    add_model_arguments,
    add_parser,
    add_source_arguments,
    positive_int,
    read_source,
)

R_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CONTEXT_MODEL = "genie-tiny-context"


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "demo", "GeNIe end to end: few-shot evaluation, grid and PCA pictures (offline)", __doc__)
    parser.add_argument(
        "--output", "--out", type=Path, default=Path("genie-output"), help="output folder (--out is an old spelling)"
    )
    add_model_arguments(parser, default_model=BUNDLED_MODEL, steps=20, batch_size=64)
    add_source_arguments(parser, required=False)  # without --dataset: the digits' held-out split
    parser.add_argument(
        "--world",
        choices=("digits", "context"),
        default="digits",
        help=f"the bundled world (without --dataset): the plain digits ({BUNDLED_MODEL}) or the digits over "
        f"contexts ({CONTEXT_MODEL}, with its own backbone)",
    )
    group = parser.add_argument_group("backbone")
    group.add_argument(
        "--embedder",
        default=BUNDLED_MODEL,
        help="the few-shot backbone: genie-tiny-digits or genie-tiny-context (bundled, digits only) or "
        "torchvision:ARCH",
    )
    group.add_argument(
        "--embedder-weights", type=Path, default=None, help="safetensors state dict for torchvision:ARCH"
    )
    group = parser.add_argument_group("few-shot protocol")
    group.add_argument("--episodes", type=positive_int, default=10, help="few-shot episodes (the paper: 600)")
    group.add_argument("--ways", type=positive_int, default=5, help="classes per episode (N-way)")
    group.add_argument("--shots", type=positive_int, default=1, help="real support images per class (K-shot)")
    group.add_argument("--queries", type=positive_int, default=16, help="query images per class")
    group.add_argument("--methods", nargs="+", default=None, help="subset of the methods (default: all)")
    group.add_argument("--pairs", type=int, default=4, help="(source, target) pairs shown in grid.png")
    group.add_argument("--seed", type=int, default=0, help="seed of the episodes and of every generated image")
    group.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def load_data(args: argparse.Namespace, gen):
    """(images, labels, prompt map, few-shot classes, flip) of the demo's dataset."""
    from PIL import Image

    from ..digits import context_digits_arrays, digits_arrays, digits_prompt_map

    if args.dataset is None:
        images, labels = (context_digits_arrays if args.world == "context" else digits_arrays)("heldout")[:2]
        return [Image.fromarray(x) for x in images], labels.tolist(), digits_prompt_map(), [5, 6, 7, 8, 9], False
    source = read_source(args, gen)  # the one way every command reads a source split
    ds = source.ds
    return [im.convert("RGB") for im in ds[args.image_column]], list(ds[args.label_column]), source.prompts, None, True


def write_pictures(gen, prompts, images, labels, classes, embedder, args, out: Path) -> None:
    """grid.png, records.jsonl and pca.png: what the hard negatives look like and where they lie."""
    import numpy as np

    from ..plots import image_grid, pca_plot

    rng = np.random.default_rng(args.seed)
    labels = np.asarray(labels)
    pool = sorted(set(labels.tolist()) if classes is None else classes)
    rows = []
    for _ in range(args.pairs):
        source, target = (int(c) for c in rng.choice(pool, 2, replace=False))
        rows.append((int(rng.choice(np.flatnonzero(labels == source))), target))
    show = not args.no_progress
    sweep = gen.sweep(
        [images[r] for r, _ in rows],
        [t for _, t in rows],
        R_GRID,
        seed=args.seed,
        prompts=prompts,
        source_ids=[f"row{r}" for r, _ in rows],
        progress=show and f"grid.png: {len(rows)} pairs over r (1/2)",
    )
    grid_rows, row_labels = [], []
    for k, (r, target) in enumerate(rows):
        examples = [images[j] for j in np.flatnonzero(labels == target)[:3]]
        grid_rows.append([images[r], *sweep.images[k], *examples])
        row_labels.append(f"{prompts.name(int(labels[r]))} -> {prompts.name(target)}")
    n = len(R_GRID)
    image_grid(
        grid_rows,
        col_labels=["source", *[f"r={r}" for r in R_GRID]],
        row_labels=row_labels,
        title=f"GeNIe hard negatives of {gen.model_id}: each source re-imagined as the target class over r",
        groups=[(1, n, "hard negatives (labelled with the target)"), (n + 1, n + 3, "real images of the target")],
        dividers=[1, n + 1],
    ).save(out / "grid.png")
    with open(out / "records.jsonl", "w") as f:
        for k, record in enumerate(record for row in sweep.records for record in row):
            source_row = rows[k // n][0]
            line = {
                "source_row": source_row,
                "source_label": int(labels[source_row]),
                "source_name": prompts.name(int(labels[source_row])),
                **record.to_dict(),
            }
            f.write(json.dumps(line) + "\n")
    # PCA: sources of one class turned towards one target class, over the r grid
    source, target = int(labels[rows[0][0]]), rows[0][1]
    source_rows = np.flatnonzero(labels == source)[:12]
    ratios = (0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
    pca_sweep = gen.sweep(
        [images[r] for r in source_rows],
        target,
        ratios,
        seed=args.seed,
        prompts=prompts,
        source_ids=[f"row{r}" for r in source_rows],
        progress=show and f"pca.png: {len(source_rows)} sources over r (2/2)",
    )
    feats = embedder(pca_sweep.flat()).reshape(len(source_rows), len(ratios), -1)
    real = {c: embedder([images[r] for r in np.flatnonzero(labels == c)[:40]]) for c in (source, target)}
    pca_plot(
        real[source],
        real[target],
        {r: feats[:, i] for i, r in enumerate(ratios)},
        str(out / "pca.png"),
        source_name=prompts.name(source),
        target_name=prompts.name(target),
    )


def summary_lines(results: dict) -> list[str]:
    """The results table and the paired differences, as printed (one episode has no interval: it says so)."""
    single = results["episodes"] < 2
    lines = ["| method | accuracy (95% interval) |", "| --- | --- |"]
    lines += [
        f"| {m} | {100 * row['mean']:.1f}"
        + (" (one episode: no interval) |" if single else f" +- {100 * row['ci95']:.1f} |")
        for m, row in results["methods"].items()
    ]
    if results["paired"] and not single:
        lines += [
            "",
            "Paired differences over the same episodes (points, 95% interval, paired t):",
            "",
            "| difference | mean | 95% interval | significant |",
            "| --- | --- | --- | --- |",
        ]
        for name, d in results["paired"].items():
            lines.append(
                f"| {name} | {100 * d['mean']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | "
                f"{'yes' if d['significant'] else 'no'} |"
            )
    return lines


def run(args: argparse.Namespace) -> int:
    from ..embedders import embedder_from_spec
    from ..evaluation.fewshot import METHODS, FewShotConfig, evaluate_few_shot
    from ..extras import require
    from .common import build_generator

    require("scikit-learn", "sklearn", "evaluation")
    require("matplotlib", "matplotlib", "evaluation")
    if args.pairs < 1:
        raise UsageError(f"--pairs must be >= 1, got {args.pairs}.")
    if args.world == "context":
        if args.dataset is not None:
            raise UsageError("--world context is the bundled context world and takes no --dataset; drop one of them.")
        args.model = CONTEXT_MODEL if args.model == BUNDLED_MODEL else args.model
        args.embedder = CONTEXT_MODEL if args.embedder == BUNDLED_MODEL else args.embedder
    bundled = CONTEXT_MODEL if args.world == "context" else BUNDLED_MODEL
    if args.dataset is None and (args.model != bundled or args.embedder != bundled):
        raise UsageError(
            f"--model and --embedder other than {bundled} need --dataset (the {args.world} world is for the "
            "bundled model only)."
        )
    started = time.time()
    gen = build_generator(args)
    images, labels, prompts, classes, flip = load_data(args, gen)
    embedder = embedder_from_spec(args.embedder, args.embedder_weights, args.device)
    config = FewShotConfig(
        n_way=args.ways,
        k_shot=args.shots,
        n_query=args.queries,
        n_episodes=args.episodes,
        flip=flip,
        crop_scale=(0.6, 1.0) if not flip else (0.2, 1.0),
        seed=args.seed,
        methods=tuple(args.methods or METHODS),
    )
    args.output.mkdir(parents=True, exist_ok=True)
    print(f"pictures of the hard negatives ({gen.model_id}, {gen.num_inference_steps} steps) -> {args.output}")
    write_pictures(gen, prompts, images, labels, classes, embedder, args, args.output)
    print(
        f"wrote {args.output / 'grid.png'}, pca.png and records.jsonl; now the few-shot evaluation "
        f"({args.ways}-way {args.shots}-shot, {args.episodes} episodes)"
    )
    extra = {
        "model_id": gen.model_id,
        "model_revision": gen.model_revision,
        "embedder": embedder.name,
        "dataset": args.dataset
        or (
            "context world heldout (classes 5-9)" if args.world == "context" else "sklearn-digits heldout (classes 5-9)"
        ),
    }

    def save(results: dict) -> None:
        (args.output / "results.json").write_text(
            json.dumps({**results, **extra, "seconds": round(time.time() - started, 1)}, indent=2)
        )

    results = evaluate_few_shot(
        images,
        labels,
        embedder,
        config,
        generator=gen,
        prompts=prompts,
        classes=classes,
        progress=not args.no_progress,
        on_episode=save,
    )
    save(results)
    print(
        f"{args.ways}-way {args.shots}-shot, {results['episodes']} episodes, {config.per_class} extra images per "
        f"class for every method (mean accuracy, 95% interval)"
    )
    print("\n".join(summary_lines(results)))
    print(f"wrote {args.output / 'results.json'} in {round(time.time() - started, 1)} s")
    return 0


__all__ = [
    "CONTEXT_MODEL",
    "R_GRID",
    "load_data",
    "register",
    "run",
    "summary_lines",
    "write_pictures",
]
